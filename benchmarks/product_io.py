"""Product I/O against plain astropy.io.fits: writing and reading one IRAC BCD, as ratios.

Makes one real BCD (simulated channel-1 frame, ``strun irac_bcd`` in a child process), then, in
this process with the asdf plugins strun loads, times four operations interleaved (each round
runs them in a rotated order, so drift and other load on the machine hit all of them alike):

- ``write_atomic(model)``: calpipe writing the product (temporary file, fsync, rename);
- the reference write: the same HDUs (read back from that product, data in memory) written with
  ``HDUList.writeto`` to an open file, flushed and fsynced, so only the serialisation differs;
- ``open_product(path)``: calpipe reading it (every HDU loaded, the tree validated);
- the reference read: ``fits.open(path, memmap=False)`` and every HDU's ``.data``.

Prints the median of each, the ratios calpipe/reference (target at most 1.5 for both) and
each operation's tracemalloc peak. Asserts nothing.

    python benchmarks/product_io.py [--reps N] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from children import console_script, run_child

TARGET = 1.5


def make_bcd(root: Path, seed: int) -> Path:
    env = dict(os.environ, CALPIPE_REFDATA=str(root / "refdata"), NUMBA_CACHE_DIR=str(root / "numba"))
    code = ("from calpipe.instruments.irac.simulate import simulate\n"
            f"simulate({str(root / 'raw')!r}, channel=1, frame_time=12.0, naor_frames=1, seed={seed})")
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    raws = sorted(str(p) for p in (root / "raw").glob("*_raw.fits"))
    run_child([*console_script("strun", "calpipe.core.cli.strun"), "irac_bcd", *raws,
               "-o", str(root / "bcd"), "-q"], env, str(root))
    [bcd] = (root / "bcd").glob("*_bcd.fits")
    return bcd


def peak_mb(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=41)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bcd = make_bcd(root, args.seed)

        from astropy.io import fits

        from calpipe.core.io import open_product, write_atomic
        from calpipe.core.models.asdf_plugins import load_only_calpipe_plugins
        from calpipe.core.registry import get_registry

        load_only_calpipe_plugins()
        models = get_registry().models
        model = open_product(bcd, models)
        hdul = fits.open(bcd, memmap=False)
        for hdu in hdul:
            _ = hdu.data
        out = root / "out"
        out.mkdir()

        def calpipe_write() -> None:
            write_atomic(model, out / "calpipe_bcd.fits")

        def astropy_write() -> None:
            with open(out / "astropy.fits", "wb") as f:
                hdul.writeto(f)
                f.flush()
                os.fsync(f.fileno())

        def calpipe_read() -> None:
            open_product(bcd, models)

        def astropy_read() -> None:
            with fits.open(bcd, memmap=False) as h:
                for hdu in h:
                    _ = hdu.data

        ops = {"calpipe write": calpipe_write, "astropy write": astropy_write,
               "calpipe read": calpipe_read, "astropy read": astropy_read}
        times: dict[str, list[float]] = {name: [] for name in ops}
        for fn in ops.values():  # warm-up: lazy imports, first schema parse
            fn()
        names = list(ops)
        for rep in range(args.reps):
            for name in names[rep % 4:] + names[:rep % 4]:
                start = time.perf_counter()
                ops[name]()
                times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
        peaks = {name: peak_mb(fn) for name, fn in ops.items()}
        shapes = ", ".join(f"{h.name} {'x'.join(map(str, h.data.shape))}"
                           for h in hdul[1:] if h.data is not None)
        print(f"one IRAC BCD ({bcd.stat().st_size / 2**20:.1f} MB: {shapes}); "
              f"median of {args.reps} interleaved runs")
        for name in ops:
            print(f"  {name:14s} {med[name]:7.2f} ms   tracemalloc peak {peaks[name]:6.1f} MB")
        for what in ("write", "read"):
            ratio = med[f"calpipe {what}"] / med[f"astropy {what}"]
            print(f"  {what} ratio calpipe/astropy {ratio:.2f} (target <= {TARGET})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
