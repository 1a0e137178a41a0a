"""mips_postbcd through the run API on one simulated AOR in both bands: mosaics, lists and the band merge."""

from __future__ import annotations

import asdf
import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from calpipe.core import provenance
from calpipe.core.api import run
from calpipe.core.io import open_product
from calpipe.instruments.mips.simulate import simulate
from calpipe.steps.band_merge.algorithm import FLAG_NO_COVERAGE, FLAG_UPPER_LIMIT
from calpipe.steps.wcs import celestial_wcs
from tests.scoring import score

NEXP = 8


@pytest.fixture(scope="module")
def aor(tmp_path_factory):
    root = tmp_path_factory.mktemp("mips_aor")
    sims = {band: simulate(root / "raw", band, NEXP, seed=3) for band in (24, 70)}
    for band, pipeline in ((24, "mips24_bcd"), (70, "mips70_bcd")):
        run(pipeline, [s.raw for s in sims[band]], root / "bcd", on_error="raise")
    asn = root / "aor.yaml"
    asn.write_text("name: a23456789\nmembers:\n"
                   + "".join(f"  - bcd/{p.name}\n" for p in sorted((root / "bcd").glob("*_bcd.fits"))))
    run("mips_postbcd", [asn], root / "l3", on_error="raise")
    with asdf.open(sims[24][0].truth, lazy_load=False, memmap=False) as af:
        truth = {k: np.asarray(v) for k, v in af.tree["aor_sources"].items()}
    return root / "l3", truth


def _list(l3, band, truth, radius):
    m = open_product(l3 / f"a23456789_i2d_{band}.fits")
    x, y = celestial_wcs(m, band).world_to_pixel_values(truth["ra"], truth["dec"])
    xi = np.clip(np.rint(x).astype(int), 0, m.data.shape[1] - 1)
    yi = np.clip(np.rint(y).astype(int), 0, m.data.shape[0] - 1)
    inside = (m.coverage[yi, xi] >= 4) & (x > 3) & (y > 3) & (x < m.data.shape[1] - 4) & (y < m.data.shape[0] - 4)
    key = "flux24" if band == "mips24" else "flux70"
    return m, score(m.sources, truth["ra"], truth["dec"], truth[key], radius_arcsec=radius, inside=inside)


def test_each_array_gets_a_mosaic_and_a_source_list(aor):
    l3, truth = aor
    m24, s24 = _list(l3, "mips24", truth, 2.0)
    m70, _ = _list(l3, "mips70", truth, 6.0)
    assert m24.meta.mosaic.ncombine == NEXP and m70.meta.mosaic.ncombine == NEXP
    assert 5.5 < m24.meta.sources.fwhm_arcsec < 7.5 and 16 < m70.meta.sources.fwhm_arcsec < 22
    assert abs(s24.flux_ratio_psf - 1) < 0.02 and abs(s24.flux_ratio_aper - 1) < 0.02
    assert s24.completeness >= 0.9 and s24.reliability >= 0.95
    assert s24.position_rms_arcsec < 0.1 * 2.55


def test_band_merge_pairs_true_counterparts_and_bounds_the_rest(aor):
    l3, truth = aor
    m24, s24 = _list(l3, "mips24", truth, 2.0)
    m70, s70 = _list(l3, "mips70", truth, 6.0)
    merged = open_product(l3 / "a23456789_bandmerge.fits")
    rows = merged.sources
    assert len(rows) == len(m24.sources) and merged.meta.bandmerge.prior_band == "mips24"
    true24 = dict(zip(m24.sources["id"], s24.matched, strict=True))
    true70 = dict(zip(m70.sources["id"], s70.matched, strict=True))
    pairs = {(i, j) for i, t in true24.items() if t >= 0 for j, u in true70.items() if u == t}
    got = {(int(r["id_prior"]), int(r["id_other"])) for r in rows if r["id_other"] >= 0}
    assert len(pairs) >= 5 and pairs <= got and got <= pairs  # every true pair, nothing false
    limits = (rows["flags"] & FLAG_UPPER_LIMIT) != 0
    assert np.all(np.isnan(rows["flux_other_ulim"][~limits]))
    # as in tests/steps/test_band_merge.py: a source with a neighbour within 1.2 70 µm FWHM bringing
    # more than 10 % of its 70 µm flux shares its light with that neighbour's fit (confused)
    sky = SkyCoord(truth["ra"] * u.deg, truth["dec"] * u.deg)
    fwhm = m70.meta.sources.fwhm_arcsec
    confused = np.array([np.any((sky.separation(c).arcsec < 1.2 * fwhm) & (truth["flux70"] > 0.1 * f)
                                & (np.arange(len(sky)) != k)) for k, (c, f) in enumerate(zip(sky, truth["flux70"],
                                                                                             strict=True))])
    ids = rows["id_prior"][limits]
    real = np.array([true24[i] >= 0 and not confused[true24[i]] for i in ids])
    true70_flux = np.array([truth["flux70"][true24[i]] for i in ids])
    below = true70_flux < rows["flux_other_ulim"][limits]
    # 12 of 13 here: the exception (true 2.95 mJy, forced -0.17 +- 0.89) sits 1.5 px from the array edge
    # in most DCEs; the >= 99 % figure is met on 80 sources in tests/steps/test_band_merge.py
    assert real.sum() >= 10 and below[real].mean() >= 0.9


def test_merged_list_provenance_names_every_bcd_and_each_mosaic_its_own(aor):
    l3, _ = aor
    record = provenance.read(l3 / "a23456789_bandmerge.fits")
    assert len(record["inputs"]) == 2 * NEXP
    assert {i["provenance"]["pipeline"]["name"] for i in record["inputs"]} == {"mips24_bcd", "mips70_bcd"}
    assert [s["id"] for s in record["steps"]] == ["mosaic", "i2d", "band_merge"]
    for band, pipeline in (("mips24", "mips24_bcd"), ("mips70", "mips70_bcd")):
        inputs = provenance.read(l3 / f"a23456789_i2d_{band}.fits")["inputs"]
        assert len(inputs) == NEXP and {i["provenance"]["pipeline"]["name"] for i in inputs} == {pipeline}


def test_the_band_merged_list_is_reproduced_bit_for_bit_from_its_provenance(aor, tmp_path):
    from calpipe.core.cli.calpipe import main as calpipe

    l3, _ = aor
    bcd = l3.parent / "bcd"
    product = l3 / "a23456789_bandmerge.fits"
    assert calpipe(["reproduce", str(product), "--search", str(bcd), "-o", str(tmp_path / "again")]) == 0
    assert calpipe(["reproduce", str(product), "-o", str(tmp_path / "missing")]) == 3  # BCDs not found


def test_an_aor_without_70um_gets_its_24um_list_without_counterparts(aor, tmp_path):
    l3, _ = aor
    bcd24 = sorted((l3.parent / "bcd").glob("SPITZER_M1_*_bcd.fits"))
    run("mips_postbcd", bcd24, tmp_path, on_error="raise")
    [merged] = tmp_path.glob("*_bandmerge.fits")
    rows = open_product(merged).sources
    assert len(rows) == len(open_product(next(tmp_path.glob("*_i2d_mips24.fits"))).sources) > 0
    assert np.all(rows["id_other"] == -1) and np.all(rows["flags"] == FLAG_NO_COVERAGE)
    assert np.all(np.isnan(rows["flux_other_ulim"]))
