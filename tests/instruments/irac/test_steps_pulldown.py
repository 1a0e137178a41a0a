"""irac_pulldown: column offsets beside bright stars measured on the sky and removed."""

import numpy as np
import pytest

from calpipe.instruments.irac import artifacts as art
from calpipe.instruments.irac.steps.irac_pulldown.algorithm import clipped_mean, correct, segments
from calpipe.instruments.irac.steps.irac_pulldown.step import IracPulldownStep

from .helpers import SIGMA_READ, bcd, starfield

SHAPE = (256, 256)


def test_segments_and_clipped_mean_by_hand():
    assert segments(10, np.array([3, 4, 7])) == [(0, 3), (5, 7), (8, 10)]
    assert segments(5, np.array([])) == [(0, 5)]
    mean, err, n = clipped_mean(np.array([1.0, 2.0, 3.0, 2.0, 1000.0]))
    assert (mean, n) == (2.0, 4), "mean and count"
    assert err == pytest.approx(np.std([1, 2, 3, 2], ddof=1) / 2), "error of the mean"


@pytest.mark.parametrize("after", [True, False])
def test_pulldown_is_removed_below_a_third_of_the_read_noise(after):
    # column pulldown of 5 DN (1.4 sigma_read) on the rows read after (or before) a bright star
    stars = ((60.3, 100.4, 4e5), (180.7, 150.2, 2e5), (120.2, 30.6, 1.5e5))
    clean = starfield(4, bright=stars)
    truth = np.zeros(SHAPE)
    for col in np.flatnonzero((clean > 3e4).any(axis=0)):
        first = np.argmax(clean[:, col] > 3e4)
        truth[first + 1:, col] = -5.0 if after else 0.0
        truth[:first, col] = 0.0 if after else -5.0
    assert (truth != 0).any(axis=0).sum() >= 5
    model = bcd(clean + truth)
    out = IracPulldownStep().process(model, {}, IracPulldownStep.Params())
    sky = np.abs(clean - 30.0) < 5 * SIGMA_READ  # away from the stars
    for col in np.flatnonzero((truth != 0).any(axis=0)):
        rows = sky[:, col] & (truth[:, col] != 0)
        resid = (out.data - clean)[rows, col].mean()
        assert abs(resid) < 0.3 * SIGMA_READ, (col, resid)
        assert np.all((out.artifacts[rows, col] & art.PULLDOWN) != 0)
    untouched = ~(truth != 0).any(axis=0)
    assert not (out.artifacts[:, untouched] & art.PULLDOWN).any()
    assert np.array_equal(out.data[:, untouched], model.data[:, untouched])


def test_pulldown_leaves_columns_without_an_offset_alone():
    data = starfield(5, bright=((100.5, 100.5, 4e5),))
    out = correct(data, np.ones(SHAPE, bool), data > 2e4)
    assert not out.applied.any(), "nothing applied"
    assert not out.offsets, "no offsets"

