"""irac_jailbar and irac_pulldown: readout-channel and column offsets measured on the sky and removed."""

import numpy as np
import pytest

from calpipe.core.models.dqflags import DQ
from calpipe.instruments.irac import artifacts as art
from calpipe.instruments.irac.steps.irac_jailbar.algorithm import channel_offsets, equalise
from calpipe.instruments.irac.steps.irac_jailbar.step import IracJailbarStep
from calpipe.instruments.irac.steps.irac_pulldown.algorithm import clipped_mean, correct, segments
from calpipe.instruments.irac.steps.irac_pulldown.step import IracPulldownStep

from .helpers import SIGMA_READ, bcd, gaussian_star

SHAPE = (256, 256)


def field(seed: int, nstars: int = 40, bright: tuple = ()) -> np.ndarray:
    """Sky 30 DN + faint stars + ``bright`` (x, y, flux) stars (FWHM 1.4 px) + read noise."""
    rng = np.random.default_rng(seed)
    image = np.full(SHAPE, 30.0)
    for _ in range(nstars):
        image += gaussian_star(SHAPE, *rng.uniform(5, 250, 2), 10 ** rng.uniform(2, 4), 1.4)
    for x, y, flux in bright:
        image += gaussian_star(SHAPE, x, y, flux, 1.4)
    return image + rng.normal(0.0, SIGMA_READ, SHAPE)


def test_jailbar_offsets_are_measured_and_removed():
    clean = field(1)
    injected = np.array([-2.5, 1.1, 0.8, 0.6])  # zero mean, as the four outputs' offsets are defined
    model = bcd(clean + injected[np.arange(256) % 4][None, :])
    found = channel_offsets(model.data, np.ones(SHAPE, bool))
    assert np.abs(found.offsets - injected).max() < 0.05 * SIGMA_READ
    assert np.all(found.errors < 0.02 * SIGMA_READ) and np.all(found.npix > 15000)
    out = IracJailbarStep().process(model, {}, IracJailbarStep.Params())
    resid = out.data - clean
    assert np.abs([resid[:, c::4].mean() for c in range(4)]).max() < 0.05 * SIGMA_READ
    assert np.all((out.artifacts & art.JAILBAR) != 0) and np.all(out.err >= SIGMA_READ)


def test_no_jailbar_means_no_change():
    model = bcd(field(2))
    found = channel_offsets(model.data, np.ones(SHAPE, bool))
    assert np.abs(found.offsets).max() < 0.05 * SIGMA_READ
    out, applied = equalise(model.data, found, min_significance=10.0)
    assert not applied.any() and np.array_equal(out, model.data)


def test_jailbar_ignores_unusable_pixels():
    data = field(3)
    dq = np.zeros(SHAPE, np.uint32)
    data[:, 0::4][:40] = 5000.0
    dq[:, 0::4][:40] = DQ.DO_NOT_USE | DQ.HOT
    out = IracJailbarStep().process(bcd(data, dq=dq), {}, IracJailbarStep.Params())
    assert not ((out.artifacts & art.JAILBAR) != 0).any()  # nothing significant once they are left out


def test_segments_and_clipped_mean_by_hand():
    assert segments(10, np.array([3, 4, 7])) == [(0, 3), (5, 7), (8, 10)]
    assert segments(5, np.array([])) == [(0, 5)]
    mean, err, n = clipped_mean(np.array([1.0, 2.0, 3.0, 2.0, 1000.0]))
    assert (mean, n) == (2.0, 4) and err == pytest.approx(np.std([1, 2, 3, 2], ddof=1) / 2)


@pytest.mark.parametrize("after", [True, False])
def test_pulldown_is_removed_below_a_third_of_the_read_noise(after):
    # column pulldown of 5 DN (1.4 sigma_read) on the rows read after (or before) a bright star
    stars = ((60.3, 100.4, 4e5), (180.7, 150.2, 2e5), (120.2, 30.6, 1.5e5))
    clean = field(4, bright=stars)
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
    data = field(5, bright=((100.5, 100.5, 4e5),))
    out = correct(data, np.ones(SHAPE, bool), data > 2e4)
    assert not out.applied.any() and not out.offsets


def test_jailbar_refuses_a_raw_frame():
    from calpipe.core.errors import InputDataError
    from calpipe.instruments.irac.models import IracRawModel

    model = IracRawModel(data=np.zeros((4, 4), np.uint16))
    model.meta.filename = "r_raw.fits"
    with pytest.raises(InputDataError, match=r"^r_raw.fits: irac_jailbar needs a float 2-D IRAC frame "
                                             r"\(IracBcdModel\); run irac_fowler first$"):
        IracJailbarStep().process(model, {}, IracJailbarStep.Params())
