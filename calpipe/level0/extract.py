"""`calpipe level0 extract`: the exposures of a tag, out of any telemetry files, as Level 1 raw products.

Packets are selected by tag across all files given, in any order; each
exposure's header and array streams are reassembled (streams.py) and written as
the model class its DATAMODL names, with every header keyword it was sent
with, under the file name it was sent with (FILENAME) or else
<instrument>_<program>_<visit>_<exposure>_uncal.fits. Housekeeping samples
taken during the exposure's packets' time span are averaged into keywords of
the same names (DETTEMP, BIASVOLT) with HKNSAMP, HKSTART and HKEND.

Faults are reported, never hidden: rejected (corrupted) packets with file and
byte position; duplicates dropped once; lost packets by exposure and sequence
count. An exposure with lost packets is written only with ``allow_partial``,
its lost pixels flagged DROPOUT | DO_NOT_USE in PIXELDQ and PARTIAL = T in its header.

Provenance goes to ``meta.level0`` (the telemetry files by name and sha256,
with the sequence counts and byte ranges used from each, per APID; the lost
and duplicate packets; every packet rejected in the files read, whose tag
cannot be trusted) and to HISTORY for plain FITS readers. Not to
``meta.provenance``: that belongs to the runner, which records a pipeline run
there and reads that shape back (calpipe provenance, reproduce). A pipeline
run on the raw product records the product's sha256 as its input, which leads
back here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from calpipe.core.errors import InputDataError, UsageError
from calpipe.core.io import write_atomic

from .decode import Packet, TelemetryFile, load_ccsdspy, read_telemetry
from .packets import layout, ticks_to_iso
from .streams import Stream, format_runs, reassemble, runs
from .tags import Tag, TagPattern

_END_CARD = b"END" + b" " * 77


@dataclass
class Extraction:
    """What one extraction did: products written, report lines, exposures not written and why."""

    written: list[Path] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def extract(files: list[Path], tag: str, out_dir: Path, allow_partial: bool = False) -> Extraction:
    """Write every exposure matching ``tag`` found in ``files`` into ``out_dir``; see the module doc."""
    pattern = TagPattern.parse(tag, layout().tag_widths())
    paths = list(dict.fromkeys(Path(f).resolve() for f in files))  # the same file named twice counts once
    if not paths:
        raise UsageError("no telemetry files given")
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise UsageError("two telemetry files have the same name; reports name files by name: rename one")
    telemetry = [read_telemetry(p) for p in paths]
    result = Extraction()
    for t in telemetry:
        result.lines += [str(r) for r in t.rejected]

    found: dict[Tag, list[Packet]] = {}
    for t in telemetry:
        for p in t.packets:
            if p.tag is not None:
                found.setdefault(p.tag, []).append(p)
    selected = sorted(t for t in found if pattern.matches(t))
    if not selected:
        known = ", ".join(str(t) for t in sorted(found)[:20]) or "none"
        raise InputDataError(f"no exposure tagged {pattern} in {len(paths)} telemetry file(s) "
                             f"(tags found: {known}); check --tag and the files")
    housekeeping, hk_duplicates = _unique_housekeeping([p for t in telemetry for p in t.packets
                                                        if p.kind == "housekeeping"])
    result.lines += [f"duplicate housekeeping packet (sequence count {d.seq_count}) at {d.file} byte "
                     f"{d.position}: dropped" for d in hk_duplicates]
    _refuse_name_collisions({t: _planned_name(t, found[t]) for t in selected}, Path(out_dir))
    for exposure_tag in selected:
        lines: list[str] = []
        try:
            result.written.append(_exposure(exposure_tag, found[exposure_tag], housekeeping, telemetry,
                                            pattern, out_dir, allow_partial, lines))
        except InputDataError as exc:
            result.failed.append(str(exc))
            lines.append(f"NOT WRITTEN: {exc}")
        result.lines += lines
    return result


def _unique_housekeeping(packets: list[Packet]) -> tuple[list[Packet], list[Packet]]:
    seen: dict[bytes, Packet] = {}
    duplicates = []
    for p in sorted(packets, key=lambda p: (p.ticks, p.file, p.position)):
        if p.digest in seen:
            duplicates.append(p)
        else:
            seen[p.digest] = p
    return list(seen.values()), duplicates


def _exposure(tag: Tag, packets: list[Packet], housekeeping: list[Packet], telemetry: list[TelemetryFile],
              pattern: TagPattern, out_dir: Path, allow_partial: bool, lines: list[str]) -> Path:
    """Write one exposure and return its path; report lines go to ``lines`` even when it fails."""
    label = f"exposure {tag}"
    by_kind = {kind: [p for p in packets if p.kind == kind] for kind in ("header", "science")}
    for kind, mine in by_kind.items():
        if not mine:
            raise InputDataError(f"{label}: no {kind} packets (APID {layout().packets[kind].apid}) in these "
                                 "files; give the files holding the whole exposure")
    header, science = (reassemble(by_kind[k], label) for k in ("header", "science"))
    if not header.complete:
        seqs = [s for g in header.gaps for s in g.seq_counts]
        raise InputDataError(f"{label}: header packets (APID {header.apid}) with sequence counts "
                             f"{format_runs(seqs)} are missing: its keywords cannot be restored; "
                             "give the files holding them")
    for d in (d for s in (header, science) for d in s.duplicates):
        lines.append(f"{label}: duplicate packet APID {d.dropped.apid} sequence count {d.dropped.seq_count} "
                     f"at {d.dropped.file} byte {d.dropped.position} (kept {d.kept.file} byte "
                     f"{d.kept.position}): dropped")
    dropout = _dropout_plane(science)
    for gap in science.gaps:
        lines.append(f"{label}: missing packets APID {science.apid} sequence counts "
                     f"{format_runs(gap.seq_counts)} (bytes {gap.start}-{gap.stop - 1} of {science.total})")
    if science.gaps and not allow_partial:
        raise InputDataError(
            f"{label}: incomplete, {sum(len(g.seq_counts) for g in science.gaps)} science packet(s) missing "
            f"(sequence counts {format_runs([s for g in science.gaps for s in g.seq_counts])}); rerun with "
            "--allow-partial to write it with the lost pixels flagged DROPOUT")

    used = header.used + science.used
    span = (min(p.ticks for p in used), max(p.ticks for p in used))
    hk = sorted((p for p in housekeeping if span[0] <= p.ticks <= span[1]), key=lambda p: p.ticks)
    if not hk:
        lines.append(f"{label}: no housekeeping sample between {ticks_to_iso(span[0])} and "
                     f"{ticks_to_iso(span[1])}: DETTEMP and BIASVOLT not set")
    record = _record(tag, pattern, allow_partial, header, science, hk, telemetry, span)
    model = _model(label, bytes(header.data), science, dropout, hk, record)
    name = _product_name(model, tag)
    path = write_atomic(model, Path(out_dir) / name)
    flagged = 0 if dropout is None else int(np.count_nonzero(dropout))
    state = f" PARTIAL: {flagged} pixels flagged DROPOUT" if science.gaps else ""
    lines.append(f"{label}: wrote {path}{state}")
    return path


def _dropout_plane(science: Stream) -> np.ndarray | None:
    """(ny, nx) pixels of which any element (in any frame or group) was lost."""
    if not science.gaps:
        return None
    lost = science.missing()
    return lost.reshape(-1, *lost.shape[-2:]).any(axis=0)


def split_headers(text: bytes) -> list[Any]:
    """The FITS headers in the header stream: each ends with an END card and is padded to 2880 bytes."""
    from astropy.io import fits

    headers, start = [], 0
    while start < len(text):
        for card in range(start, len(text), 80):
            if text[card:card + 80] == _END_CARD:
                headers.append(fits.Header.fromstring(text[start:card + 80].decode("ascii")))
                start = -(-(card + 80) // 2880) * 2880
                break
        else:
            raise ValueError(f"no END card after byte {start}")
    return headers


def _model(label: str, text: bytes, science: Stream, dropout: np.ndarray | None, hk: list[Packet],
           record: dict[str, Any]) -> Any:
    from astropy.io import fits

    from calpipe.core.models.dqflags import DQ
    from calpipe.core.registry import get_registry

    try:
        primary, sci = split_headers(text)
    except ValueError as exc:
        raise InputDataError(f"{label}: the header packets do not hold a primary and a SCI header ({exc})") \
            from exc
    model_type = primary.get("DATAMODL")
    cls = get_registry().models.get(model_type)
    if cls is None:
        raise InputDataError(f"{label}: DATAMODL = {model_type!r} is not a known product type "
                             "(install the plugin that defines it)")
    hk_fields = [f for f in layout().packets["housekeeping"].fixed if f.type == "float"]
    for key in (*(f.name for f in hk_fields), "HKSTART", "HKEND"):  # stale values of an earlier extraction
        primary.remove(key, ignore_missing=True)
    if hk:
        for f in hk_fields:
            primary[f.name] = (float(np.mean([p.values[f.name] for p in hk])), f"mean {f.description}")
        primary["HKSTART"] = (ticks_to_iso(hk[0].ticks), "UTC of the first housekeeping sample used")
        primary["HKEND"] = (ticks_to_iso(hk[-1].ticks), "UTC of the last housekeeping sample used")
    primary["HKNSAMP"] = (len(hk), "housekeeping samples during the exposure")
    primary["PARTIAL"] = (not science.complete, "T: packets lost, see PIXELDQ and HISTORY")
    for line in _history(record):
        primary.add_history(line)
    hdus = [fits.PrimaryHDU(header=primary), fits.ImageHDU(science.array(), header=sci, name="SCI")]
    if dropout is not None:
        # DO_NOT_USE too: the lost values are zeros, and no pipeline may fit them
        lost = np.where(dropout, DQ.DROPOUT | DQ.DO_NOT_USE, 0).astype(np.uint32)
        hdus.append(fits.ImageHDU(lost, name="PIXELDQ"))
    model = cls(fits.HDUList(hdus))
    model.meta.date = None  # DATE is when a file is written: this one gets its own
    model.meta.level0 = record
    return model


def _history(record: dict[str, Any]) -> list[str]:
    lines = [f"level0: extracted by calpipe {record['software']['calpipe']} from tag {record['tag']}"]
    for f in record["files"]:
        used = "; ".join(f"APID {u['apid']} {_format_pairs(u['sequence_counts'])}" for u in f["packets"])
        lines.append(f"level0: {f['name']} sha256:{f['sha256'][:16]} {used}")
    for m in record["missing"]:
        lines.append(f"level0: PARTIAL: lost APID {m['apid']} sequence counts "
                     f"{format_runs(m['sequence_counts'])}, pixels flagged DROPOUT")
    for d in record["duplicates"]:
        lines.append(f"level0: duplicate APID {d['apid']} sequence count {d['sequence_count']} dropped")
    return lines


def _format_pairs(pairs: list[list[int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in pairs)


def _record(tag: Tag, pattern: TagPattern, allow_partial: bool, header: Stream, science: Stream,
            hk: list[Packet], telemetry: list[TelemetryFile], span: tuple[int, int]) -> dict[str, Any]:
    """meta.level0: where every byte came from, and what went wrong."""
    from calpipe import __version__

    lay = layout()
    used = header.used + science.used + hk
    files = []
    for t in sorted(telemetry, key=lambda t: t.path.name):
        mine = sorted((p for p in used if p.file == t.path.name), key=lambda p: p.position)
        if not mine:
            continue
        by_apid: dict[int, list[Packet]] = {}
        for p in mine:
            by_apid.setdefault(p.apid, []).append(p)
        files.append({"name": t.path.name, "sha256": t.sha256, "packets": [
            {"apid": apid, "kind": ps[0].kind, "count": len(ps),
             "sequence_counts": [list(r) for r in runs([p.seq_count for p in ps])],
             "bytes": [ps[0].position, ps[-1].position + ps[-1].size]}
            for apid, ps in sorted(by_apid.items())]})
    record = {
        "date": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "software": {"calpipe": __version__, "ccsdspy": load_ccsdspy().__version__},
        "packet_definition": {"file": "calpipe/level0/packets.yaml", "version": lay.version,
                              "sha256": lay.sha256},
        "tag": str(tag), "selected_by": str(pattern), "allow_partial": allow_partial,
        "partial": not science.complete,
        "time_span": [ticks_to_iso(span[0]), ticks_to_iso(span[1])],
        "files": files,
        "missing": [{"apid": science.apid, "sequence_counts": list(g.seq_counts), "bytes": [g.start, g.stop]}
                    for g in science.gaps],
        "duplicates": [{"apid": d.dropped.apid, "sequence_count": d.dropped.seq_count,
                        "file": d.dropped.file, "position": d.dropped.position,
                        "kept_file": d.kept.file, "kept_position": d.kept.position}
                       for s in (header, science) for d in s.duplicates],
        "rejected": [{"file": r.file, "position": r.position, "apid": r.apid, "sequence_count": r.seq_count,
                      "reason": r.reason} for t in telemetry for r in t.rejected],
        "housekeeping": {"apid": lay.packets["housekeeping"].apid, "samples": len(hk),
                         "sequence_counts": [list(r) for r in runs([p.seq_count for p in hk])]},
    }
    return record


def _product_name(model: Any, tag: Tag) -> str:
    """The file name the product was sent with (FILENAME), if a plain one; else one made from the tag."""
    return _name_for(model.meta.filename, model.meta.instrument.name, tag)


def _name_for(sent: Any, instrument: Any, tag: Tag) -> str:
    sent = str(sent or "")
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.fits", sent):
        return sent
    instrument = "".join(c for c in str(instrument or "raw").lower() if c.isalnum()) or "raw"
    return f"{instrument}_{tag.program}_{tag.visit}_{tag.exposure}_uncal.fits"


def _planned_name(tag: Tag, packets: list[Packet]) -> str | None:
    """The name an exposure will be written under, from its header packets alone (None if they
    cannot be read: that exposure then fails on its own, with the reason)."""
    header_packets = [p for p in packets if p.kind == "header"]
    try:
        header = reassemble(header_packets, f"exposure {tag}")
        primary = split_headers(bytes(header.data))[0] if header.complete else None
    except (InputDataError, ValueError, UnicodeDecodeError):
        return None
    return None if primary is None else _name_for(primary.get("FILENAME"), primary.get("INSTRUME"), tag)


def _refuse_name_collisions(names: dict[Tag, str | None], out_dir: Path) -> None:
    """Two exposures sent under one FILENAME would overwrite each other: refused before any is written."""
    first: dict[str, Tag] = {}
    for tag, name in names.items():
        if name is None:
            continue
        other = first.setdefault(name, tag)
        if other != tag:
            raise UsageError(f"exposures {other} and {tag} would both be written as {out_dir / name} "
                             "(the FILENAME they were sent with); nothing was written (extract them one "
                             "at a time with --tag, into different -o directories)")


def run(args) -> int:
    """`calpipe level0 extract`: print the report; exit 3 if any selected exposure was not written."""
    result = extract(args.files, args.tag, args.output_dir, args.allow_partial)
    for line in result.lines:
        print(line)
    if result.failed:
        more = f"; {len(result.failed) - 1} more above" if len(result.failed) > 1 else ""
        raise InputDataError(f"{len(result.failed)} exposure(s) not written: {result.failed[0]}{more}")
    return 0
