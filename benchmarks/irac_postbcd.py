"""Level 3 on one IRAC AOR: ``strun irac_postbcd`` on N BCDs to a mosaic and its source list.

Simulates an AOR of N channel-1 12 s frames and calibrates them with ``strun irac_bcd -j 2``,
both once and untimed (the simulation in a child process, so this process stays small and the
children's peak RSS is their own). Then runs ``strun irac_postbcd BCD... -o OUT -q`` as a fresh
subprocess: one untimed warm-up, then N timed runs, each followed by a run of a fixed reference
workload in a fresh interpreter (numpy: sorting a seeded 100x384x384 float32 stack along its first
axis and 30 drizzles of a 256x256 frame, about the mosaic's kinds of work), so the ratio
postbcd/reference stays comparable on a machine other jobs load. Prints the median, min and max
wall time, the reference's median and the ratio, the peak RSS (os.wait4), the per-step times of one
run at INFO, and the mosaic's size and source count. The target is 8 s. Asserts nothing.

    python benchmarks/irac_postbcd.py [--frames N] [--runs N] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from children import console_script, run_child

TARGET_S = 8.0
REFERENCE = """
import numpy as np
from drizzle.resample import Drizzle
rng = np.random.default_rng(0)
np.sort(rng.normal(size=(100, 384, 384)).astype(np.float32), axis=0)
img = rng.normal(size=(256, 256)).astype(np.float32)
y, x = np.indices(img.shape, dtype=np.float64)
pixmap = np.dstack([x * 1.01 + 3.3, y * 0.99 + 2.7])
for _ in range(30):
    Drizzle(kernel="square", out_shape=(270, 270)).add_image(img, exptime=1.0, pixmap=pixmap)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    strun = console_script("strun", "calpipe.core.cli.strun")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = dict(os.environ, CALPIPE_REFDATA=str(root / "refdata"), NUMBA_CACHE_DIR=str(root / "numba"))
        code = ("from calpipe.instruments.irac.simulate import simulate\n"
                f"simulate({str(root / 'raw')!r}, channel=1, frame_time=12.0, naor_frames={args.frames}, "
                f"seed={args.seed})")
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        raws = sorted(str(p) for p in (root / "raw").glob("*_raw.fits"))
        run_child([*strun, "irac_bcd", *raws, "-o", str(root / "bcd"), "-q", "-j", "2"], env, tmp)
        bcds = sorted(str(p) for p in (root / "bcd").glob("*_bcd.fits"))

        argv = [*strun, "irac_postbcd", *bcds, "-o", str(root / "l3"), "-q"]
        warm = run_child(argv, env, tmp)
        runs, refs = [], []
        for _ in range(args.runs):  # interleaved: the reference sees the same load as the run before it
            runs.append(run_child(argv, env, tmp))
            refs.append(run_child([sys.executable, "-c", REFERENCE], env, tmp))
        walls = [r.wall_s for r in runs]
        ref = statistics.median(r.wall_s for r in refs)
        info = run_child([*strun, "irac_postbcd", *bcds, "-o", str(root / "l3info")], env, tmp)
        steps = re.findall(r"(\S+)\s+\S+ \S+ done in ([0-9.]+) s", info.stderr)

        from astropy.io import fits

        [product] = (root / "l3").glob("*_i2d.fits")
        with fits.open(product) as hdul:
            shape, nsources = hdul["SCI"].data.shape, len(hdul["SOURCES"].data)
        print(f"irac_postbcd on {len(bcds)} channel-1 BCDs (256x256): mosaic {shape[1]}x{shape[0]}, "
              f"{nsources} sources")
        print(f"  wall  median {statistics.median(walls):.2f} s  (min {min(walls):.2f}, "
              f"max {max(walls):.2f}, {len(walls)} runs; warm-up {warm.wall_s:.2f} s)")
        print(f"  reference workload median {ref:.2f} s; ratio postbcd/reference "
              f"{statistics.median(walls) / ref:.2f} (target {TARGET_S:.0f} s)")
        print(f"  peak RSS {max(r.rss_mb for r in runs):.0f} MB")
        print("  steps: " + ", ".join(f"{name} {float(t):.2f} s" for name, t in steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
