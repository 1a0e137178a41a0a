"""The HDU structure of a FITS file, checked with plain reads before astropy touches it.

astropy trusts the header: a negative NAXIS1 makes it read data as the next
header (or loop), NAXIS = 3 without NAXIS3 raises KeyError deep inside, and a
header declaring a 148 GiB array allocates before noticing the file is 200 kB.
This walk reads only header blocks, checks every structural keyword, and
proves that each HDU's declared data fits in the bytes that follow, so what
astropy then allocates is bounded by the file's size.
"""

from __future__ import annotations

from pathlib import Path

from .limits import require_regular


class StructureError(ValueError):
    """The file is not sound FITS; the message names the HDU and keyword (not the file)."""

BLOCK = 2880
CARD = 80
MAX_HEADER_BLOCKS = 1000  # 36,000 cards; calpipe headers have a few hundred
_BITPIX = {8, 16, 32, 64, -32, -64}


def _value(card: bytes) -> str | None:
    if card[8:10] != b"= ":
        return None
    return card[10:].split(b"/")[0].strip().decode("ascii")


def _int(cards: dict[str, str], key: str, hdu: str, default: int | None = None) -> int:
    text = cards.get(key)
    if text is None:
        if default is not None:
            return default
        raise StructureError(f"{hdu}: missing keyword {key}")
    try:
        return int(text)
    except ValueError:
        raise StructureError(f"{hdu}: {key} = {text} is not an integer") from None


def check_structure(path: Path) -> None:
    """Raise StructureError naming the HDU and keyword if ``path`` is not sound FITS."""
    size = require_regular(path, StructureError).st_size
    if size == 0 or size % BLOCK:
        raise StructureError(f"{size} bytes, not a whole number of 2880-byte FITS blocks (truncated?)")
    with open(path, "rb") as f:
        pos, index = 0, 0
        while pos < size:
            cards: dict[str, str] = {}
            first = None
            blocks = 0
            ended = False
            while not ended:
                block = f.read(BLOCK)
                blocks += 1
                where = f"HDU {index}"
                if len(block) < BLOCK:
                    raise StructureError(f"{where}: the header has no END card (file truncated)")
                if blocks > MAX_HEADER_BLOCKS:
                    raise StructureError(f"{where}: more than {MAX_HEADER_BLOCKS} header blocks, no END")
                for i in range(0, BLOCK, CARD):
                    card = block[i:i + CARD]
                    try:
                        key = card[:8].decode("ascii").rstrip()
                        value = _value(card)
                    except UnicodeDecodeError:
                        raise StructureError(f"{where}: non-ASCII bytes in header card "
                                    f"{(blocks - 1) * 36 + i // CARD + 1}") from None
                    if first is None:
                        first = key
                    if key == "END":
                        ended = True
                        break
                    if value is not None:
                        cards.setdefault(key, value)
            name = cards.get("EXTNAME", "").strip("' ") or ("PRIMARY" if index == 0 else "")
            where = f"HDU {index}" + (f" ({name})" if name else "")
            expected = "SIMPLE" if index == 0 else "XTENSION"
            if first != expected:
                raise StructureError(f"{where}: starts with {first or 'a blank card'}, not {expected}")
            bitpix = _int(cards, "BITPIX", where)
            if bitpix not in _BITPIX:
                raise StructureError(f"{where}: BITPIX = {bitpix} is not a FITS data type")
            naxis = _int(cards, "NAXIS", where)
            if not 0 <= naxis <= 999:
                raise StructureError(f"{where}: NAXIS = {naxis} is outside 0..999")
            axes = [_int(cards, f"NAXIS{n}", where) for n in range(1, naxis + 1)]
            for n, length in enumerate(axes, 1):
                if length < 0:
                    raise StructureError(f"{where}: NAXIS{n} = {length} is negative")
            pcount = _int(cards, "PCOUNT", where, default=0)
            gcount = _int(cards, "GCOUNT", where, default=1)
            if pcount < 0 or gcount < 0:
                raise StructureError(f"{where}: PCOUNT = {pcount}, GCOUNT = {gcount}: negative")
            elements = 0
            if naxis:
                elements = 1
                for length in axes:
                    elements *= length
            data = abs(bitpix) // 8 * gcount * (pcount + elements)
            pos = f.tell()
            if pos + data > size:
                raise StructureError(f"{where}: the header declares {data} bytes of data "
                            f"({'x'.join(map(str, axes)) or 'no axes'}, BITPIX {bitpix}) but only "
                            f"{size - pos} bytes follow (truncated, or a wrong NAXISn)")
            f.seek(-(-data // BLOCK) * BLOCK, 1)
            pos = f.tell()
            index += 1
