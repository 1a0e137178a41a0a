"""Level 3 on one IRAC AOR: ``strun irac_postbcd`` on N BCDs to a mosaic and its source list.

Simulates an AOR of N channel-1 12 s frames and calibrates them with ``strun irac_bcd -j 2``,
both once and untimed (the simulation in a child process, so this process stays small and the
children's peak RSS is their own). Then runs ``strun irac_postbcd BCD... -o OUT -q`` as a fresh
subprocess: one untimed warm-up, then N timed runs. Prints the median, min and max wall time, the
peak RSS (os.wait4), the per-step times of one run at INFO, and the mosaic's size and source count.
Asserts nothing; the issue asks for the figures, it sets no target.

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

from children import console_script, run_child, timed


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
        runs, warm = timed(argv, env, tmp, args.runs)
        walls = [r.wall_s for r in runs]
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
        print(f"  peak RSS {max(r.rss_mb for r in runs):.0f} MB")
        print("  steps: " + ", ".join(f"{name} {float(t):.2f} s" for name, t in steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
