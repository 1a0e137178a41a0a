"""24 um step algorithms on hand-made arrays, with values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from calpipe.core.errors import InputDataError
from calpipe.core.models.dqflags import DQ
from calpipe.instruments.mips import artifacts as art
from calpipe.instruments.mips.sky import point_sources
from calpipe.instruments.mips.steps.mips24_cosmicray.algorithm import find_hits
from calpipe.instruments.mips.steps.mips24_cosmicray.step import Mips24CosmicRayStep
from calpipe.instruments.mips.steps.mips24_droop.algorithm import remove
from calpipe.instruments.mips.steps.mips24_flat.algorithm import flat_at, spots
from calpipe.instruments.mips.steps.mips24_jailbar.algorithm import channel_offsets, equalise
from calpipe.instruments.mips.steps.mips24_linearity.algorithm import correct
from calpipe.instruments.mips.steps.mips24_linearity.step import Mips24LinearityStep
from calpipe.instruments.mips.steps.mips24_saturation.algorithm import consistent, expected_slope, linearise
from calpipe.instruments.mips.steps.mips24_slope.algorithm import decode, difference_variance, slope_variance
from calpipe.instruments.mips.steps.mips24_slope.step import Mips24SlopeStep

from .helpers import bcd24, reference


def test_decode_words():
    words = np.array([[[512 + 16 * 10, 512]], [[512 + 7, 500]]], np.uint16)  # (2, 1, 2)
    slope, diff = decode(words, 16.0, 512.0, 512.0, 0.5)
    assert np.allclose(slope, [[20.0, 0.0]]), "slope"
    assert np.allclose(diff, [[14.0, -24.0]]), "first difference"


def test_variances_by_hand():
    # n = 3, dt = 1: read 12 s^2 / (3 * 8) = s^2 / 2; Poisson 6 * 10 / (5 * 3 * 8) r / g = r / (2 g)
    vp, vr = slope_variance(np.array([10.0]), 3, 1.0, 5.0, 2.0)
    assert np.isclose(vr[0], 2.0), "read-noise variance"
    assert np.isclose(vp[0], 1.0), "Poisson variance"
    vp, vr = difference_variance(np.array([10.0]), 1.0, 5.0, 2.0)
    assert np.isclose(vr[0], 8.0), "read-noise variance"
    assert np.isclose(vp[0], 2.0), "Poisson variance"


def test_linearity_is_exact_inverse():
    r = np.array([10.0, 500.0, 3000.0])
    alpha = np.full(3, -2e-6)
    k = 11.0
    m = r + alpha * r * r * k
    rate, err, bad = correct(m, np.ones(3), alpha, k)
    assert np.allclose(rate, r, rtol=1e-6), "rate recovered"
    assert not bad.any(), "no pixel flagged"
    assert np.allclose(err, 1 / np.sqrt(1 + 4 * alpha * k * m), rtol=1e-6)
    assert np.allclose(linearise(m, np.zeros(3), k), m)


def test_linearity_step_uses_the_difference_times_for_substituted_pixels():
    dt, n = 0.5, 20
    r = 4000.0
    alpha = -2e-6
    k_slope, k_diff = dt + n * dt, dt + 2 * dt
    model = bcd24([[r + alpha * r * r * k_slope, r + alpha * r * r * k_diff]], nreads=n, dt=dt)
    model.artifacts[0, 1] = art.DIFF_SUBSTITUTED
    out = Mips24LinearityStep().process(model, {"linearity": reference("linearity", np.full((1, 1, 2), alpha))},
                                        Mips24LinearityStep.Params())
    assert np.allclose(out.data, r, rtol=1e-6)


def test_saturation_consistency_tells_saturation_from_a_cosmic_ray():
    times = (np.arange(20) + 1) * 0.5
    alpha, well = np.array([0.0]), np.array([30000.0])
    # saturated: 6000 DN/s reaches 30000 DN at 5 s; the clipped ramp's slope is what was measured
    measured = expected_slope(np.array([6000.0]), alpha, well, times)
    assert measured[0] < 6000.0
    assert consistent(measured, np.array([6000.0]), alpha, well, times)[0]
    # a 3000 DN hit between the first two samples of a 400 DN/s ramp: large difference, ordinary slope
    d = times - times.mean()
    slope = 400.0 + 3000.0 * (d[1:].sum() / (d * d).sum())
    assert not consistent(np.array([slope]), np.array([400.0 + 3000.0 / 0.5]), alpha, well, times)[0]


def test_droop_removal_is_exact():
    rng = np.random.default_rng(1)
    r = rng.uniform(10, 100, (8, 8))
    c = np.full((8, 8), 0.3) + 0.01 * rng.standard_normal((8, 8))
    m = r + c * r.mean()
    out, signal, _ = remove(m, c)
    assert np.isclose(signal, r.mean()), "signal is the mean rate"
    assert np.allclose(out, r, atol=1e-4), "output is the rate"


def test_flat_interpolates_between_scan_positions_and_marks_spots():
    cube = np.stack([np.ones((2, 2)), np.full((2, 2), 2.0), np.full((2, 2), 4.0)])
    cube[1, 0, 0] = 0.5  # a spot at the middle position
    positions = np.array([-1.0, 0.0, 1.0])
    assert np.allclose(flat_at(cube, positions, 0.5)[1, 1], 3.0)
    assert np.allclose(flat_at(cube, positions, 0.0), cube[1])
    with pytest.raises(ValueError, match="outside"):
        flat_at(cube, positions, 1.5)
    assert spots(cube, cube[1], 0.05).tolist() == [[True, False], [False, False]]


def test_jailbar_offsets_found_and_removed():
    rng = np.random.default_rng(2)
    data = 100.0 + rng.standard_normal((64, 64))
    true = np.array([2.0, -1.0, 0.5, -1.5])
    data += true[np.arange(64) % 4][None, :]
    found = channel_offsets(data, np.ones(data.shape, bool))
    assert np.allclose(found.offsets, true, atol=0.1)
    out, applied = equalise(data, found)
    assert applied.all(), "correction applied everywhere"
    assert abs(out[:, 0::4].mean() - out[:, 1::4].mean()) < 0.1, "columns agree after correction"


def test_cosmic_ray_flagged_point_source_not():
    sky = np.full((40, 40), 100.0)
    image = sky + point_sources(np.array([10.3, 30.0]), np.array([10.6, 30.0]), np.array([4000.0, 4000.0]),
                                1.0, sky.shape)
    image[25, 12] += 500.0  # a hit: sharp
    image[24:27, 11:14] += np.array([[5, 20, 5], [20, 0, 20], [5, 20, 5]])  # its small footprint
    err = np.full(sky.shape, 2.0)
    hits, foot = find_hits(image, err, np.ones(sky.shape, bool))
    assert hits[25, 12], "the hit pixel is found"
    assert hits.sum() == 1, "only one hit found"
    # the side neighbours above 5 sigma too
    assert foot[25, 12], "hit pixel in the footprint"
    assert foot[24, 12], "side neighbour in the footprint"
    assert not foot[5:16, 5:16].any(), "no footprint on the first point source"
    assert not foot[25:36, 25:36].any(), "no footprint on the second point source"


def test_cosmic_ray_step_only_flags():
    model = bcd24(np.full((10, 10), 50.0))
    model.data[5, 5] = 300.0
    before = model.data.copy()
    out = Mips24CosmicRayStep().process(model, {}, Mips24CosmicRayStep.Params())
    assert np.array_equal(out.data, before)
    assert out.dq[5, 5] & DQ.JUMP_DET


def test_slope_step_refuses_a_ge_product():
    model = bcd24(np.zeros((2, 20)))
    model.meta.mips.band, model.meta.instrument.detector = 160, "MIPS160"
    with pytest.raises(InputDataError, match=r"MIPSBAND = 160.*mips24_slope takes 24 um"):
        Mips24SlopeStep.check_input(model)


def test_jailbar_refuses_a_raw_dce():
    from calpipe.instruments.mips.models import Mips24RawModel
    from calpipe.instruments.mips.steps.mips24_jailbar.step import Mips24JailbarStep

    model = Mips24RawModel(data=np.zeros((2, 4, 4), np.uint16))
    model.meta.filename = "r_raw.fits"
    with pytest.raises(InputDataError, match=r"^r_raw.fits: mips24_jailbar needs a float 2-D MIPS image "
                                             r"\(MipsBcdModel\); run mips24_slope or mips_ge_slope first$"):
        Mips24JailbarStep().process(model, {}, Mips24JailbarStep.Params())
