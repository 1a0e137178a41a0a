"""irac_radhit: sharp hits found, Gaussian-PSF stars left alone."""

import math
import warnings

import numpy as np
import pytest

from calpipe.core.models.dqflags import DQ
from calpipe.instruments.irac import artifacts as art
from calpipe.instruments.irac.steps.irac_radhit.algorithm import (
    FWHM_PER_SIGMA,
    best_chi2,
    find_hits,
    templates,
)
from calpipe.instruments.irac.steps.irac_radhit.step import IracRadhitStep
from calpipe.instruments.irac.steps.neighbours import dilate, nanmedian

from .helpers import GAIN, SIGMA_READ, bcd, gaussian_star

SKY = 20.0
SIGMA = math.sqrt(SIGMA_READ**2 + SKY / GAIN)  # sky noise of one pixel [DN]


def scene(seed: int, star_fwhm: float = 1.7, nstars: int = 150, nhits: int = 150, shape=(256, 256)):
    """Stars (10^1.5..10^5 DN) + hits of one or two pixels whose peak pixel is 10-300 sigma, with noise."""
    rng = np.random.default_rng(seed)
    image = np.full(shape, SKY)
    stars = rng.uniform(3, shape[0] - 4, (nstars, 2))
    for x, y in stars:
        image += gaussian_star(shape, x, y, 10 ** rng.uniform(1.5, 5.0), star_fwhm)
    hit = np.zeros(shape, bool)
    peaks = rng.integers(3, shape[0] - 3, (nhits, 2))
    extra = np.zeros(shape)
    for y, x in peaks:
        amp = SIGMA * 10 ** rng.uniform(1.0, 1.5)
        extra[y, x] += amp
        hit[y, x] = True
        if rng.random() < 0.5:  # a second pixel with 10-66 % of the peak's charge
            dy, dx = ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1))[rng.integers(5)]
            extra[y + dy, x + dx] += amp * rng.uniform(0.1, 0.66)
            hit[y + dy, x + dx] = True
    truth = image + extra
    var = SIGMA_READ**2 + np.clip(truth, 0, None) / GAIN
    data = truth + rng.normal(0.0, 1.0, shape) * np.sqrt(var)
    return data, np.sqrt(var), hit, peaks, stars


def isolated_stars(stars: np.ndarray, hit: np.ndarray) -> list[tuple[int, int]]:
    """Star centres with no hit pixel within 5 px."""
    out = []
    for x, y in stars:
        cy, cx = round(y), round(x)
        if not hit[max(cy - 5, 0):cy + 6, max(cx - 5, 0):cx + 6].any():
            out.append((cy, cx))
    return out


@pytest.mark.parametrize("planes", [16, 8, 6, 3, 1])
def test_nanmedian_is_numpys_bit_for_bit(planes):
    rng = np.random.default_rng(planes)
    values = rng.normal(size=(planes, 40, 50))
    values[rng.random(values.shape) < 0.3] = np.nan
    values[:, :2, :2] = np.nan  # nothing left: NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels
        expected = np.nanmedian(values, axis=0)
    assert np.array_equal(nanmedian(values).view(np.int64), expected.view(np.int64))


def test_templates_and_chi2_by_hand():
    t = templates(0.6)
    assert t.shape == (121, 25) and np.all(t.sum(axis=1) > 0.99)
    stamp = 50.0 * t[60][None, :]  # centred template, flux 50: fitted exactly
    assert best_chi2(stamp, np.ones((1, 25)), t)[0] == pytest.approx(0.0, abs=1e-9)
    assert best_chi2(-stamp, np.ones((1, 25)), t)[0] == pytest.approx((stamp**2).sum())  # flux >= 0


@pytest.mark.parametrize(("seed", "model_fwhm"), [(11, 1.7), (12, 1.36)])
def test_sharp_hits_found_and_fwhm_1p7_stars_left_alone(seed, model_fwhm):
    data, err, hit, peaks, stars = scene(seed)
    found = find_hits(data, err, np.ones(data.shape, bool), model_fwhm / FWHM_PER_SIGMA)
    assert found[peaks[:, 0], peaks[:, 1]].mean() >= 0.9  # hits whose peak pixel is >= 10 sigma
    alone = isolated_stars(stars, hit)
    assert len(alone) > 100
    falsely = sum(found[y - 2:y + 3, x - 2:x + 3].any() for y, x in alone)
    assert falsely <= 0.01 * len(alone)
    assert not (found & ~dilate(hit, 1)).any()  # other flags only beside a hit (its grown footprint)
    assert (found & ~hit).sum() <= 10


def test_second_pixels_of_a_hit_are_grown_into_the_flag():
    data = np.full((15, 15), SKY)
    data[7, 7] += 60 * SIGMA
    data[7, 8] += 30 * SIGMA
    found = find_hits(data, np.full(data.shape, SIGMA), np.ones(data.shape, bool), 1.36 / FWHM_PER_SIGMA)
    assert found.sum() == 2 and found[7, 7] and found[7, 8]


def test_step_sets_radhit_and_outlier_and_keeps_the_data():
    data, err, _, peaks, _ = scene(13, nstars=20, nhits=20, shape=(64, 64))
    model = bcd(data, err=err)
    dq = model.dq.copy()
    sat_y, sat_x = peaks[0]
    dq[sat_y, sat_x + 1] = DQ.SATURATED | DQ.DO_NOT_USE  # next to a saturated pixel: never flagged
    model.dq = dq
    out = IracRadhitStep().process(model, {}, IracRadhitStep.Params())
    flagged = (out.artifacts & art.RADHIT) != 0
    assert flagged[peaks[1:, 0], peaks[1:, 1]].mean() >= 0.9 and not flagged[sat_y, sat_x]
    assert np.all(out.dq[flagged] & DQ.OUTLIER) and not np.any(out.dq[flagged] & DQ.DO_NOT_USE)
    assert np.array_equal(out.data, data.astype(np.float32))
    strict = IracRadhitStep().process(bcd(data, err=err), {}, IracRadhitStep.Params(do_not_use=True))
    assert np.all(strict.dq[(strict.artifacts & art.RADHIT) != 0] & DQ.DO_NOT_USE)
