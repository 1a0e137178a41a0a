"""mips_postbcd 1.1.0 on fresh fields: the PSF from the psf reference, not fitted to the field.

Seed 101 is the field of issue 22 where 1.0.0 measured a 5.10" 24 um PSF (too few bright
isolated sources: the guess was kept), fluxes came out 30 % faint and bright sources split
into 2-3 detections. Seeds 101, 202, 303 here; seven more in the slow suite.
"""

from __future__ import annotations

import asdf
import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from calpipe.core.cli.strun import main as strun
from calpipe.core.io import open_product
from calpipe.instruments.mips.simulate import simulate
from calpipe.steps.source_catalog.algorithm import FLAG_BLENDED
from calpipe.steps.wcs import celestial_wcs
from tests.scoring import score

NEXP = 8
SEEDS = [101, 202, 303]
SLOW_SEEDS = [pytest.param(s, marks=pytest.mark.slow) for s in (404, 505, 606, 707, 808, 909, 1010)]


@pytest.fixture(scope="module", params=SEEDS + SLOW_SEEDS)
def aor(request, tmp_path_factory):
    seed = request.param
    root = tmp_path_factory.mktemp(f"mips_{seed}")
    sims = {band: simulate(root / "raw", band, NEXP, seed=seed) for band in (24, 70)}
    for band, pipeline in ((24, "mips24_bcd"), (70, "mips70_bcd")):
        assert strun([pipeline, *(str(s.raw) for s in sims[band]), "-o", str(root / "bcd"), "-q"]) == 0
    asn = root / "aor.yaml"
    asn.write_text("name: a1\nmembers:\n" + "".join(f"  - bcd/{p.name}\n"
                                                    for p in sorted((root / "bcd").glob("*_bcd.fits"))))
    assert strun(["mips_postbcd@1.1.0", str(asn), "-o", str(root / "l3"), "-q"]) == 0
    with asdf.open(sims[24][0].truth, lazy_load=False, memmap=False) as af:
        truth = {k: np.asarray(v) for k, v in af.tree["aor_sources"].items()}
    return seed, root / "l3", truth


def _band(l3, band, truth):
    """The mosaic, its score against truth, the true fluxes and which true sources are confused
    (another within 1.2 FWHM bringing more than 10 % of their flux: one peak, as in test_postbcd)."""
    m = open_product(l3 / f"a1_i2d_{band}.fits")
    key, fwhm_true = ("flux24", 6.0) if band == "mips24" else ("flux70", 18.0)
    x, y = celestial_wcs(m, band).world_to_pixel_values(truth["ra"], truth["dec"])
    xi = np.clip(np.rint(x).astype(int), 0, m.data.shape[1] - 1)
    yi = np.clip(np.rint(y).astype(int), 0, m.data.shape[0] - 1)
    inside = (m.coverage[yi, xi] >= 4) & (x > 3) & (y > 3) & (x < m.data.shape[1] - 4) & (y < m.data.shape[0] - 4)
    s = score(m.sources, truth["ra"], truth["dec"], truth[key], radius_arcsec=fwhm_true / 3, inside=inside)
    sky = SkyCoord(truth["ra"] * u.deg, truth["dec"] * u.deg)
    flux = truth[key]
    confused = np.array([np.any((sky.separation(c).arcsec < 1.2 * fwhm_true) & (flux > 0.1 * f)
                                & (np.arange(len(sky)) != k)) for k, (c, f) in enumerate(zip(sky, flux, strict=True))])
    return m, s, flux, confused, fwhm_true


def _clean_pulls(m, s, flux, confused):
    """PSF pulls of unflagged detections matched to an unconfused true source."""
    src = m.sources
    good = (s.matched >= 0) & (src["flags"] == 0)
    good[good] = ~confused[s.matched[good]]
    return ((src["flux_psf"] - flux[np.maximum(s.matched, 0)]) / src["flux_psf_err"])[good]


def test_the_24um_psf_is_the_instrument_s_and_no_source_splits(aor):
    seed, l3, truth = aor
    m, s, flux, confused, fwhm = _band(l3, "mips24", truth)
    assert 5.5 < m.meta.sources.fwhm_arcsec < 7.5 and not m.meta.sources.fwhm_measured
    # a fragment: a detection matched to no true source, within a FWHM of one that is
    det = SkyCoord(m.sources["ra"] * u.deg, m.sources["dec"] * u.deg)
    matched, unmatched = det[s.matched >= 0], det[s.matched < 0]
    fragments = sum(np.any(matched.separation(c).arcsec < fwhm) for c in unmatched) if len(matched) else 0
    pulls = _clean_pulls(m, s, flux, confused)
    print(f"seed {seed} 24um: PSF/aper ratio {s.flux_ratio_psf:.4f}/{s.flux_ratio_aper:.4f}, unconfused pull std "
          f"{np.std(pulls):.2f} ({len(pulls)}), completeness {s.completeness:.3f}, reliability {s.reliability:.3f}, "
          f"blended {m.meta.sources.blended}/{m.meta.sources.count}, fragments {fragments}")
    assert fragments == 0
    # over seeds 101-1010: PSF median +0.57 %, worst +1.40 %; aperture worst +4.7 % (seed 505, 16 sources)
    assert abs(s.flux_ratio_psf - 1) < 0.02 and abs(s.flux_ratio_aper - 1) < 0.05
    assert s.completeness >= 0.75 and s.reliability >= 0.8  # worst 0.778 / 0.812 (seed 505)
    assert abs(np.std(pulls) - 1) < _std_bound(len(pulls))


def _std_bound(n: int) -> float:
    """A std of n unit-normal pulls scatters by 1/sqrt(2n): 3 of those plus the 0.15 of the target."""
    return 3.0 / np.sqrt(2 * n) + 0.15


def test_70um_psf_fluxes_of_unconfused_sources(aor):
    seed, l3, truth = aor
    m, s, flux, confused, _ = _band(l3, "mips70", truth)
    src = m.sources
    good = (s.matched >= 0) & (src["flags"] == 0) & (src["snr"] > 20)
    good[good] = ~confused[s.matched[good]]
    if good.sum() < 2:
        pytest.skip(f"seed {seed}: {good.sum()} unconfused 70 um source(s) at S/N > 20 in this AOR")
    ratio = src["flux_psf"][good] / flux[s.matched[good]]
    pulls = _clean_pulls(m, s, flux, confused)
    print(f"seed {seed} 70um: {good.sum()} unconfused S/N > 20, PSF ratio median {np.median(ratio):.4f} "
          f"(worst {ratio[np.argmax(np.abs(ratio - 1))]:.4f}); unconfused pull std {np.std(pulls):.2f} "
          f"({len(pulls)}), blended {m.meta.sources.blended}/{m.meta.sources.count}")
    # 2-6 such sources per AOR with a 2 % PRF-phase error each: median within 4.5 % (worst 3.9 %,
    # seed 606, 2 sources); the 1 % target of issue 22 holds on 5 of 9 seeds (seed 505 has none)
    assert abs(np.median(ratio) - 1) < 0.045
    assert abs(np.std(pulls) - 1) < _std_bound(len(pulls))


def test_blends_are_counted_in_the_header(aor):
    _, l3, _ = aor
    for band in ("mips24", "mips70"):
        m = open_product(l3 / f"a1_i2d_{band}.fits")
        assert m.meta.sources.blended == np.count_nonzero(m.sources["flags"] & FLAG_BLENDED)


def test_the_band_merge_pairs_every_true_counterpart_and_nothing_else(aor):
    seed, l3, truth = aor
    m24, s24, *_ = _band(l3, "mips24", truth)
    m70, s70, *_ = _band(l3, "mips70", truth)
    true24 = dict(zip(m24.sources["id"], s24.matched, strict=True))
    true70 = dict(zip(m70.sources["id"], s70.matched, strict=True))
    pairs = {(i, j) for i, t in true24.items() if t >= 0 for j, v in true70.items() if v == t}
    rows = open_product(l3 / "a1_bandmerge.fits").sources
    got = {(int(r["id_prior"]), int(r["id_other"])) for r in rows if r["id_other"] >= 0}
    print(f"seed {seed} band merge: {len(pairs & got)} of {len(pairs)} true pairs, {len(got - pairs)} false")
    # 1.0.0 on seed 101: 9 of 11 with 2 false. 1.1.0: none on 101 and 202, one on 303 (as 1.0.0 had);
    # 4 of 10 seeds miss one pair of 10-14 (faint at 70 um, beyond chi2 < 9)
    assert len(got - pairs) <= 1
    assert len(pairs) >= 2 and len(pairs & got) >= 0.85 * len(pairs)
