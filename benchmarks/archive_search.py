"""`calpipe archive search` latency for a cone + time query on 1,000,000 catalog rows (SQLite).

Fills a fresh embedded archive with seeded synthetic product rows (positions uniform on the
sky, one observation every ~5 minutes over 10 years, each with its HEALPix cell), then times
`catalog.search` in-process for cone + time queries at random centres, interleaving the radii,
and prints the median and 95th percentile beside the 50 ms target, the rows found, and a check
of every answer against a brute-force scan with numpy. Prints figures; asserts nothing.

    python benchmarks/archive_search.py [--rows N] [--queries N] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy_healpix import HEALPix
from sqlalchemy import insert

from calpipe.archive.catalog import HPX_ORDER, search
from calpipe.archive.directory import Archive
from calpipe.archive.tables import Product

TARGET_MS = 50.0
RADII = (0.05, 0.2, 1.0)  # degrees
T0, SPAN = 55000.0, 3650.0  # MJD: ten years


def fill(archive: Archive, n: int, rng: np.random.Generator, chunk: int = 50_000) -> tuple[np.ndarray, ...]:
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    t = np.sort(rng.uniform(T0, T0 + SPAN, n))
    cells = HEALPix(nside=2 ** HPX_ORDER, order="nested").lonlat_to_healpix(ra * u.deg, dec * u.deg)
    made = datetime(2026, 1, 1)
    for lo in range(0, n, chunk):
        rows = [dict(obs_id=f"obs{i:07d}", filename=f"obs{i:07d}_cal.fits", calib_level=2, state="sandbox",
                     pipeline="bench", pipeline_version="1.0.0", context="0001", s_ra=float(ra[i]),
                     s_dec=float(dec[i]), hpx=int(cells[i]), t_min=float(t[i]), t_max=float(t[i]) + 1e-3,
                     instrument_name="BENCH", made_at=made) for i in range(lo, min(n, lo + chunk))]
        with archive.db.write() as session:
            session.execute(insert(Product), rows)
    return ra, dec, t


def brute(ra, dec, t, cone, window) -> int:
    r0, d0, radius = np.radians(cone)
    r, d = np.radians(ra), np.radians(dec)
    h = np.sin((d - d0) / 2) ** 2 + np.cos(d) * np.cos(d0) * np.sin((r - r0) / 2) ** 2
    inside = np.degrees(2 * np.arcsin(np.minimum(1, np.sqrt(h)))) <= np.degrees(radius)
    return int(np.count_nonzero(inside & (t + 1e-3 >= window[0]) & (t <= window[1])))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=30, help="per radius")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Archive.init(Path(tmp) / "archive")
        start = time.perf_counter()
        ra, dec, t = fill(archive, args.rows, rng)
        filled = time.perf_counter() - start
        size = (Path(tmp) / "archive" / "catalog.sqlite").stat().st_size
        picker = random.Random(args.seed)
        queries = [(r, (picker.uniform(0, 360), picker.uniform(-80, 80)), picker.uniform(T0, T0 + SPAN - 365))
                   for _ in range(args.queries) for r in RADII]  # interleaved radii
        times: dict[float, list[float]] = {r: [] for r in RADII}
        found: dict[float, list[int]] = {r: [] for r in RADII}
        wrong = 0
        with archive.db.read() as session:
            search(session, cone=(10.0, 10.0, 0.1), time=(T0, T0 + 1))  # warm-up: page cache, statement cache
            for radius, (c_ra, c_dec), t_start in queries:
                window = (t_start, t_start + 365.0)
                begin = time.perf_counter()
                rows = search(session, cone=(c_ra, c_dec, radius), time=window)
                times[radius].append((time.perf_counter() - begin) * 1000)
                found[radius].append(len(rows))
                wrong += len(rows) != brute(ra, dec, t, (c_ra, c_dec, radius), window)
        archive.close()
    print(f"archive_search: {args.rows:,} rows in SQLite ({size / 2**20:.0f} MiB, filled in {filled:.0f} s), "
          f"cone + 1-year window, {args.queries} queries per radius, interleaved (Python "
          f"{sys.version.split()[0]})")
    for radius in RADII:
        ms = sorted(times[radius])
        print(f"  radius {radius:>5} deg: median {statistics.median(ms):6.1f} ms, p95 "
              f"{ms[int(0.95 * (len(ms) - 1))]:6.1f} ms, max {ms[-1]:6.1f} ms; rows found median "
              f"{statistics.median(found[radius]):.0f} (target <= {TARGET_MS:.0f} ms)")
    print(f"  answers differing from a brute-force scan: {wrong} of {len(queries)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
