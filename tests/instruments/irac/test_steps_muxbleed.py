"""irac_muxbleed: the handbook law along the readout order, reproduced and removed."""

import numpy as np
import pytest

from calpipe.instruments.irac import artifacts as art
from calpipe.instruments.irac.steps.irac_muxbleed.algorithm import law, remove, trail
from calpipe.instruments.irac.steps.irac_muxbleed.step import IracMuxbleedStep

from .helpers import SIGMA_READ, bcd, gaussian_star

REF = 4.0e4


def direct_trail(image: np.ndarray, threshold: float = 1.0e4, ref: float = REF) -> np.ndarray:
    """Muxbleed by the definition, pixel by pixel: readout channel x mod 4 reads row by row, +x in a row."""
    ny, nx = image.shape
    per_row = nx // 4
    out = np.zeros(image.shape)
    for y, x in zip(*np.nonzero(image > threshold), strict=True):
        start = y * per_row + x // 4
        for yy in range(ny):
            for xx in range(x % 4, nx, 4):
                n = yy * per_row + xx // 4 - start
                if n >= 1:
                    out[yy, xx] += image[y, x] / ref * 10 ** (3.188 - 2.497 * np.log10(n + 1)
                                                              + 1.201 * np.log10(n + 1) ** 2
                                                              - 0.244 * np.log10(n + 1) ** 3)
    return out


def test_law_by_hand():
    assert law(np.array([0]))[0] == pytest.approx(10**3.188)
    x = np.log10(2.0)
    assert law(np.array([1]))[0] == pytest.approx(10 ** (3.188 - 2.497 * x + 1.201 * x * x - 0.244 * x**3))
    assert law(np.array([1]))[0] == pytest.approx(345.0, rel=0.01)
    assert np.all(np.diff(law(np.arange(1, 20000))) < 0)  # the cubic keeps falling


def test_trail_follows_the_readout_order_and_wraps_to_the_next_row():
    bright = np.zeros((4, 16))
    bright[1, 13] = 1.0  # channel 1; the next pixels it reads: (1, 13+4 = none) -> (2, 1), (2, 5), ...
    t = trail(bright)
    assert t[1, 13] == 0, "the bright pixel gets no trail"
    assert not t[:1].any(), "rows above get no trail"
    assert not t[1, :14].any(), "pixels before it in its row get no trail"
    assert t[2, 1] == pytest.approx(law(np.array([1]))[0]), "trail one pixel on"
    assert t[2, 5] == pytest.approx(law(np.array([2]))[0]), "trail two pixels on"
    assert t[3, 13] == pytest.approx(law(np.array([8]))[0])
    other = np.ones((4, 16), bool)
    other[:, 1::4] = False
    assert not t[other].any()  # only its own readout channel


def test_synthetic_trail_is_reproduced_and_removed_below_a_third_of_the_read_noise():
    rng = np.random.default_rng(7)
    shape = (64, 64)
    sky = np.full(shape, 30.0)
    for x, y, f in ((10.3, 12.6, 3e5), (40.8, 20.2, 1.2e5), (22.5, 45.5, 6e4), (50.1, 50.9, 2e5)):
        sky += gaussian_star(shape, x, y, f, 1.4)
    sky += rng.normal(0.0, SIGMA_READ, shape)
    truth = direct_trail(sky)
    assert truth.max() > 300, "truth has a trail over 300 DN"
    assert (sky > 1e4).sum() >= 6, "at least 6 bright sky pixels"
    corrected, predicted = remove(sky + truth, 1.0e4, REF)
    assert np.allclose(predicted, truth, atol=1e-6 * truth.max())
    assert np.abs(corrected - sky).max() < 0.3 * SIGMA_READ


def test_bleeding_pixels_are_found_without_the_trail_they_received():
    # a pixel at 9900 DN sits on the trail of an earlier one and reads above 1e4: it must not bleed
    image = np.zeros((2, 8))
    image[0, 0] = 4.0e4
    image[0, 4] = 9900.0
    observed = image + direct_trail(image)
    assert observed[0, 4] > 1e4
    corrected, _ = remove(observed, 1.0e4, REF)
    assert np.allclose(corrected, image, atol=1e-6)


def test_step_removes_and_flags_insb_only():
    data = np.full((8, 32), 20.0)
    data[2, 5] = 3.0e4
    expected = direct_trail(data)
    out = IracMuxbleedStep().process(bcd(data + expected), {}, IracMuxbleedStep.Params())
    assert np.allclose(out.data, data, atol=1e-3)
    flagged = (out.artifacts & art.MUXBLEED) != 0
    assert np.array_equal(flagged, expected > 0.5 * SIGMA_READ), "flagged where the trail exceeds half the read noise"
    assert flagged.sum() > 10, "more than 10 flagged"
    same = bcd(data + expected, channel=3)
    out = IracMuxbleedStep().process(same, {}, IracMuxbleedStep.Params())
    assert np.array_equal(out.data, (data + expected).astype(np.float32)), "data unchanged plus the trail"
    assert not out.artifacts.any(), "no artifacts"
