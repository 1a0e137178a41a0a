"""irac_saturation: the ceiling of a Fowler difference, and saturated stars whose cores fell again."""

import numpy as np
import pytest

from calpipe.core.models.dqflags import DQ
from calpipe.instruments.irac import artifacts as art
from calpipe.instruments.irac.steps.irac_saturation.algorithm import ceiling, find_saturated
from calpipe.instruments.irac.steps.irac_saturation.step import IracSaturationStep

from .helpers import B, N, W, bcd, gaussian_star

WELL = 44000.0


def fowler_difference(linear_per_frame: np.ndarray, well: float = WELL, nfowler: int = N, wait: int = W):
    """(D, saturated) of reads at ticks 1..N and N+W+1..2N+W clipped at the well (linear detector).

    ``linear_per_frame`` = rate x (W + N) ticks; saturated: a signal read reached the well.
    """
    rate = np.asarray(linear_per_frame, np.float64)[..., None] / (wait + nfowler)
    ped = np.minimum(rate * np.arange(1, nfowler + 1), well)
    sig = np.minimum(rate * np.arange(nfowler + wait + 1, 2 * nfowler + wait + 1), well)
    return sig.mean(-1) - ped.mean(-1), (rate * (2 * nfowler + wait) >= well)[..., 0]


def test_ceiling_by_hand_and_by_the_read_model():
    assert ceiling(WELL, 8, 44) == pytest.approx(44000 * 52 / 60)
    just = WELL * 52 / 60  # the last signal read reaches the well exactly
    d, sat = fowler_difference(np.array([just, 2 * just, 100 * just]))
    assert d[0] == pytest.approx(ceiling(WELL, 8, 44)), "saturated value is the ceiling"
    assert sat.all(), "flagged saturated"
    # the double-valued fall: brighter reads fainter, down to 0
    assert d[1] < d[0], "brighter reads lower"
    assert d[2] == 0.0, "every read clipped reads 0"


def star_field(seed: int, n: int = 30, lo: float = 4.5, hi: float = 6.5):
    """Linear DN per frame of stars (FWHM 1.7 px) at least 12 px apart on a 50 DN sky, 128 x 128."""
    rng = np.random.default_rng(seed)
    shape = (128, 128)
    linear = np.full(shape, 50.0)
    placed: list[np.ndarray] = []
    while len(placed) < n:
        xy = rng.uniform(8, 120, 2)
        if all(np.hypot(*(xy - p)) >= 12 for p in placed):
            placed.append(xy)
            linear += gaussian_star(shape, xy[0], xy[1], 10 ** rng.uniform(lo, hi), 1.7)
    return linear


@pytest.mark.parametrize("seed", [5, 6])
def test_saturated_stars_are_flagged_with_their_fallen_cores_and_nothing_below_95_percent(seed):
    linear = star_field(seed, hi=7.0)  # up to ~50x saturation in the peak pixel
    top = ceiling(WELL, 8, 44)
    d, saturated = fowler_difference(linear)
    # deeply fallen pixels
    assert saturated.sum() > 100, "more than 100 saturated"
    assert (saturated & (d < 0.5 * top)).sum() > 20, "more than 20 saturated pixels read below half the top"
    found = find_saturated(d, 0.95 * top)
    flagged = found.saturated | found.fallen
    assert np.array_equal(found.saturated, d >= 0.95 * top)
    assert np.all(flagged[saturated & (d < 0.5 * top)])  # every deeply fallen pixel
    # the rest: rim pixels just past the turnover, which look like wings (documented limit)
    assert (flagged & saturated).sum() >= 0.75 * saturated.sum()
    assert np.all(linear[flagged & ~saturated] >= 0.95 * top)  # nothing below 95 % of saturation
    assert np.all(d[found.fallen] < 0.95 * top)


def test_wings_of_a_bright_unsaturated_star_are_left_alone():
    d = 20.0 + gaussian_star((15, 15), 7.2, 7.0, 100000.0, 1.7)
    assert d.max() < 0.95 * ceiling(WELL, 8, 44)
    found = find_saturated(d, 0.95 * ceiling(WELL, 8, 44))
    assert not found.saturated.any(), "none saturated"
    assert not found.fallen.any(), "none fallen"


def test_a_core_fallen_below_the_threshold_everywhere_is_still_found():
    # 3e6 DN star: not one pixel at the threshold; the dips (centre, sides) are found, the corner pixels,
    # just past the turnover and brighter than their outer neighbours, are not (documented limit)
    linear = 20.0 + gaussian_star((15, 15), 7.0, 7.0, 3e6, 1.7)
    d, saturated = fowler_difference(linear)
    found = find_saturated(d, 0.95 * ceiling(WELL, 8, 44))
    assert not found.saturated.any()
    cross = np.zeros((15, 15), bool)
    cross[7, 6:9] = cross[6:9, 7] = True
    assert np.array_equal(found.fallen, cross), "fallen where expected"
    assert np.all(saturated[cross]), "fallen pixels are saturated"


def test_bad_pixels_are_no_evidence():
    # a low-QE pixel is a dip in a bright star's profile, not a fallen pixel
    linear = 20.0 + gaussian_star((15, 15), 7.0, 7.0, 2e5, 1.7)
    d, _ = fowler_difference(linear)
    d[7, 7] *= 0.5
    threshold = 0.95 * ceiling(WELL, 8, 44)
    assert find_saturated(d, threshold).fallen[7, 7]
    ignore = np.zeros(d.shape, bool)
    ignore[7, 7] = True
    assert not find_saturated(d, threshold, ignore=ignore).fallen.any()


@pytest.mark.parametrize(("channel", "well"), [(1, 44000.0), (3, 55000.0)])
def test_step_flags_dq_and_artifacts(channel, well):
    linear = 20.0 + gaussian_star((15, 15), 7.3, 6.8, 1e6, 1.7)
    d, saturated = fowler_difference(linear, well)
    top = ceiling(well, 8, 44)
    out = IracSaturationStep().process(bcd(d, channel=channel, barrel=B), {}, IracSaturationStep.Params())
    flagged = (out.dq & DQ.SATURATED) != 0
    assert flagged.sum() >= saturated.sum() - 1, "flagged covers the saturated"
    assert not (flagged & ~saturated & (linear < 0.95 * top)).any(), "no faint unsaturated pixel flagged"
    assert np.all(out.dq[flagged] == DQ.SATURATED | DQ.DO_NOT_USE), "flagged pixels carry SATURATED | DO_NOT_USE"
    assert not out.dq[~flagged].any(), "other pixels unflagged"
    fell = (out.artifacts & art.SATURATED_FALLBACK) != 0
    assert fell.sum() >= 2, "at least 2 fallen"
    assert np.all(d[fell] < 0.95 * top), "fallen pixels read below the top"
    assert not (fell & ~flagged).any(), "fallen pixels are flagged"
