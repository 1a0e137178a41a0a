"""The packet layout of packets.yaml, and the writer of packets (ccsdspy reads them, see decode.py).

packets.yaml is the one description of the format: the ccsdspy decoders and the
numpy record layouts used here to write are both built from it, so the writer
and the reader cannot drift apart.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any

import numpy as np

PRIMARY_HEADER_BYTES = 6
SEQUENCE_MODULO = 1 << 14  # the 14-bit CCSDS sequence count wraps here
MAX_DATA_FIELD = 1 << 16  # the 16-bit length field: data field of 1..65536 bytes

# CCSDS sequence flags
CONTINUATION, FIRST, LAST, UNSEGMENTED = 0, 1, 2, 3


@dataclass(frozen=True)
class Field:
    """One field of a packet after the primary header."""

    name: str
    type: str  # uint, float or str (ccsdspy data types)
    bits: int
    array: int | str | None = None  # element count, "expand" (fills the packet) or None (scalar)
    description: str = ""

    @property
    def numpy_type(self) -> str:
        """Big-endian numpy type of one element, for writing."""
        nbytes = self.bits // 8
        return {"uint": f">u{nbytes}", "float": f">f{nbytes}", "str": f"S{nbytes}"}[self.type]


@dataclass(frozen=True)
class PacketType:
    name: str
    apid: int
    fields: tuple[Field, ...]
    description: str = ""

    @property
    def fixed(self) -> tuple[Field, ...]:
        """Fields before the variable data (and the CRC): written from one numpy record."""
        return tuple(f for f in self.fields if f.array != "expand" and f.name != "CRC")

    @property
    def has_data(self) -> bool:
        return any(f.array == "expand" for f in self.fields)

    @functools.cached_property
    def record_dtype(self) -> np.dtype:
        return np.dtype([(f.name, f.numpy_type, (f.array,)) if isinstance(f.array, int)
                         else (f.name, f.numpy_type) for f in self.fixed])

    @property
    def min_bytes(self) -> int:
        """Length of a packet of this type with no data bytes (the exact length if it has no data)."""
        return PRIMARY_HEADER_BYTES + self.record_dtype.itemsize + 2


@dataclass(frozen=True)
class Layout:
    """Everything packets.yaml says, in a form the code uses."""

    version: int
    epoch: datetime
    ticks_per_second: int
    packets: dict[str, PacketType]
    sha256: str

    def by_apid(self, apid: int) -> PacketType | None:
        return next((p for p in self.packets.values() if p.apid == apid), None)

    def tag_widths(self) -> tuple[int, int, int]:
        """Bytes of the PROGRAM, VISIT and EXPOSURE fields."""
        fields = {f.name: f.bits // 8 for f in self.packets["science"].fields}
        return fields["PROGRAM"], fields["VISIT"], fields["EXPOSURE"]


@functools.cache
def layout() -> Layout:
    """The packet definitions shipped in packets.yaml (parsed once)."""
    import yaml

    try:
        text = (files("calpipe.level0") / "packets.yaml").read_bytes()
    except FileNotFoundError as exc:
        from calpipe.core.errors import RegistryError

        raise RegistryError("calpipe/level0/packets.yaml is missing from this installation (it must be "
                            "shipped as package data); reinstall calpipe") from exc
    doc = yaml.safe_load(text)
    groups = {name: tuple(Field(**spec) for spec in specs) for name, specs in doc["field_groups"].items()}
    packets = {
        name: PacketType(name, int(spec["apid"]),
                         tuple(f for group in spec["fields"] for f in groups[group]),
                         " ".join(spec.get("description", "").split()))
        for name, spec in doc["packets"].items()
    }
    return Layout(int(doc["version"]), datetime.fromisoformat(doc["time"]["epoch"]),
                  int(doc["time"]["subseconds_per_second"]), packets, hashlib.sha256(text).hexdigest())


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): binascii's C implementation of it."""
    return binascii.crc_hqx(data, 0xFFFF)


def encode(kind: str, seq_flag: int, seq_count: int, values: dict[str, Any], data: bytes = b"") -> bytes:
    """One packet of type ``kind`` (a packets.yaml name): primary header, fields, data, CRC."""
    ptype = layout().packets[kind]
    record = np.zeros((), ptype.record_dtype)
    unknown = set(values) - set(ptype.record_dtype.names)
    if unknown:
        raise ValueError(f"{kind} packets have no field {', '.join(sorted(unknown))}")
    for name in ptype.record_dtype.names:
        if name in values:  # the others stay zero (NUL for text)
            record[name] = values[name]
    if data and not ptype.has_data:
        raise ValueError(f"{kind} packets carry no data")
    body = record.tobytes() + bytes(data)
    length = len(body) + 2  # packet data field: everything after the primary header, CRC included
    if length > MAX_DATA_FIELD:
        raise ValueError(f"packet data field of {length} bytes exceeds the CCSDS limit of {MAX_DATA_FIELD}")
    # version 0, type 0 (telemetry), secondary header present
    word0 = (1 << 11) | ptype.apid
    word1 = (seq_flag << 14) | (seq_count % SEQUENCE_MODULO)
    header = np.array([word0, word1, length - 1], ">u2").tobytes()
    packet = header + body
    return packet + crc16(packet).to_bytes(2, "big")


def segment_overhead() -> int:
    """Bytes of a science or header packet besides its data."""
    return layout().packets["science"].min_bytes


# -- time: (TIME_S, TIME_SUB) as one integer count of ticks since the epoch ----------------------
def to_ticks(when: datetime) -> int:
    lay = layout()
    delta = when - lay.epoch
    return (delta.days * 86400 + delta.seconds) * lay.ticks_per_second + round(
        delta.microseconds * lay.ticks_per_second / 1_000_000)


def split_ticks(ticks: int) -> dict[str, int]:
    per = layout().ticks_per_second
    return {"TIME_S": ticks // per, "TIME_SUB": ticks % per}


def ticks_to_iso(ticks: int) -> str:
    """UTC ISO 8601 to the nearest millisecond, the precision of DATE-OBS."""
    lay = layout()
    return (lay.epoch + timedelta(milliseconds=round(ticks * 1000 / lay.ticks_per_second))).isoformat(
        timespec="milliseconds")
