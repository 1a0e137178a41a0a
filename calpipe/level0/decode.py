"""Reading telemetry files with ccsdspy: packets with their file and byte position, bad ones set apart.

ccsdspy frames the file into packets and decodes every field, the primary header
included, from definitions built out of packets.yaml; nothing here parses bits.
A packet is rejected (and reported, never silently dropped) when its CRC does
not match, its APID is unknown or its length does not fit its APID. A file that
cannot be framed at all (truncated, or not CCSDS) is unreadable input.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calpipe.core.errors import InputDataError
from calpipe.core.limits import read_bytes

from .packets import PRIMARY_HEADER_BYTES, PacketType, crc16, layout
from .tags import Tag

MAX_TELEMETRY_BYTES = 4 << 30  # one file is read whole: a bound on its size, not on a field's claim

_FIX = "re-deliver the file, or leave it out"


@dataclass(frozen=True)
class Packet:
    """One accepted packet: where it was, its headers, and its content."""

    file: str
    position: int  # byte offset of the packet in its file
    kind: str  # packets.yaml name: science, header or housekeeping
    apid: int
    seq_flag: int
    seq_count: int
    ticks: int  # TIME_S x 65536 + TIME_SUB
    tag: Tag | None  # None on untagged (housekeeping) packets
    size: int  # bytes of the whole packet
    digest: bytes  # of the whole packet: tells a duplicate from a conflicting packet
    offset: int = 0  # segment: byte offset in its stream
    total: int = 0  # segment: bytes in the whole stream
    dtype: str = ""
    shape: tuple[int, ...] = ()
    data: bytes = b""
    values: dict[str, float] = field(default_factory=dict)  # housekeeping fields


@dataclass(frozen=True)
class Rejected:
    """A packet set aside, with what it claimed to be (which cannot be trusted)."""

    file: str
    position: int
    apid: int
    seq_count: int
    reason: str

    def __str__(self) -> str:
        return (f"rejected packet at {self.file} byte {self.position} (APID {self.apid}, sequence count "
                f"{self.seq_count} as read): {self.reason}")


@dataclass
class TelemetryFile:
    path: Path
    sha256: str
    packets: list[Packet]
    rejected: list[Rejected]


class _ErrorsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ccsdspy 1.x warns (warnings) where 2.x logs: the same findings, reported here with positions."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"ccsdspy(\.|$)")
        yield


def load_ccsdspy():
    """Import ccsdspy without its start-up banner, and keep only its errors.

    Its warnings (sequence gaps, several APIDs in one stream, short files)
    describe what extraction detects and reports itself, with files and
    positions; printed twice they would only confuse.
    """
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        import ccsdspy
    finally:
        logging.disable(previous)
    logger = logging.getLogger("ccsdspy")
    if not any(isinstance(f, _ErrorsOnly) for f in logger.filters):
        logger.addFilter(_ErrorsOnly())
    return ccsdspy


@functools.cache
def definition(kind: str) -> Any:
    """The ccsdspy packet definition of one packets.yaml type."""
    ccsdspy = load_ccsdspy()
    ptype: PacketType = layout().packets[kind]
    fields = []
    for f in ptype.fields:  # descriptions stay in packets.yaml: ccsdspy < 2 takes none
        if f.array is None:
            fields.append(ccsdspy.PacketField(name=f.name, data_type=f.type, bit_length=f.bits))
        else:
            shape = f.array if f.array == "expand" else (int(f.array),)
            fields.append(ccsdspy.PacketArray(name=f.name, data_type=f.type, bit_length=f.bits,
                                              array_shape=shape))
    cls = ccsdspy.VariableLength if ptype.has_data else ccsdspy.FixedLength
    return cls(fields)


def _frame(path: Path, content: bytes) -> list[bytes]:
    """The file cut into packets by ccsdspy; refuses a file whose packets do not tile it exactly."""
    utils = load_ccsdspy().utils
    if not content:
        raise InputDataError(f"{path}: empty telemetry file; {_FIX}")
    with _quiet():
        packets = utils.split_packet_bytes(io.BytesIO(content))
    position = 0
    for pkt in packets:
        header = pkt[:PRIMARY_HEADER_BYTES]
        if len(header) < PRIMARY_HEADER_BYTES or len(pkt) != utils.get_packet_total_bytes(header):
            break
        position += len(pkt)
    if position != len(content):
        raise InputDataError(
            f"{path}: not readable as CCSDS packets: the packet at byte {position} runs past the end of "
            f"the file ({len(content)} bytes): truncated, or not telemetry; {_FIX}")
    return packets


def read_telemetry(path: Path) -> TelemetryFile:
    """Every packet of one file, decoded by ccsdspy, with bad ones set aside."""
    import hashlib

    import numpy as np

    path = Path(path)
    try:
        content = read_bytes(path, MAX_TELEMETRY_BYTES, InputDataError, "telemetry file")
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read telemetry ({exc.strerror or exc})") from exc
    raw = _frame(path, content)
    with _quiet():
        primary = load_ccsdspy().utils.read_primary_headers(io.BytesIO(content))
    positions = np.concatenate([[0], np.cumsum([len(p) for p in raw])[:-1]]).astype(int).tolist()
    lay = layout()
    name = path.name
    rejected: list[Rejected] = []
    by_kind: dict[str, list[int]] = {}
    for i, pkt in enumerate(raw):
        apid, seq = int(primary["CCSDS_APID"][i]), int(primary["CCSDS_SEQUENCE_COUNT"][i])
        ptype = lay.by_apid(apid)
        if ptype is None:
            rejected.append(Rejected(name, positions[i], apid, seq, "unknown APID (corrupted header?)"))
        elif len(pkt) < ptype.min_bytes or (not ptype.has_data and len(pkt) != ptype.min_bytes):
            rejected.append(Rejected(name, positions[i], apid, seq,
                                     f"{len(pkt)} bytes do not fit a {ptype.name} packet"))
        else:
            by_kind.setdefault(ptype.name, []).append(i)

    packets: list[Packet] = []
    for kind, indices in by_kind.items():
        with _quiet():
            fields = definition(kind).load(io.BytesIO(b"".join(raw[i] for i in indices)),
                                           include_primary_header=True)
        for j, i in enumerate(indices):
            pkt = raw[i]
            value = {k: v[j] for k, v in fields.items()}
            seq = int(value["CCSDS_SEQUENCE_COUNT"])
            expected = crc16(pkt[:-2])
            if int(value["CRC"]) != expected:
                rejected.append(Rejected(name, positions[i], int(value["CCSDS_APID"]), seq,
                                         f"CRC 0x{int(value['CRC']):04X} != 0x{expected:04X} (corrupted)"))
                continue
            if int(value["CCSDS_VERSION_NUMBER"]) != 0 or int(value["CCSDS_SECONDARY_FLAG"]) != 1:
                rejected.append(Rejected(name, positions[i], int(value["CCSDS_APID"]), seq,
                                         "not a version-0 packet with a secondary header"))
                continue
            packets.append(_packet(kind, name, positions[i], pkt, value))
    packets.sort(key=lambda p: p.position)
    rejected.sort(key=lambda r: r.position)
    return TelemetryFile(path, hashlib.sha256(content).hexdigest(), packets, rejected)


def _text(value: Any) -> str:
    return bytes(value).rstrip(b"\0").decode("ascii", errors="replace")


def _packet(kind: str, file: str, position: int, pkt: bytes, value: dict[str, Any]) -> Packet:
    import hashlib

    ticks = int(value["TIME_S"]) * layout().ticks_per_second + int(value["TIME_SUB"])
    tag_parts = (_text(value["PROGRAM"]), _text(value["VISIT"]), _text(value["EXPOSURE"]))
    common = dict(file=file, position=position, kind=kind, apid=int(value["CCSDS_APID"]),
                  seq_flag=int(value["CCSDS_SEQUENCE_FLAG"]), seq_count=int(value["CCSDS_SEQUENCE_COUNT"]),
                  ticks=ticks, tag=Tag(*tag_parts) if all(tag_parts) else None, size=len(pkt),
                  digest=hashlib.blake2b(pkt, digest_size=16).digest())
    if "DATA" not in value:
        names = [f.name for f in layout().packets[kind].fixed if f.type == "float"]
        return Packet(**common, values={n: float(value[n]) for n in names})
    ndim = int(value["NDIM"])
    return Packet(**common, offset=int(value["OFFSET"]), total=int(value["TOTAL"]),
                  dtype=_text(value["DTYPE"]), shape=tuple(int(n) for n in value["SHAPE"][:ndim]),
                  data=value["DATA"].tobytes())
