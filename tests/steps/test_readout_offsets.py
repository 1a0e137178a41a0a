"""readout_offsets: sky offsets of interleaved readout channels (jailbars), shared by IRAC and MIPS 24 um."""

import numpy as np
import pytest

from calpipe.steps.readout_offsets import channel_offsets, equalise

SHAPE = (64, 64)


def groups(x0=0, n=4):
    return [slice((c - x0) % n, None, n) for c in range(n)]


def barred(offsets, x0=0, seed=1):
    rng = np.random.default_rng(seed)
    data = (100.0 + rng.normal(0.0, 1.0, SHAPE)).astype(np.float32)
    for c, cols in enumerate(groups(x0)):
        data[:, cols] += np.float32(offsets[c])
    return data


@pytest.mark.parametrize("x0", [0, 1, 3])
def test_offsets_recovered_about_their_mean(x0):
    true = np.array([2.0, -1.0, 0.5, -1.5])
    data = barred(true, x0)
    data[10, 10] = 1e6  # a source or hit is clipped from the sky
    found = channel_offsets(data, np.ones(SHAPE, bool), groups(x0))
    assert found.offsets == pytest.approx(true - true.mean(), abs=0.1)
    assert np.all(found.errors < 0.05), "offset errors under 0.05"
    assert found.npix.sum() < data.size, "the clipped pixel is excluded"


def test_median_dtype_is_the_callers():
    data = barred([0.3, 0.0, 0.0, 0.0])
    usable = np.ones(SHAPE, bool)
    own = channel_offsets(data, usable, groups())
    f64 = channel_offsets(data, usable, groups(), dtype=np.float64)
    assert own.offsets == pytest.approx(f64.offsets, abs=1e-5)
    # an even count's median averages two values: in float32 that differs in the last bits, which is why
    # the dtype is the caller's (IRAC: the data's float32, MIPS 24 um: float64) and not unified
    assert own.offsets.tolist() != f64.offsets.tolist()
    assert channel_offsets(data.astype(np.float64), usable, groups()).offsets.tolist() == f64.offsets.tolist()


def test_no_sky_gives_nan():
    found = channel_offsets(np.ones(SHAPE, np.float32), np.zeros(SHAPE, bool), groups())
    assert np.isnan(found.offsets).all(), "offsets NaN"
    assert np.isinf(found.errors).all(), "errors infinite"
    assert found.npix.tolist() == [0] * 4, "no pixels used"


def test_equalise_removes_only_significant_offsets():
    data = barred([2.0, -2.0, 0.0, 0.0])
    found = channel_offsets(data, np.ones(SHAPE, bool), groups())
    out, applied = equalise(data, found, groups(), min_significance=3.0)
    assert out.dtype == np.float32
    assert applied[:, 0::4].all(), "+2 offset applied"
    assert applied[:, 1::4].all(), "-2 offset applied"
    for c, cols in enumerate(groups()):
        assert np.median(out[:, cols]) == pytest.approx(np.median(data) if applied[0, c] else
                                                        np.median(data[:, cols]), abs=0.2)
    untouched, none = equalise(data, found, groups(), min_significance=1e9)
    assert not none.any(), "nothing applied"
    assert np.array_equal(untouched, data), "data untouched"
