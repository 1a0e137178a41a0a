"""`calpipe sim telemetry`: Level 1 raw products turned into the telemetry a ground station receives.

Each raw product becomes one exposure on a simulated timeline: its FITS headers
(header APID) at the exposure start, its array cut into segments (science APID)
read out until the exposure end, and housekeeping samples (detector temperature
and bias, untagged) during the exposure and in the idle gaps between exposures,
all interleaved in time order with per-APID sequence counts. The stream is then
cut into files (an exposure may span files, a file may hold several exposures),
and faults a real downlink has are injected on request: lost, duplicated and
corrupted (bit-flipped) science packets, and files delivered out of order. The
truth (downlink_truth.json) says exactly what was done, so tests can check that
extraction reports every fault.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .packets import (
    CONTINUATION,
    FIRST,
    LAST,
    MAX_DATA_FIELD,
    PRIMARY_HEADER_BYTES,
    SEQUENCE_MODULO,
    UNSEGMENTED,
    encode,
    layout,
    segment_overhead,
    split_ticks,
    ticks_to_iso,
    to_ticks,
)
from .tags import Tag

DEFAULT_SEGMENT_BYTES = 4096
DEFAULT_START = "2026-01-01T00:00:00"  # a product without DATE-OBS is observed from here on
IDLE_S = 2.0  # between exposures; one housekeeping sample falls in the middle
MIN_DURATION_S = 1.0  # an exposure without EFFEXPTM lasts this long on the timeline
HK_PER_EXPOSURE = 4  # samples from exposure start to end, both included
TEMPERATURE_K, BIAS_V, IDLE_TEMPERATURE_K = 37.0, 0.25, 40.0
# Structural keywords astropy writes itself; the header stream carries only the others.
STRUCTURAL = ("XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "EXTNAME", "EXTVER",
              "EXTEND", "SIMPLE")
ORDER = {"header": 0, "science": 1, "housekeeping": 2}  # at equal times


class DownlinkFiles(NamedTuple):
    files: list[Path]  # in stream order (their names say otherwise with shuffle)
    truth: Path


@dataclass
class _Exposure:
    source: Path
    tag: Tag
    headers: bytes
    array: np.ndarray  # big-endian
    start: int  # ticks
    end: int


@dataclass
class _Item:
    kind: str
    ticks: int
    values: dict[str, Any]
    data: bytes = b""
    seq_flag: int = UNSEGMENTED
    exposure: int | None = None  # index in the exposures list; None for housekeeping
    seq_count: int = 0
    packet: bytes = b""


def header_text(path: Path) -> bytes:
    """The product's primary header and SCI header (without structural cards), as FITS text."""
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        primary = hdul[0].header.copy()
        sci = hdul["SCI"].header.copy()
    for header in (primary, sci):
        for key in list(header.keys()):
            if key.rstrip("0123456789") in STRUCTURAL:
                header.remove(key, ignore_missing=True, remove_all=True)
    return (primary.tostring() + sci.tostring()).encode("ascii")


def _load(path: Path, previous_end: int | None) -> _Exposure:
    from calpipe.core.errors import UsageError
    from calpipe.core.io import open_product
    from calpipe.core.models.keywords import keyword_values

    with open_product(path) as model:
        data = np.array(model.data) if model.hasattr("data") and model.data is not None else None
        keys = keyword_values(model, ("PROGRAM", "VISIT", "EXPOSURE", "DATE-OBS", "EFFEXPTM"))
    if not isinstance(data, np.ndarray) or not 2 <= data.ndim <= 4 or data.dtype.kind not in "uif":
        shape = getattr(data, "shape", None)
        raise UsageError(f"{path}: SCI must be a numeric array of 2 to 4 axes (got {shape}); "
                         "give Level 1 raw products")
    missing = [k for k in ("PROGRAM", "VISIT", "EXPOSURE") if not keys[k]]
    if missing:
        raise UsageError(f"{path}: no {', '.join(missing)} in the header: the exposure cannot be tagged "
                         "(set the observation keywords)")
    try:
        tag = Tag(*(str(keys[k]) for k in ("PROGRAM", "VISIT", "EXPOSURE"))).check(layout().tag_widths())
    except ValueError as exc:
        raise UsageError(f"{path}: {exc} (the packet tag fields are that wide)") from exc
    per = layout().ticks_per_second
    try:
        start = to_ticks(datetime.fromisoformat(str(keys["DATE-OBS"])))
    except (TypeError, ValueError):
        start = to_ticks(datetime.fromisoformat(DEFAULT_START))
    if previous_end is not None:
        start = max(start, previous_end + round(IDLE_S * per))
    if start < round(IDLE_S * per):
        raise UsageError(f"{path}: DATE-OBS = {keys['DATE-OBS']} is before the packet clock's epoch "
                         f"{layout().epoch.isoformat()} (+{IDLE_S} s)")
    effexptm = keys["EFFEXPTM"]
    duration = float(effexptm) if isinstance(effexptm, (int, float)) and effexptm > 0 else MIN_DURATION_S
    array = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder(">"))
    return _Exposure(Path(path), tag, header_text(path), array, start, start + round(duration * per))


def _segments(kind: str, exposure: int, ex: _Exposure, payload: bytes, dtype: str, shape: tuple[int, ...],
              size: int) -> list[_Item]:
    count = max(1, math.ceil(len(payload) / size))
    items = []
    for i in range(count):
        first, last = i == 0, i == count - 1
        flag = UNSEGMENTED if first and last else FIRST if first else LAST if last else CONTINUATION
        # headers at the start; array segments when their last byte was read out
        ticks = ex.start if kind == "header" else ex.start + (ex.end - ex.start) * (i + 1) // count
        values = {"PROGRAM": ex.tag.program, "VISIT": ex.tag.visit, "EXPOSURE": ex.tag.exposure,
                  "OFFSET": i * size, "TOTAL": len(payload), "DTYPE": dtype, "NDIM": len(shape),
                  "SHAPE": [*shape, *[0] * (4 - len(shape))]}
        items.append(_Item(kind, ticks, values, payload[i * size:(i + 1) * size], flag, exposure))
    return items


def _housekeeping(ticks: int, temperature: float, bias: float) -> _Item:
    return _Item("housekeeping", ticks, {"DETTEMP": np.float32(temperature), "BIASVOLT": np.float32(bias)})


def simulate_downlink(raws: list[Path], out_dir: Path, files: int = 1, seed: int = 0, drop: int = 0,
                      duplicate: int = 0, corrupt: int = 0, shuffle: bool = False,
                      segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> DownlinkFiles:
    """Write telemetry files ``tlm_NNNN.pkt`` and ``downlink_truth.json`` into ``out_dir``."""
    from calpipe.core.errors import UsageError

    limit = MAX_DATA_FIELD - (segment_overhead() - PRIMARY_HEADER_BYTES)
    if not 1 <= segment_bytes <= limit:
        raise UsageError(f"--segment-bytes must be 1..{limit} (a CCSDS packet holds at most 65536 bytes)")
    if files < 1 or min(drop, duplicate, corrupt) < 0:
        raise UsageError("--files must be >= 1, and --drop/--duplicate/--corrupt >= 0")
    if not raws:
        raise UsageError("no raw products given")
    exposures: list[_Exposure] = []
    for path in raws:
        exposures.append(_load(path, exposures[-1].end if exposures else None))
    tags = [str(e.tag) for e in exposures]
    if len(set(tags)) != len(tags):
        raise UsageError(f"two raw products have the same tag ({', '.join(sorted(tags))}); "
                         "an exposure tag must be unique")

    rng = np.random.default_rng([seed, 0])
    per = layout().ticks_per_second
    items: list[_Item] = []
    idle = round(IDLE_S * per) // 2
    items.append(_housekeeping(exposures[0].start - idle, IDLE_TEMPERATURE_K, BIAS_V))
    for i, ex in enumerate(exposures):
        items += _segments("header", i, ex, ex.headers, "|u1", (len(ex.headers),), segment_bytes)
        items += _segments("science", i, ex, ex.array.tobytes(), ex.array.dtype.str, ex.array.shape,
                           segment_bytes)
        base = TEMPERATURE_K + 0.05 * i
        for k in range(HK_PER_EXPOSURE):
            ticks = ex.start + (ex.end - ex.start) * k // (HK_PER_EXPOSURE - 1)
            items.append(_housekeeping(ticks, base + rng.normal(0, 0.01), BIAS_V + rng.normal(0, 5e-4)))
        items.append(_housekeeping(ex.end + idle, IDLE_TEMPERATURE_K, BIAS_V))
    items.sort(key=lambda it: (it.ticks, ORDER[it.kind]))  # stable: segments keep their order
    counters: dict[str, int] = {}
    for it in items:
        it.seq_count = counters.get(it.kind, 0)
        counters[it.kind] = (it.seq_count + 1) % SEQUENCE_MODULO
        values = {**it.values, **split_ticks(it.ticks)}
        it.packet = encode(it.kind, it.seq_flag, it.seq_count, values, it.data)

    stream, faults = _inject(items, exposures, np.random.default_rng([seed, 1]), drop, duplicate, corrupt)
    if files > len(stream):
        raise UsageError(f"--files {files}: only {len(stream)} packets to share out")
    chunks = np.array_split(np.arange(len(stream)), files)
    numbers = np.random.default_rng([seed, 2]).permutation(files) if shuffle else np.arange(files)
    names = [f"tlm_{n + 1:04d}.pkt" for n in numbers]
    where: dict[int, tuple[str, int]] = {}  # stream index -> (file, byte position)
    out_dir = Path(out_dir)
    paths = []
    for name, chunk in zip(names, chunks, strict=True):
        position = 0
        for j in chunk:
            where[int(j)] = (name, position)
            position += len(stream[j][1])
        paths.append(_write(out_dir / name, b"".join(stream[j][1] for j in chunk)))
    for fault in faults["duplicated"] + faults["corrupted"]:
        fault["file"], fault["position"] = where[fault.pop("index")]
        if "copy" in fault:
            fault["copy_file"], fault["copy_position"] = where[fault.pop("copy")]

    truth = {
        "files": names, "seed": seed, "segment_bytes": segment_bytes, "shuffle": shuffle,
        "packet_definition_sha256": layout().sha256,
        "exposures": [_exposure_truth(i, ex, items) for i, ex in enumerate(exposures)],
        "faults": faults,
    }
    return DownlinkFiles(paths, _write(out_dir / "downlink_truth.json",
                                       (json.dumps(truth, indent=1) + "\n").encode()))


def _inject(items: list[_Item], exposures: list[_Exposure], rng: np.random.Generator, drop: int,
            duplicate: int, corrupt: int) -> tuple[list[tuple[_Item, bytes]], dict[str, list]]:
    """The stream after faults (science packets only, so that every fault has pixels to show)."""
    from calpipe.core.errors import UsageError

    science = [i for i, it in enumerate(items) if it.kind == "science"]
    wanted = drop + duplicate + corrupt
    if wanted > len(science):
        raise UsageError(f"{wanted} faults asked for, but only {len(science)} science packets "
                         "(use a smaller --segment-bytes)")
    chosen = rng.choice(science, wanted, replace=False).tolist()
    dropped, duplicated, corrupted = (set(chosen[:drop]), set(chosen[drop:drop + duplicate]),
                                      set(chosen[drop + duplicate:]))
    data_start = segment_overhead() - 2
    faults: dict[str, list] = {"dropped": [], "duplicated": [], "corrupted": []}
    stream: list[tuple[_Item, bytes]] = []
    for i, it in enumerate(items):
        about = {"tag": str(exposures[it.exposure].tag), "apid": layout().packets[it.kind].apid,
                 "seq_count": it.seq_count, "offset": it.values.get("OFFSET"),
                 "length": len(it.data)} if it.exposure is not None else {}
        packet = it.packet
        if i in dropped:
            faults["dropped"].append(about)
            continue
        if i in corrupted:
            byte = int(rng.integers(data_start, len(packet) - 2))
            bit = int(rng.integers(8))
            flipped = bytearray(packet)
            flipped[byte] ^= 1 << bit
            packet = bytes(flipped)
            faults["corrupted"].append({**about, "index": len(stream), "byte_in_packet": byte, "bit": bit})
        stream.append((it, packet))
        if i in duplicated:
            faults["duplicated"].append({**about, "index": len(stream) - 1, "copy": len(stream)})
            stream.append((it, packet))
    for kind in faults.values():
        kind.sort(key=lambda f: (f["tag"], f["seq_count"]))
    return stream, faults


def _exposure_truth(index: int, ex: _Exposure, items: list[_Item]) -> dict[str, Any]:
    def packets(kind: str) -> dict[str, Any]:
        mine = [it for it in items if it.exposure == index and it.kind == kind]
        return {"apid": layout().packets[kind].apid, "first_seq_count": mine[0].seq_count,
                "packets": len(mine)}

    hk = [it for it in items if it.kind == "housekeeping" and ex.start <= it.ticks <= ex.end]
    return {
        "tag": str(ex.tag), "raw": ex.source.name, "shape": list(ex.array.shape), "dtype": ex.array.dtype.str,
        "start": ticks_to_iso(ex.start), "end": ticks_to_iso(ex.end),
        "header": packets("header"), "science": packets("science"),
        "housekeeping": {"samples": len(hk),
                         **{name: float(np.mean([float(it.values[name]) for it in hk]))
                            for name in ("DETTEMP", "BIASVOLT")}},
    }


def _write(path: Path, content: bytes) -> Path:
    """Write through a temporary file and an atomic rename (no half-written telemetry)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def run(args) -> int:
    """`calpipe sim telemetry`: print the telemetry files (in stream order) and the truth file."""
    out = simulate_downlink(args.raw, args.output_dir, files=args.files, seed=args.seed, drop=args.drop,
                            duplicate=args.duplicate, corrupt=args.corrupt, shuffle=args.shuffle,
                            segment_bytes=args.segment_bytes)
    for path in out.files:
        print(path)
    print(out.truth)
    return 0
