"""Hostile files made from valid ones: FITS header edits, truncations, bit flips, hostile YAML.

Everything here works on bytes, so a mutation is exactly reproducible and the
valid original stays untouched.
"""

from __future__ import annotations

import re
from pathlib import Path

BLOCK = 2880
CARD = 80


def header_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte offsets of each HDU's header, end just after its END card's block."""
    spans, pos = [], 0
    while pos + BLOCK <= len(data):
        start = pos
        end_card = None
        while pos + BLOCK <= len(data) and end_card is None:
            block = data[pos:pos + BLOCK]
            for i in range(0, BLOCK, CARD):
                if block[i:i + 8] == b"END     ":
                    end_card = pos + i
                    break
            pos += BLOCK
        if end_card is None:
            break
        spans.append((start, pos))
        pos += _data_size(data[start:pos])
    return spans


def _card_value(header: bytes, key: str) -> int:
    m = re.search(rb"(?:^|(?<=.{80}))" + re.escape(key.encode().ljust(8)) + rb"= *(-?\d+)", header, re.S)
    return int(m.group(1)) if m else 0


def _data_size(header: bytes) -> int:
    cards = {header[i:i + 8].strip().decode("ascii", "replace"): header[i + 10:i + 80]
             for i in range(0, len(header), CARD)}

    def num(key: str) -> int:
        text = cards.get(key, b"0").split(b"/")[0].strip()
        return int(text) if text.lstrip(b"-").isdigit() else 0

    naxis = num("NAXIS")
    if naxis == 0:
        return 0
    size = abs(num("BITPIX")) // 8
    for i in range(1, naxis + 1):
        size *= num(f"NAXIS{i}")
    size = (size + num("PCOUNT")) * max(1, num("GCOUNT"))
    return -(-size // BLOCK) * BLOCK


def set_card(data: bytes, hdu: int, key: str, value: str | None) -> bytes:
    """``key = value`` in header ``hdu`` (replaced in place, added before END, or removed if None)."""
    start, end = header_spans(data)[hdu]
    header = bytearray(data[start:end])
    card = f"{key:<8}= {value:>20}".ljust(CARD).encode() if value is not None else None
    for i in range(0, len(header), CARD):
        name = header[i:i + 8].decode("ascii", "replace").rstrip()
        if name == key:
            if card is None:  # drop the card, keeping the header's length
                del header[i:i + CARD]
                end_at = header.index(b"END     ")
                header[end_at + CARD:end_at + CARD] = b" " * CARD
            else:
                header[i:i + CARD] = card
            return data[:start] + bytes(header) + data[end:]
        if name == "END":
            if card is None:
                return data
            if header[-CARD:] != b" " * CARD:  # no room: add a block
                header += b" " * BLOCK
            header[i:i + CARD] = card
            header[i + CARD:i + 2 * CARD] = b"END".ljust(CARD)
            return data[:start] + bytes(header) + data[end:]
    raise ValueError("no END card")


def flip_bit(data: bytes, offset: int, bit: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 1 << bit
    return bytes(out)


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """A small YAML document whose aliases expand to width**levels nodes."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def import_chain(directory: Path, depth: int, leaf: str) -> Path:
    """``depth`` pipeline files, each importing the next; the last imports ``leaf``."""
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(depth):
        target = f"p{i + 1}.yaml" if i + 1 < depth else leaf
        (directory / f"p{i}.yaml").write_text(
            f"name: p{i}\nversion: 1.0.0\ninput: 2\noutput: 2\nimports:\n  - pipeline: {target}\n")
    return directory / "p0.yaml"


def packets(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each CCSDS packet: 6-byte primary header, length field = data bytes - 1."""
    spans, pos = [], 0
    while pos + 6 <= len(data):
        end = pos + 6 + int.from_bytes(data[pos + 4:pos + 6], "big") + 1
        spans.append((pos, end))
        pos = end
    return spans


def lie_about_length(data: bytes, total: int, shape: tuple[int, ...]) -> bytes:
    """Every science packet claims a stream of ``total`` bytes and ``shape``, with its CRC made valid."""
    import numpy as np

    from calpipe.level0.packets import PRIMARY_HEADER_BYTES, crc16, layout

    science = layout().packets["science"]
    fields = science.record_dtype.fields
    out = bytearray(data)
    for start, end in packets(data):
        if int.from_bytes(data[start:start + 2], "big") & 0x7FF != science.apid:
            continue
        base = start + PRIMARY_HEADER_BYTES
        for name, value in (("TOTAL", np.array(total, ">u8")), ("NDIM", np.array(len(shape), ">u1")),
                            ("SHAPE", np.array([*shape, 0, 0, 0, 0][:4], ">u4"))):
            offset = base + fields[name][1]
            raw = value.tobytes()
            out[offset:offset + len(raw)] = raw
        out[end - 2:end] = crc16(bytes(out[start:end - 2])).to_bytes(2, "big")
    return bytes(out)
