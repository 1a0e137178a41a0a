"""irac_jailbar: readout-channel offsets measured on the sky and removed."""

import numpy as np
import pytest

from calpipe.core.models.dqflags import DQ
from calpipe.instruments.irac import artifacts as art
from calpipe.instruments.irac.steps.irac_jailbar.algorithm import channel_offsets, equalise
from calpipe.instruments.irac.steps.irac_jailbar.step import IracJailbarStep

from .helpers import SIGMA_READ, bcd, starfield

SHAPE = (256, 256)


def test_jailbar_offsets_are_measured_and_removed():
    clean = starfield(1)
    injected = np.array([-2.5, 1.1, 0.8, 0.6])  # zero mean, as the four outputs' offsets are defined
    model = bcd(clean + injected[np.arange(256) % 4][None, :])
    found = channel_offsets(model.data, np.ones(SHAPE, bool))
    assert np.abs(found.offsets - injected).max() < 0.05 * SIGMA_READ
    assert np.all(found.errors < 0.02 * SIGMA_READ), "amplitude errors under 2 % of read noise"
    assert np.all(found.npix > 15000), "more than 15000 pixels per output"
    out = IracJailbarStep().process(model, {}, IracJailbarStep.Params())
    resid = out.data - clean
    assert np.abs([resid[:, c::4].mean() for c in range(4)]).max() < 0.05 * SIGMA_READ
    assert np.all((out.artifacts & art.JAILBAR) != 0), "every pixel flagged JAILBAR"
    assert np.all(out.err >= SIGMA_READ), "error at least the read noise"


def test_no_jailbar_means_no_change():
    model = bcd(starfield(2))
    found = channel_offsets(model.data, np.ones(SHAPE, bool))
    assert np.abs(found.offsets).max() < 0.05 * SIGMA_READ
    out, applied = equalise(model.data, found, min_significance=10.0)
    assert not applied.any(), "nothing applied"
    assert np.array_equal(out, model.data), "data unchanged"


def test_jailbar_ignores_unusable_pixels():
    data = starfield(3)
    dq = np.zeros(SHAPE, np.uint32)
    data[:, 0::4][:40] = 5000.0
    dq[:, 0::4][:40] = DQ.DO_NOT_USE | DQ.HOT
    out = IracJailbarStep().process(bcd(data, dq=dq), {}, IracJailbarStep.Params())
    assert not ((out.artifacts & art.JAILBAR) != 0).any()  # nothing significant once they are left out


def test_jailbar_refuses_a_raw_frame():
    from calpipe.core.errors import InputDataError
    from calpipe.instruments.irac.models import IracRawModel

    model = IracRawModel(data=np.zeros((4, 4), np.uint16))
    model.meta.filename = "r_raw.fits"
    with pytest.raises(InputDataError, match=r"^r_raw.fits: irac_jailbar needs a float 2-D IRAC frame "
                                             r"\(IracBcdModel\); run irac_fowler first$"):
        IracJailbarStep().process(model, {}, IracJailbarStep.Params())

