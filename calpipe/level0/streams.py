"""One exposure's stream (its array, or its header text) put back together from its segments.

Segments are placed by their byte offset, which every packet carries, so that
any order of files and packets gives the same bytes. The sequence counts must
then run on by one (modulo 2^14) from segment to segment: a hole in the bytes
is named by the sequence counts that would have filled it. The same segment
received twice with the same content is a duplicate, dropped once and
reported; with other content it is a conflict the telemetry cannot resolve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from calpipe.core.errors import InputDataError

from .decode import Packet
from .packets import CONTINUATION, FIRST, LAST, SEQUENCE_MODULO, UNSEGMENTED


@dataclass(frozen=True)
class Gap:
    """Bytes [start, stop) of the stream never arrived: the packets with these sequence counts."""

    seq_counts: tuple[int, ...]
    start: int
    stop: int


@dataclass(frozen=True)
class Duplicate:
    kept: Packet
    dropped: Packet


@dataclass
class Stream:
    kind: str
    apid: int
    total: int
    dtype: str
    shape: tuple[int, ...]
    data: bytearray
    used: list[Packet] = field(default_factory=list)  # in stream order
    gaps: list[Gap] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.gaps

    def array(self) -> np.ndarray:
        """The stream as an array of its native-endian type (missing bytes are 0)."""
        big = np.frombuffer(bytes(self.data), np.dtype(self.dtype)).reshape(self.shape)
        return big.astype(big.dtype.newbyteorder("="))

    def missing(self) -> np.ndarray:
        """True for every array element that lost at least one byte."""
        itemsize = np.dtype(self.dtype).itemsize
        flat = np.zeros(math.prod(self.shape), bool)
        for gap in self.gaps:
            flat[gap.start // itemsize: -(-gap.stop // itemsize)] = True
        return flat.reshape(self.shape)


def _expected_flag(packet: Packet) -> int:
    first, last = packet.offset == 0, packet.offset + len(packet.data) == packet.total
    return UNSEGMENTED if first and last else FIRST if first else LAST if last else CONTINUATION


def reassemble(packets: list[Packet], label: str) -> Stream:
    """The stream of ``packets`` (one kind, one exposure); ``label`` names it in errors."""
    if not packets:
        raise ValueError("no packets")
    packets = sorted(packets, key=lambda p: (p.offset, p.file, p.position))
    first = packets[0]
    for p in packets:
        if (p.total, p.dtype, p.shape, p.apid) != (first.total, first.dtype, first.shape, first.apid):
            raise _conflict(label, first, p, f"total {p.total} B, dtype {p.dtype}, shape {p.shape} where "
                                             f"the other says {first.total} B, {first.dtype}, {first.shape}")
    if np.dtype(first.dtype).itemsize * math.prod(first.shape) != first.total:
        raise InputDataError(f"{label}: {first.file} byte {first.position}: shape {first.shape} of "
                             f"{first.dtype} does not make {first.total} bytes (a writer bug?)")

    # 14-bit sequence counts: one stream spans at most SEQUENCE_MODULO packets, so a TOTAL field
    # (CRC-valid or not) cannot honestly claim more; checked before the buffer is allocated
    most = max(len(p.data) for p in packets) * SEQUENCE_MODULO
    if first.total > most:
        raise InputDataError(f"{label}: {first.file} byte {first.position}: TOTAL = {first.total} bytes, "
                             f"more than the {most} that {SEQUENCE_MODULO} packets of this size can carry "
                             "(a corrupted length field)")
    stream = Stream(first.kind, first.apid, first.total, first.dtype, first.shape, bytearray(first.total))
    unique: list[Packet] = []
    for p in packets:
        if unique and unique[-1].offset == p.offset:
            if unique[-1].data != p.data:
                raise _conflict(label, unique[-1], p, "same segment, other content")
            stream.duplicates.append(Duplicate(unique[-1], p))
            continue
        unique.append(p)

    ends = [p for p in unique if p.offset + len(p.data) < p.total]
    segment = max(len(p.data) for p in (ends or unique))  # every segment but the last has this size
    position, previous = 0, None
    for p in unique:
        if p.seq_flag != _expected_flag(p):
            raise InputDataError(f"{label}: {p.file} byte {p.position}: sequence flag {p.seq_flag} does not "
                                 f"fit a segment at byte {p.offset} of {p.total} (a writer bug?)")
        if p.offset < position:
            raise _conflict(label, previous, p, "overlapping segments")
        if previous is None:
            count = math.ceil(p.offset / segment)
            seqs = [(p.seq_count - count + i) % SEQUENCE_MODULO for i in range(count)]
        else:
            count = (p.seq_count - previous.seq_count - 1) % SEQUENCE_MODULO
            seqs = [(previous.seq_count + 1 + i) % SEQUENCE_MODULO for i in range(count)]
        if (p.offset > position) != (count > 0):
            raise _conflict(label, previous or p, p, f"sequence counts jump by {count + 1} where "
                                                     f"{p.offset - position} bytes are missing")
        if count:
            stream.gaps.append(Gap(tuple(seqs), position, p.offset))
        stream.data[p.offset:p.offset + len(p.data)] = p.data
        stream.used.append(p)
        position, previous = p.offset + len(p.data), p
    if position < stream.total:
        count = math.ceil((stream.total - position) / segment)
        stream.gaps.append(Gap(tuple((previous.seq_count + 1 + i) % SEQUENCE_MODULO for i in range(count)),
                               position, stream.total))
    return stream


def _conflict(label: str, a: Packet, b: Packet, what: str) -> InputDataError:
    return InputDataError(
        f"{label}: APID {b.apid} packets at {a.file} byte {a.position} (sequence count {a.seq_count}) and "
        f"{b.file} byte {b.position} (sequence count {b.seq_count}) disagree ({what}), though both pass "
        "their CRC: the telemetry is inconsistent; re-deliver it")


def runs(values: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs (modulo 2^14) of sequence counts in the given order: [(first, last), ...]."""
    out: list[tuple[int, int]] = []
    for v in values:
        if out and (out[-1][1] + 1) % SEQUENCE_MODULO == v:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def format_runs(values: list[int] | tuple[int, ...]) -> str:
    """14-15, 20 (modulo-aware: 16383-0 is a run)."""
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs(list(values)))
