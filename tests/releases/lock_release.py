"""Lock a pipeline release: freeze its definition hash, and its output on a tiny input per platform.

    python tests/releases/lock_release.py NAME@VERSION [...]                 # a new release
    python tests/releases/lock_release.py --add-platform NAME@VERSION [...]  # this platform's bytes

A lock holds the sha256 of the output arrays per platform fingerprint (see
calpipe.core.fingerprint: SIMD dispatch, BLAS kernels and numba's target CPU move
low bits between CPUs), and a small golden copy of the output itself
(golden/NAME-VERSION.npz). On a locked platform the test compares bit for bit; on
any other, against the golden copy within RTOL (see :func:`tolerance_problems`).

It never rewrites an existing entry: a released pipeline whose output changes must
become a new release instead. --add-platform adds this platform's entry only when the
output agrees with the golden copy within RTOL, i.e. differs by floating-point noise.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
LOCKS = HERE / "locks.json"
INPUTS = HERE / "inputs"
GOLDEN = HERE / "golden"
#: Floats of a run on an unlocked platform may differ from the golden copy by RTOL × (|value| + the
#: array's median |value|): 10× the largest seen between OpenBLAS kernels (9.6e-8, PSF-fit fluxes).
RTOL = 1e-6


def product_arrays(path: Path) -> dict[str, np.ndarray]:
    """SCI, ERR, DQ and a source list (as one structured array), little-endian, independent of FITS."""
    from calpipe.core.io import open_product

    product = open_product(path)
    out = {}
    for label, attr in (("SCI", "data"), ("ERR", "err"), ("DQ", "dq")):
        if getattr(product, attr, None) is None:  # a source list has no image
            continue
        array = np.asarray(getattr(product, attr))
        out[label] = array.astype(array.dtype.newbyteorder("<"))
    sources = getattr(product, "sources", None)
    if sources is not None:  # a Level 3 source list, column by column (FITS may keep some scaled)
        columns = {name: np.asarray(sources[name]) for name in sources.dtype.names}
        table = np.empty(len(sources), [(n, c.dtype.newbyteorder("<")) for n, c in columns.items()])
        for name, column in columns.items():
            table[name] = column
        out["SOURCES"] = table
    return out


def digests(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    """sha256 of each array's little-endian bytes; a table's columns one after another."""
    out = {}
    for label, array in arrays.items():
        digest = hashlib.sha256()
        for column in ([array[n] for n in array.dtype.names] if array.dtype.names else [array]):
            digest.update(np.ascontiguousarray(column).tobytes())
        out[label] = digest.hexdigest()
    return out


def tolerance_problems(golden: dict[str, np.ndarray], new: dict[str, np.ndarray], where: str) -> list[str]:
    """What in ``new`` is not ``golden`` up to floating-point noise; [] if all agrees.

    Labels, shapes, dtypes, column names, integers and the NaN/inf pattern must be
    equal; finite floats within RTOL × (|golden| + median |golden| of that array).
    """
    if set(golden) != set(new):
        return [f"{where}: arrays {sorted(new)} where the golden copy has {sorted(golden)}"]
    problems = []
    for label in golden:
        a, b = golden[label], new[label]
        if a.shape != b.shape or a.dtype != b.dtype:
            problems.append(f"{where} {label}: shape/dtype {b.shape} {b.dtype}, golden {a.shape} {a.dtype}")
            continue
        pairs = ([(f"{label}.{n}", a[n], b[n]) for n in a.dtype.names] if a.dtype.names
                 else [(label, a, b)])
        for name, x, y in pairs:
            if not np.issubdtype(x.dtype, np.floating):
                if (bad := int(np.sum(x != y))):
                    problems.append(f"{where} {name}: {bad} integer values differ")
                continue
            x, y = x.astype(np.float64), y.astype(np.float64)
            finite = np.isfinite(x)
            if not np.array_equal(x[~finite], y[~finite], equal_nan=True) or not np.isfinite(y[finite]).all():
                problems.append(f"{where} {name}: NaN/inf where the golden copy has other values")
                continue
            scale = float(np.median(np.abs(x[finite]))) if finite.any() else 0.0
            excess = np.abs(y[finite] - x[finite]) - RTOL * (np.abs(x[finite]) + scale)
            if (bad := int(np.sum(excess > 0))):
                worst = float(np.max(np.abs(y[finite] - x[finite]) / (np.abs(x[finite]) + scale)))
                problems.append(f"{where} {name}: {bad} values beyond RTOL {RTOL:g} (worst {worst:.3g})")
    return problems


def all_arrays(product: Path) -> dict[str, dict[str, np.ndarray]]:
    """The product's arrays ("output") and those of every product saved beside it (by suffix)."""
    stem = product.name[: product.name.rindex("_")]
    out = {"output": product_arrays(product)}
    for p in sorted(product.parent.glob(f"{stem}_*.fits")):
        if p != product:
            out[p.name[len(stem) + 1: -len(".fits")]] = product_arrays(p)
    return out


def save_golden(path: Path, arrays: dict[str, dict[str, np.ndarray]]) -> None:
    path.parent.mkdir(exist_ok=True)
    np.savez_compressed(path, **{f"{k}/{label}": a for k, group in arrays.items() for label, a in group.items()})


def load_golden(path: Path) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            group, label = key.split("/")
            out.setdefault(group, {})[label] = z[key]
    return out


def platform_entry(arrays: dict[str, dict[str, np.ndarray]]) -> dict[str, object]:
    """This platform's lock entry: its fingerprint and the digests of its output."""
    from calpipe.core.fingerprint import platform_fingerprint

    entry: dict[str, object] = {"fingerprint": platform_fingerprint(), "outputs": digests(arrays["output"])}
    if saved := {k: digests(v) for k, v in arrays.items() if k != "output"}:
        entry["saved"] = saved
    return entry


def check(lock: dict, arrays: dict[str, dict[str, np.ndarray]], golden: dict[str, dict[str, np.ndarray]],
          platform: str) -> tuple[str, list[str]]:
    """Judge a run against its lock: ("bit for bit" | "within tolerance", problems).

    On a platform the lock has an entry for, the digests must be that entry's; on any
    other, the arrays must agree with the golden copy within RTOL. An entry of another
    platform never stands in for this one. The golden copy must itself still have the
    digests of the entry it was taken from.
    """
    problems = []
    source = lock["platforms"].get(lock["golden"]["platform"])
    if source is None or digests_of(golden) != digests_of_entry(source):
        problems.append(f"golden copy {lock['golden']['file']} does not hold the bytes of platform "
                        f"{lock['golden']['platform']} it was taken from")
    entry = lock["platforms"].get(platform)
    if entry is None:
        for group in sorted(set(golden) | set(arrays)):
            problems += tolerance_problems(golden.get(group, {}), arrays.get(group, {}), group)
        return "within tolerance", problems
    if digests_of(arrays) != digests_of_entry(entry):
        problems.append(f"digests differ from the lock's entry for this platform {platform}")
    return "bit for bit", problems


def digests_of(arrays: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, str]]:
    return {k: digests(v) for k, v in arrays.items()}


def digests_of_entry(entry: dict) -> dict[str, dict[str, str]]:
    return {"output": entry["outputs"], **entry.get("saved", {})}


def run(release: str, source: Path, out_dir: Path) -> Path:
    """The release's product from ``source``, with the release's own reference context."""
    from calpipe.core.api import run as run_pipeline

    report = run_pipeline(release, [source], out_dir, on_error="raise")
    [product] = (p for p in report.outputs if p.stem.endswith(f"_{report.pipeline.suffix}"))
    return product


def _generic_image2(tmp: Path) -> Path:
    from calpipe.instruments.demo.simulate import make_demo_data

    return make_demo_data(tmp, seed=1).image


def _nir_detector1(tmp: Path) -> Path:
    from calpipe.instruments.nir.simulate import simulate

    return simulate(tmp, readpatt="BRIGHT2", ngroups=5, subarray=32, seed=1, sky=5.0).raw


def _nir_image2(tmp: Path) -> Path:
    return run("nir_detector1@1.0.0", INPUTS / "nir_detector1-1.0.0.fits", tmp / "rate")


def _irac_bcd(tmp: Path) -> Path:
    from calpipe.instruments.irac.simulate import simulate

    return simulate(tmp, channel=1, frame_time=12.0, seed=1)[0].raw


def _irac_postbcd(tmp: Path) -> Path:
    return run("irac_bcd@1.1.0", INPUTS / "irac_bcd-1.1.0.fits", tmp / "bcd")


def _nir_image3(tmp: Path) -> list[Path]:
    from calpipe.instruments.nir.simulate import simulate_dithers

    sims = simulate_dithers(tmp / "raw", 3, dither_px=3.0, seed=1, readpatt="BRIGHT2", ngroups=5, subarray=32,
                            sky=5.0)
    return [run("nir_image2@1.0.0", run("nir_detector1@1.0.0", s.raw, tmp / f"rate{k}"), tmp / f"cal{k}")
            for k, s in enumerate(sims)]


def _mips(band: int) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        from calpipe.instruments.mips.simulate import simulate

        return simulate(tmp, band, 1, seed=1)[0].raw  # Ge: 3 MIPS s, with its two stim cycles

    return make


def _mips_postbcd(tmp: Path) -> list[Path]:
    return [run(f"mips{band}_bcd@1.0.0", INPUTS / f"mips{band}_bcd-1.0.0.fits", tmp / str(band))
            for band in (24, 70)]


# How to make the tiny input of each pipeline: add one when a new pipeline is first released.
# A multi-input pipeline's recipe returns its members; they are kept with an association file.
RECIPES: dict[str, Callable[[Path], Path | list[Path]]] = {
    "generic_image2": _generic_image2,
    "nir_detector1": _nir_detector1,
    "nir_image2": _nir_image2,
    "irac_bcd": _irac_bcd,
    "irac_postbcd": _irac_postbcd,
    "nir_image3": _nir_image3,
    "mips24_bcd": _mips(24),
    "mips70_bcd": _mips(70),
    "mips160_bcd": _mips(160),
    "mips_postbcd": _mips_postbcd,
}


def lock(release: str) -> dict[str, object]:
    """A new release's lock: definition, input, golden copy and this platform's entry."""
    from calpipe.core.fingerprint import platform_fingerprint, platform_id
    from calpipe.core.pipeline import resolve
    from calpipe.core.registry import get_registry

    name, _, version = release.partition("@")
    pipeline = resolve(release, get_registry())
    with tempfile.TemporaryDirectory() as tmp:
        source = INPUTS / f"{name}-{version}.fits"
        if not source.exists() and not source.with_suffix(".yaml").exists():
            made = RECIPES[name](Path(tmp))
            if isinstance(made, list):
                members = [INPUTS / f"{name}-{version}-{k}.fits" for k in range(len(made))]
                for member, path in zip(members, made, strict=True):
                    member.write_bytes(path.read_bytes())
                source = source.with_suffix(".yaml")
                source.write_text(f"name: {name}-{version}\nmembers:\n"
                                  + "".join(f"  - {m.name}\n" for m in members))
            else:
                source.write_bytes(made.read_bytes())
        source = source if source.exists() else source.with_suffix(".yaml")
        arrays = all_arrays(run(release, source, Path(tmp) / "out"))
    golden = f"{name}-{version}.npz"
    save_golden(GOLDEN / golden, arrays)
    platform = platform_id(platform_fingerprint())
    return {"definition_sha256": pipeline.sha256(), "input": source.name,
            "golden": {"file": golden, "platform": platform}, "platforms": {platform: platform_entry(arrays)}}


def add_platform(release: str, lock: dict) -> str | None:
    """Add this platform's entry to ``lock``; the reason it must not be added, or None."""
    from calpipe.core.fingerprint import platform_fingerprint, platform_id

    platform = platform_id(platform_fingerprint())
    if platform in lock["platforms"]:
        return f"{release} already has an entry for this platform {platform}"
    with tempfile.TemporaryDirectory() as tmp:
        arrays = all_arrays(run(release, INPUTS / lock["input"], Path(tmp)))
    _, problems = check(lock, arrays, load_golden(GOLDEN / lock["golden"]["file"]), platform)
    if problems:
        return (f"{release} on this platform is not its golden output up to floating-point noise: "
                f"{'; '.join(problems)}; publish a new version instead")
    lock["platforms"][platform] = platform_entry(arrays)
    return None


def main(args: list[str]) -> int:
    locks = json.loads(LOCKS.read_text()) if LOCKS.exists() else {}
    adding = args[:1] == ["--add-platform"]
    for release in args[adding:]:
        if adding:
            if release not in locks:
                print(f"{release} is not locked yet: lock it first")
                return 1
            if reason := add_platform(release, locks[release]):
                print(reason)
                return 1
            print(f"added this platform to {release}")
        elif release in locks:
            print(f"{release} is already locked; a changed release must be published as a new version")
            return 1
        else:
            locks[release] = lock(release)
            print(f"locked {release}")
    LOCKS.write_text(json.dumps(dict(sorted(locks.items())), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
