"""The simulation kit against hand-computed truths, on several seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calpipe.sim.cosmic_rays import draw_hits, empty_tables
from calpipe.sim.defects import BOUNDS, draw_bad_pixels
from calpipe.sim.psf import pixel_fractions, point_source_image


def test_pixel_fractions_of_a_centred_gaussian_match_erf():
    # pixel 0 spans -0.5..0.5: erf(0.5 / (sigma sqrt 2)) of the light
    fractions = pixel_fractions(0.0, 1.0, -1, 2)
    assert fractions[1] == pytest.approx(math.erf(0.5 / math.sqrt(2.0)))
    assert fractions[0] == pytest.approx(fractions[2])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_source_image_keeps_the_flux_and_the_centroid(seed):
    rng = np.random.default_rng(seed)
    x, y, sigma = *rng.uniform(20, 40, 2), rng.uniform(1.0, 2.0)  # centroid bias ~exp(-2 pi² sigma²)
    image = point_source_image([(x, y, 1000.0)], sigma, (64, 64))
    assert image.sum() == pytest.approx(1000.0, rel=1e-7)  # beyond 6 sigma: 2e-9 per axis
    yy, xx = np.indices(image.shape)
    assert (image * xx).sum() / image.sum() == pytest.approx(x, abs=1e-6)
    assert (image * yy).sum() / image.sum() == pytest.approx(y, abs=1e-6)


def test_point_source_image_clips_sources_off_the_array():
    image = point_source_image([(-3.0, 10.0, 1.0), (500.0, 10.0, 1.0)], 1.0, (20, 20))
    assert 0.0 < image.sum() < 0.01  # only the far wing of the first source lands; the second not at all


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_hits_are_poisson_in_number_and_lognormal_in_charge(seed):
    rng = np.random.default_rng(seed)
    counts, charges = [], []
    for _ in range(200):
        hits = draw_hits(rng, 50.0, 10.0, (32, 16), 3000.0, 0.8)
        counts.append(hits.time.size)
        charges.append(hits.charge)
        assert hits.time.min(initial=0.0) >= 0.0
        assert hits.time.max(initial=0.0) <= 10.0
        assert hits.x.max(initial=0.0) <= 15.5
        assert hits.y.max(initial=0.0) <= 31.5
    assert np.mean(counts) == pytest.approx(50.0, abs=4 * math.sqrt(50.0 / 200))
    log_charge = np.log(np.concatenate(charges))
    assert np.median(log_charge) == pytest.approx(math.log(3000.0), abs=0.03)
    assert log_charge.std() == pytest.approx(0.8, rel=0.03)


def test_empty_tables_share_one_array_per_dtype():
    hits, pixels = empty_tables({"time": np.float64, "y": np.int64}, {"hit": np.int64, "charge": np.float64})
    assert hits["y"] is pixels["hit"]
    assert hits["time"] is pixels["charge"]
    assert hits["time"].dtype == np.float64
    assert hits["time"].size == 0


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_bad_pixel_classes_have_their_fractions_and_spare_the_excluded(seed):
    shape = (512, 512)
    exclude = np.zeros(shape, bool)
    exclude[:4] = True
    hot, dead, low_qe = draw_bad_pixels(np.random.default_rng(seed), shape, exclude)
    expected = np.diff((0.0, *BOUNDS))
    for mask, fraction in zip((hot, dead, low_qe), expected, strict=True):
        n = mask[4:].size
        assert mask[4:].mean() == pytest.approx(fraction, abs=5 * math.sqrt(fraction / n))
        assert not mask[exclude].any()
    assert not (hot & dead).any()
    assert not (dead & low_qe).any()
    assert not (hot & low_qe).any()
