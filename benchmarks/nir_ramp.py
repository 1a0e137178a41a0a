"""Wall time and memory of the jump and ramp_fit algorithms on a full-frame NIR ramp.

Makes 1 x 10 x 2048 x 2048 float32 ramps (MEDIUM8 timing, read noise and a faint
dark signal, a few hundred injected jumps), then times ``detect_jumps`` and
``fit_ramps`` alone (no framework, no file I/O): one warm-up call, then the median,
min and max of N calls; then ramp_fit 1.1.0 (smoothed variance rate) and 1.0.0 interleaved.
Numba's compile time is measured apart, on a tiny ramp, with
an empty cache directory; a child process then times the first call again with that
cache filled (the cost a fresh ``strun`` pays). Peak RSS comes from
``resource.getrusage``. Prints figures beside their targets; asserts nothing.

    python benchmarks/nir_ramp.py [--runs N] [--size N] [--groups N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_S = 1.5  # jump + ramp_fit together, full frame, 10 groups, 2 cores
TFRAME = 10.73677
NFRAMES, GROUPGAP = 8, 2  # MEDIUM8
GAIN, READNOISE = 2.0, 5.0  # e-/DN; DN per frame
FIRST_CALL = """
import time
t0 = time.perf_counter()
import numpy as np
from calpipe.steps.jump.algorithm import detect_jumps
from calpipe.steps.ramp_fit.algorithm import fit_ramps
d = np.zeros((1, 5, 4, 4), np.float32); q = np.zeros(d.shape, np.uint8); o = np.ones((4, 4), np.float32)
detect_jumps(d, q, o, o, 8, groupgap=2); fit_ramps(d, q, None, o, o, 10.0, 8, 2)
print(time.perf_counter() - t0)
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_ramps(ngroups: int, size: int, seed: int = 1):
    """Noise-only ramps: dark 0.01 DN/s, read noise of a MEDIUM8 group; 1 jump per 10^4 pixels."""
    import numpy as np

    rng = np.random.default_rng(seed)
    tgroup = (NFRAMES + GROUPGAP) * TFRAME
    data = np.empty((1, ngroups, size, size), np.float32)
    for k in range(ngroups):  # generated in float32 plane by plane: no float64 temporaries
        rng.standard_normal(dtype=np.float32, out=data[0, k])
        data[0, k] *= READNOISE / np.sqrt(NFRAMES)
        data[0, k] += 0.01 * tgroup * k
    njumps = size * size // 10_000
    ys, xs = rng.integers(0, size, njumps), rng.integers(0, size, njumps)
    for y, x, k in zip(ys, xs, rng.integers(1, ngroups, njumps), strict=True):
        data[0, k:, y, x] += 200.0  # ~90 sigma of a group difference
    gdq = np.zeros(data.shape, np.uint8)
    gain = np.full((size, size), GAIN, np.float32)
    readnoise = np.full((size, size), READNOISE, np.float32)
    return data, gdq, gain, readnoise, tgroup, njumps


def timed(fn, runs: int) -> tuple[list[float], object]:
    fn()  # warm-up
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return times, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", type=int, default=2048, help="rows = columns of the ramp")
    ap.add_argument("--groups", type=int, default=10)
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as cache:
        os.environ["NUMBA_CACHE_DIR"] = cache  # before numba is imported: compile from scratch
        import numba
        import numpy as np

        from calpipe.steps.jump.algorithm import detect_jumps
        from calpipe.steps.ramp_fit.algorithm import fit_ramps

        tiny = np.zeros((1, 5, 4, 4), np.float32)
        tiny_q, ones = np.zeros(tiny.shape, np.uint8), np.ones((4, 4), np.float32)
        start = time.perf_counter()
        detect_jumps(tiny, tiny_q, ones, ones, NFRAMES, groupgap=GROUPGAP)
        compile_jump = time.perf_counter() - start
        start = time.perf_counter()
        fit_ramps(tiny, tiny_q, None, ones, ones, 10.0, NFRAMES, GROUPGAP)
        compile_fit = time.perf_counter() - start
        child = subprocess.run([sys.executable, "-c", FIRST_CALL], capture_output=True, text=True,
                               env=dict(os.environ), check=True)
        cached_first_call = float(child.stdout.strip())

    rss_start = peak_rss_mb()
    data, gdq, gain, readnoise, tgroup, njumps = make_ramps(args.groups, args.size)
    rss_inputs = peak_rss_mb()
    t_jump, gdq_out = timed(lambda: detect_jumps(data, gdq, gain, readnoise, NFRAMES, groupgap=GROUPGAP),
                            args.runs)
    rss_jump = peak_rss_mb()
    t_fit, fit = timed(lambda: fit_ramps(data, gdq_out, None, gain, readnoise, tgroup, NFRAMES, GROUPGAP),
                       args.runs)
    rss_fit = peak_rss_mb()
    # ramp_fit 1.1.0 (Poisson variance at the local median rate) against 1.0.0, calls interleaved
    versions = {"ramp_fit 1.0.0": {}, "ramp_fit 1.1.0": {"rate_window": 5, "quantum": 1.0}}
    t_versions: dict[str, list[float]] = {label: [] for label in versions}
    for _ in range(args.runs):
        for label, options in versions.items():
            start = time.perf_counter()
            fit_ramps(data, gdq_out, None, gain, readnoise, tgroup, NFRAMES, GROUPGAP, **options)
            t_versions[label].append(time.perf_counter() - start)
    rss_fit_new = peak_rss_mb()

    shape = "x".join(map(str, data.shape))
    print(f"nir_ramp: detect_jumps and fit_ramps on {shape} float32 (MEDIUM8, {njumps} injected jumps), "
          f"{args.runs} runs after 1 warm-up, numba {numba.__version__}, {numba.get_num_threads()} threads "
          f"(Python {sys.version.split()[0]})")
    print(f"{'step':<16}  {'median':>8}  {'min':>8}  {'max':>8}")
    for label, times in (("jump", t_jump), ("ramp_fit", t_fit)):
        print(f"{label:<16}  {statistics.median(times):>7.3f}s  {min(times):>7.3f}s  {max(times):>7.3f}s")
    new, old = (statistics.median(t_versions[f"ramp_fit 1.{k}.0"]) for k in (1, 0))
    print(f"{'ramp_fit 1.1.0':<16}  {new:>7.3f}s  (1.0.0 interleaved {old:.3f}s: ratio {new / old:.2f}; "
          f"peak RSS {rss_fit_new:.0f} MB)")
    total = statistics.median(t_jump) + statistics.median(t_fit)
    print(f"{'jump + ramp_fit':<16}  {total:>7.3f}s  target {TARGET_S:.1f}s  "
          f"{'ok' if total <= TARGET_S else 'MISS'}")
    flagged = int(np.count_nonzero(gdq_out & 4))
    print(f"jump flags: {flagged} (injected {njumps}, each with up to 4 neighbours); "
          f"median slope {float(np.nanmedian(fit.slope)):.4f} DN/s (truth 0.01)")
    print(f"numba compile (empty cache, tiny ramp): jump {compile_jump:.2f}s, ramp_fit {compile_fit:.2f}s; "
          f"first call in a fresh process with the cache filled (imports included): {cached_first_call:.2f}s")
    print(f"peak RSS: {rss_start:.0f} MB before the inputs, {rss_inputs:.0f} MB with them "
          f"({data.nbytes / 2**20:.0f} MB data + {gdq.nbytes / 2**20:.0f} MB group DQ), "
          f"{rss_jump:.0f} MB after jump, {rss_fit:.0f} MB after ramp_fit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
