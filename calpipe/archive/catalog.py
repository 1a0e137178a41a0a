"""Catalog rows from a product's own header, the sky index, search and verify.

Every catalog column is a function of the stored file alone (its primary and
SCI headers and its bytes), so ``verify`` can recompute every row and find any
drift. What a row adds that the file cannot know (its state, who claimed it) is
not compared.

Sky index: the HEALPix cell (nested, order 16: 3.2 arcsec cells) of (s_ra,
s_dec), an indexed BIGINT. Nested numbering makes every coarser cell a range
of order-16 numbers, so a cone becomes a handful of ``BETWEEN`` ranges (from
astropy-healpix's cone search at an order matched to the radius) that a plain
B-tree answers on SQLite and PostgreSQL alike, with no spatial extension
(PostGIS, R*Tree) to install; exact distances are then checked on the few
candidates. Equal-area cells keep the candidate count even at any declination.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from calpipe.core.errors import InputDataError

from .tables import OBSCORE, PROVENANCE

HPX_ORDER = 16
_RUN = re.compile(r"^calpipe \S+ \S+ \S+ run ([0-9a-f]{32})$")
_SUFFIX = re.compile(r"_[a-z][a-z0-9]*$")  # the product suffix: _uncal, _raw, _rate, _cal, _bcd
COMPARED = (*OBSCORE, "pipeline", "pipeline_version", "context", "run_id", "sha256", "selection", "hpx")


def obs_id_of(filename: str) -> str:
    """The observation a product file belongs to: its name without extension and product suffix."""
    stem = filename.rsplit(".", 1)[0]
    return _SUFFIX.sub("", stem) or stem


def catalog_row(path, sha256: str, size: int, selectors: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """The catalog columns of one product file, read from its headers.

    ``selectors`` maps a lower-case instrument name to the header keywords that
    choose its reference files (from the installed reference types).
    """
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdul:
            primary = hdul[0].header
            sci = hdul["SCI"].header if "SCI" in hdul else None
            shape = hdul["SCI"].shape if "SCI" in hdul else ()
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: not a readable FITS product ({exc})") from None
    name = primary.get("FILENAME") or str(path).rsplit("/", 1)[-1]
    level = primary.get("DATALVL")
    if level is None:
        raise InputDataError(f"{name}: no DATALVL keyword: not a calpipe product (the archive keeps calpipe "
                             "raw products and what its pipelines make)")
    instrument = primary.get("INSTRUME")
    start = _mjd(primary.get("DATE-OBS"), primary.get("TIME-OBS"))
    exptime = next((float(primary[k]) for k in ("EFFEXPTM", "EXPTIME", "TEXPTIME") if k in primary), None)
    sky = _sky(sci, primary)
    keys = selectors.get(str(instrument or "").lower(), ())
    row: dict[str, Any] = {
        "dataproduct_type": "image" if len(shape) <= 2 else "cube",
        "calib_level": int(level),
        "obs_collection": primary.get("TELESCOP"),
        "obs_id": obs_id_of(name),
        "obs_publisher_did": f"ivo://calpipe/archive?sha256={sha256}",
        "access_url": f"store/{sha256[:2]}/{sha256}",
        "access_format": "application/fits",
        "access_estsize": -(-size // 1024),
        "target_name": primary.get("TARGNAME") or primary.get("OBJECT"),
        "s_ra": sky[0], "s_dec": sky[1], "s_fov": sky[2], "s_region": sky[3], "s_resolution": None,
        "t_min": start,
        "t_max": None if start is None else start + (exptime or 0.0) / 86400.0,
        "t_exptime": exptime,
        "t_resolution": None, "em_min": None, "em_max": None, "em_res_power": None,
        "o_ucd": None, "pol_states": None,
        "facility_name": primary.get("TELESCOP"),
        "instrument_name": instrument,
        "proposal_id": None if primary.get("PROGRAM") is None else str(primary["PROGRAM"]),
        "obs_release_date": None, "data_rights": None,  # the access issue sets them
        "pipeline": primary.get("PIPELINE") or "",
        "pipeline_version": primary.get("PIPEVER") or "",
        "context": "" if primary.get("REFCTX") in (None, "NONE") else str(primary["REFCTX"]),
        "run_id": _run_id(primary),
        "sha256": sha256,
        "selection": {k: _plain(primary.get(k)) for k in (*keys, "DATE-OBS")},
        "hpx": None if sky[0] is None else hpx_cell(sky[0], sky[1]),
    }
    return row


def _run_id(primary) -> str | None:
    """The run that made the file: the last run HISTORY names (earlier ones made its inputs)."""
    runs = [m.group(1) for h in primary.get("HISTORY", []) if (m := _RUN.match(str(h)))]
    return runs[-1] if runs else None


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _mjd(date: Any, time: Any) -> float | None:
    if not date:
        return None
    from astropy.time import Time

    text = str(date) if "T" in str(date) or not time else f"{date}T{time}"
    try:
        return float(Time(text, format="isot", scale="utc").mjd)
    except ValueError:
        return None


def _sky(sci, primary) -> tuple[float | None, float | None, float | None, str | None]:
    """(ra, dec) of the array centre, the diagonal in degrees and the footprint polygon, from the WCS."""
    import warnings

    import numpy as np
    from astropy.wcs import WCS, FITSFixedWarning

    if sci is not None and sci.get("CTYPE1", "").startswith("RA"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(sci).celestial
        ny, nx = sci["NAXIS2"], sci["NAXIS1"]
        x = np.array([(nx - 1) / 2, -0.5, nx - 0.5, nx - 0.5, -0.5])
        y = np.array([(ny - 1) / 2, -0.5, -0.5, ny - 0.5, ny - 0.5])
        ra, dec = wcs.wcs_pix2world(x, y, 0)
        corners = " ".join(f"{a:.6f} {d:.6f}" for a, d in zip(ra[1:], dec[1:], strict=True))
        fov = angular_distance(ra[1], dec[1], ra[3], dec[3])
        return float(ra[0] % 360), float(dec[0]), round(fov, 6), f"POLYGON ICRS {corners}"
    if primary.get("RA_REF") is not None and primary.get("DEC_REF") is not None:
        return float(primary["RA_REF"]) % 360, float(primary["DEC_REF"]), None, None
    return None, None, None, None


def angular_distance(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance in degrees (haversine: exact at small separations)."""
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    h = math.sin((d2 - d1) / 2) ** 2 + math.cos(d1) * math.cos(d2) * math.sin((r2 - r1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


def hpx_cell(ra: float, dec: float) -> int:
    from astropy import units as u
    from astropy_healpix import HEALPix

    return int(HEALPix(nside=2 ** HPX_ORDER, order="nested").lonlat_to_healpix(ra * u.deg, dec * u.deg))


def cone_ranges(ra: float, dec: float, radius: float, max_cells: int = 64) -> list[tuple[int, int]]:
    """Inclusive ranges of order-16 cells that together cover the cone (degrees)."""
    import numpy as np
    from astropy import units as u
    from astropy_healpix import HEALPix

    # cells about as wide as the radius: a cone then touches a few dozen at most
    order = max(0, min(HPX_ORDER, math.floor(math.log2(58.6 / max(radius, 1e-9)))))
    while True:
        cells = HEALPix(nside=2 ** order, order="nested").cone_search_lonlat(ra * u.deg, dec * u.deg,
                                                                            radius * u.deg)
        if len(cells) <= max_cells or order == 0:
            break
        order -= 1
    shift = 2 * (HPX_ORDER - order)
    ranges: list[tuple[int, int]] = []
    for cell in np.sort(cells):
        lo, hi = int(cell) << shift, ((int(cell) + 1) << shift) - 1
        if ranges and ranges[-1][1] + 1 == lo:
            ranges[-1] = (ranges[-1][0], hi)
        else:
            ranges.append((lo, hi))
    return ranges


def differences(stored: dict[str, Any], recomputed: dict[str, Any]) -> list[str]:
    """Column-by-column differences between a stored row and the one its file gives now."""
    out = []
    for key in COMPARED:
        a, b = stored.get(key), recomputed.get(key)
        if isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12):
            continue
        if a != b:
            out.append(f"{key}: catalog {a!r}, file {b!r}")
    return out


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A search result: the ObsCore columns, then provenance, keyed by name."""
    return {k: row.get(k) for k in (*OBSCORE, *PROVENANCE)}


def columns(rows: Iterable[Any]) -> list[dict[str, Any]]:
    return [public({c: getattr(r, c) for c in (*OBSCORE, *PROVENANCE)}) for r in rows]


def search(session, *, cone: tuple[float, float, float] | None = None,
           time: tuple[float | None, float | None] | None = None, instrument: str | None = None,
           program: str | None = None, level: int | None = None, states: tuple[str, ...] | None = None,
           pipeline: str | None = None, limit: int | None = None) -> list[Any]:
    """Product rows matching every filter given; a cone is (ra, dec, radius) in degrees, time MJD bounds."""
    from sqlalchemy import and_, func, or_, select

    from .tables import FAILED, PROCESSING, Product

    where = [Product.state.in_(states)] if states else [Product.state.not_in((PROCESSING, FAILED))]
    if cone is not None:
        ra, dec, radius = cone
        where.append(or_(*(Product.hpx.between(lo, hi) for lo, hi in cone_ranges(ra, dec, radius))))
    if time is not None:
        start, end = time
        if start is not None:
            where.append(Product.t_max >= start)
        if end is not None:
            where.append(Product.t_min <= end)
    if instrument:
        where.append(func.lower(Product.instrument_name) == instrument.lower())
    if program:
        where.append(Product.proposal_id == program)
    if level is not None:
        where.append(Product.calib_level == level)
    if pipeline:
        name, _, version = pipeline.partition("@")
        where.append(Product.pipeline == name)
        if version:
            where.append(Product.pipeline_version == version)
    rows = session.scalars(select(Product).where(and_(*where)).order_by(Product.obs_id, Product.id)).all()
    if cone is not None:
        rows = [r for r in rows if angular_distance(ra, dec, r.s_ra, r.s_dec) <= radius]
    return rows[:limit] if limit else list(rows)


def verify(archive) -> tuple[int, list[str]]:
    """Recompute every stored product's row from its file, hash-check the telemetry, and find store
    files no row names: (rows checked, differences)."""
    from sqlalchemy import select

    from .files import StoreError
    from .tables import PRODUCT_STATES, Product, TelemetryFile

    problems = []
    checked = 0
    selectors = archive.selectors()
    with archive.db.read() as session:
        rows = session.scalars(select(Product).where(Product.sha256.is_not(None)).order_by(Product.id)).all()
    for row in rows:
        checked += 1
        stored = {c: getattr(row, c) for c in COMPARED}
        if row.state not in PRODUCT_STATES:
            problems.append(f"{row.filename} (row {row.id}): unknown state {row.state!r}")
        try:
            path = archive.store.check(row.sha256)
        except StoreError as exc:
            problems.append(f"{row.filename} (row {row.id}): {exc}")
            continue
        fresh = catalog_row(path, row.sha256, path.stat().st_size, selectors)
        problems += [f"{row.filename} (row {row.id}): {d}" for d in differences(stored, fresh)]
    with archive.db.read() as session:
        telemetry = session.scalars(select(TelemetryFile)).all()
    for tf in telemetry:
        try:
            archive.store.check(tf.sha256)
        except StoreError as exc:
            problems.append(f"telemetry {tf.name}: {exc}")
    known = {r.sha256 for r in rows} | {t.sha256 for t in telemetry}
    problems += [f"{archive.store.path(sha)}: in the store but in no catalog row (an interrupted ingest: "
                 "rerun it)" for sha in sorted(archive.store.addresses() - known)]
    return checked, problems
