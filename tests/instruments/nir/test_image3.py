"""nir_image3 through the run API on dithered simulated exposures: mosaic and source list against truth."""

from __future__ import annotations

import asdf
import numpy as np
import pytest

from calpipe.core import provenance
from calpipe.core.api import run
from calpipe.core.io import open_product
from calpipe.instruments.nir.simulate import PIXEL_SCALE_ARCSEC, simulate_dithers
from calpipe.steps.wcs import celestial_wcs
from tests.scoring import score

NDITHER = 4


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    root = tmp_path_factory.mktemp("field")
    sims = simulate_dithers(root / "raw", NDITHER, seed=5, subarray=256, ngroups=6)
    for sim in sims:
        run("nir_detector1", [sim.raw], root / "rate", on_error="raise")
    run("nir_image2", sorted((root / "rate").glob("*_rate.fits")), root / "cal", on_error="raise")
    cals = sorted((root / "cal").glob("*_cal.fits"))
    run("nir_image3", cals, root / "l3", on_error="raise")
    with asdf.open(sims[0].truth, lazy_load=False, memmap=False) as af:
        truth = {k: np.asarray(af.tree["sources"][k]) for k in ("ra", "dec", "flux")}
        sky = af.tree["parameters"]["sky_background_mjysr"]
    return root / "l3" / "nir_00001_001_i2d.fits", cals, truth, sky


def test_mosaic_sky_and_sources_match_truth(field):
    path, cals, truth, sky = field
    m = open_product(path)
    assert m.meta.mosaic.ncombine == NDITHER and m.meta.data_level == 3
    # the mosaic keeps the exposures' mean level (each is within a few % of the true sky at 6 groups)
    levels = [np.median(c.data[(c.dq & 1) == 0]) for c in map(open_product, cals)]
    assert abs(np.nanmedian(m.data[m.coverage >= NDITHER]) / np.mean(levels) - 1) < 0.005
    assert abs(np.mean(levels) / sky - 1) < 0.05
    x, y = celestial_wcs(m, path.name).world_to_pixel_values(truth["ra"], truth["dec"])
    xi = np.clip(np.rint(x).astype(int), 0, m.data.shape[1] - 1)
    yi = np.clip(np.rint(y).astype(int), 0, m.data.shape[0] - 1)
    inside = (m.coverage[yi, xi] >= NDITHER) & (x > 5) & (y > 5)
    inside &= (x < m.data.shape[1] - 6) & (y < m.data.shape[0] - 6)
    s = score(m.sources, truth["ra"], truth["dec"], truth["flux"] * 1e-3, radius_arcsec=0.02, inside=inside)
    assert abs(s.flux_ratio_psf - 1) < 0.02 and abs(s.flux_ratio_aper - 1) < 0.02
    assert s.position_rms_arcsec < 0.1 * PIXEL_SCALE_ARCSEC
    assert s.completeness >= 0.9 and s.reliability >= 0.95
    assert 0.9 < s.pull_std_psf < 1.2 and 0.9 < s.pull_std_aper < 1.2


def test_association_members_are_in_provenance(field):
    path, cals, _, _ = field
    record = provenance.read(path)
    assert [i["name"] for i in record["inputs"]] == [c.name for c in cals]
    assert {i["provenance"]["pipeline"]["name"] for i in record["inputs"]} == {"nir_image2"}
