"""Every product type of every instrument carries the keywords users expect of any FITS image.

TELESCOP, INSTRUME, DETECTOR, DATE-OBS and EXPTIME in the primary header; BUNIT on the SCI
array; RADESYS wherever there is a celestial WCS; FILTER for nir, the instrument with filters
(IRAC's and MIPS's band is their detector, DETECTOR says which). Level 3 EXPTIME is the sum
over the exposures combined.
"""

from __future__ import annotations

import pytest
from astropy.io import fits

from calpipe.core.cli.strun import main as strun

PRODUCTS = [
    ("demo", "cal"), ("nir", "uncal"), ("nir", "rate"), ("nir", "cal"), ("nir", "i2d"), ("nir", "cat"),
    ("irac", "raw"), ("irac", "bcd"), ("irac", "i2d"), ("irac", "cat"),
    ("mips", "raw24"), ("mips", "raw70"), ("mips", "raw160"), ("mips", "bcd24"), ("mips", "bcd70"),
    ("mips", "bcd160"), ("mips", "i2d_mips24"), ("mips", "i2d_mips70"), ("mips", "bandmerge"),
]


def _run(*args) -> None:
    assert strun([*map(str, args), "-q"]) == 0, args


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One small product of each type, made with the README's commands."""
    from calpipe.instruments.demo.simulate import make_demo_data
    from calpipe.instruments.irac.simulate import simulate as irac
    from calpipe.instruments.mips.simulate import simulate as mips
    from calpipe.instruments.nir.simulate import simulate_dithers

    root = tmp_path_factory.mktemp("keywords")
    files: dict[tuple[str, str], object] = {}
    demo = make_demo_data(root / "demo")
    _run("generic_image2", demo.image, "-o", root / "demo")
    files["demo", "cal"] = root / "demo" / "demo_image_cal.fits"

    raws = [s.raw for s in simulate_dithers(root / "nir", 2, seed=1, subarray=64, ngroups=4)]
    _run("nir_detector1", *raws, "-o", root / "nir")
    _run("nir_image2", *sorted((root / "nir").glob("*_rate.fits")), "-o", root / "nir")
    _run("nir_image3", *sorted((root / "nir").glob("*_cal.fits")), "-o", root / "nir")

    sims = irac(root / "irac", channel=1, naor_frames=2, seed=4)
    _run("irac_bcd", *(s.raw for s in sims), "-o", root / "irac")
    _run("irac_postbcd", *sorted((root / "irac").glob("*_bcd.fits")), "-o", root / "irac")

    for band in (24, 70, 160):
        bcd = root / f"mips{band}"
        _run(f"mips{band}_bcd", *(s.raw for s in mips(bcd, band, 2, seed=3)), "-o", bcd)
    _run("mips_postbcd", *sorted((root / "mips24").glob("*_bcd.fits")),
         *sorted((root / "mips70").glob("*_bcd.fits")), "-o", root / "mips")
    for band, code in ((24, "M1"), (70, "M2"), (160, "M3")):
        files["mips", f"raw{band}"] = next((root / f"mips{band}").glob(f"SPITZER_{code}_*_raw.fits"))
        files["mips", f"bcd{band}"] = next((root / f"mips{band}").glob(f"SPITZER_{code}_*_bcd.fits"))
    for kind in ("i2d_mips24", "i2d_mips70", "bandmerge"):
        files["mips", kind] = next((root / "mips").glob(f"*_{kind}.fits"))
    for inst, kind in PRODUCTS:
        if (inst, kind) not in files:
            files[inst, kind] = next((root / inst).glob(f"*_{kind}.fits"))
    return files


@pytest.mark.parametrize("instrument, kind", PRODUCTS)
def test_the_basic_keyword_set(made, instrument, kind):
    path = made[instrument, kind]
    with fits.open(path) as hdul:
        primary = hdul[0].header
        sci = hdul["SCI"].header if "SCI" in hdul else None
    wanted = ["TELESCOP", "INSTRUME", "DETECTOR", "DATE-OBS", "EXPTIME"] + (["FILTER"] * (instrument == "nir"))
    missing = [k for k in wanted if primary.get(k) in (None, "")]
    assert not missing, f"{path.name} lacks {missing}"
    assert primary["EXPTIME"] > 0
    if sci is not None:
        assert sci.get("BUNIT"), f"{path.name}: SCI has no BUNIT"
        if "CTYPE1" in sci:
            assert sci.get("RADESYS") == "ICRS", f"{path.name}: a WCS without RADESYS"
    assert sci is not None or kind in ("cat", "bandmerge")


def test_level3_exptime_is_the_sum_of_the_members(made):
    members = sorted(made["irac", "raw"].parent.glob("*_bcd.fits"))
    total = sum(fits.getheader(m)["EXPTIME"] for m in members)
    assert fits.getheader(made["irac", "i2d"])["EXPTIME"] == pytest.approx(total, rel=1e-12)
