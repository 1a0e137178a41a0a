"""Lock a pipeline release: freeze its definition hash and the sha256 of its output on a tiny input.

    python tests/releases/lock_release.py NAME@VERSION [...]

Run it once, when a release is published. It never rewrites an existing lock:
a released pipeline whose output changes must become a new release instead.
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


def array_digests(path: Path) -> dict[str, str]:
    """sha256 of SCI, ERR, DQ (and a source list) as little-endian bytes, independent of FITS byte order."""
    from calpipe.core.io import open_product

    product = open_product(path)
    out = {}
    for label, attr in (("SCI", "data"), ("ERR", "err"), ("DQ", "dq")):
        if getattr(product, attr, None) is None:  # a source list has no image
            continue
        array = np.asarray(getattr(product, attr))
        out[label] = hashlib.sha256(array.astype(array.dtype.newbyteorder("<")).tobytes()).hexdigest()
    sources = getattr(product, "sources", None)
    if sources is not None:  # a Level 3 source list
        digest = hashlib.sha256()
        for name in sources.dtype.names:
            column = np.asarray(sources[name])
            digest.update(column.astype(column.dtype.newbyteorder("<")).tobytes())
        out["SOURCES"] = digest.hexdigest()
    return out


def run(release: str, source: Path, out_dir: Path) -> Path:
    """The release's product from ``source``, with the release's own reference context."""
    from calpipe.core.api import run as run_pipeline

    report = run_pipeline(release, [source], out_dir, on_error="raise")
    [product] = (p for p in report.outputs if p.stem.endswith(f"_{report.pipeline.suffix}"))
    return product


def saved_digests(product: Path) -> dict[str, dict[str, str]]:
    """Digests of the other products a run saved beside ``product`` (e.g. a mosaic beside its list)."""
    stem = product.name[: product.name.rindex("_")]
    return {p.name[len(stem) + 1: -len(".fits")]: array_digests(p)
            for p in sorted(product.parent.glob(f"{stem}_*.fits")) if p != product}


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
        product = run(release, source, Path(tmp) / "out")
        entry = {"definition_sha256": pipeline.sha256(), "input": source.name,
                 "outputs": array_digests(product)}
        if saved := saved_digests(product):
            entry["saved"] = saved
        return entry


def main(releases: list[str]) -> int:
    locks = json.loads(LOCKS.read_text()) if LOCKS.exists() else {}
    for release in releases:
        if release in locks:
            print(f"{release} is already locked; a changed release must be published as a new version")
            return 1
        locks[release] = lock(release)
        print(f"locked {release}")
    LOCKS.write_text(json.dumps(dict(sorted(locks.items())), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
