"""irac_fowler: InSb sign flip, barrel shift, Fowler normalisation and the frame noise, by hand."""

import numpy as np
import pytest

from calpipe.core.errors import InputDataError
from calpipe.core.models.dqflags import DQ
from calpipe.instruments.irac.models import IracBcdModel
from calpipe.instruments.irac.steps.irac_fowler.algorithm import normalise, truncation_bias, unflip
from calpipe.instruments.irac.steps.irac_fowler.step import IracFowlerStep
from calpipe.instruments.irac.steps.readout import frame_variance, poisson_factor

from .helpers import GAIN, RONOISE, bcd, encode, raw

RUN = IracFowlerStep()


def test_insb_sign_flip_and_si_as_untouched():
    words = np.array([[0, 1, 65534, 65535]], np.uint16)
    assert unflip(words, insb=True).tolist() == [[65535, 65534, 1, 0]]
    assert unflip(words, insb=False).tolist() == [[0, 1, 65534, 65535]]


@pytest.mark.parametrize(("barrel", "nfowler", "unit"), [(0, 1, 1.0), (3, 8, 1.0), (2, 8, 0.5), (5, 16, 2.0)])
def test_barrel_shift_and_fowler_normalisation_exact(barrel, nfowler, unit):
    words = np.array([0, 1, 1000, 65535])
    assert normalise(words, barrel, nfowler).tolist() == [0.0, unit, 1000 * unit, 65535 * unit]


def test_truncation_bias_by_hand():
    # B bits dropped from integer sums lose 0.5 (1 - 2^-B) stored units on average
    assert truncation_bias(3, insb=True, convention="floor") == 0.4375
    assert truncation_bias(3, insb=False, convention="floor") == 0.4375
    assert truncation_bias(3, insb=True, convention="ssc") == -0.4375  # the SSC pipeline's InSb sign
    assert truncation_bias(3, insb=False, convention="ssc") == 0.4375
    assert truncation_bias(3, insb=True, convention="none") == 0.0
    assert truncation_bias(0, insb=True, convention="floor") == 0.0


def test_one_encoded_sum_decodes_by_hand():
    # sum 8003 over N = 8 reads, ABARREL 3: word floor(8003/8) = 1000, InSb raw 64535;
    # DN per frame = (1000 + 0.4375) * 8 / 8
    assert encode(np.array([8003]), 3, insb=True).tolist() == [64535]
    out = RUN.process(raw(np.array([[64535]])), {}, IracFowlerStep.Params())
    assert out.data[0, 0] == np.float32(1000.4375)


def test_truncation_bias_makes_the_decoded_mean_unbiased():
    rng = np.random.default_rng(1)
    sums = rng.integers(-400, 300000, (256, 256))  # negative sums wrap; undone by irac_wraparound
    out = RUN.process(raw(encode(sums)), {}, IracFowlerStep.Params())
    dn = out.data.astype(np.float64)
    dn[dn >= 60000] -= 65536
    assert abs(np.mean(dn - sums / 8)) < 0.005  # vs 0.4375 DN without the bias term
    assert np.all(np.abs(dn - sums / 8) <= 0.5)


def test_si_as_is_not_flipped():
    out = RUN.process(raw(np.array([[1000]]), channel=3), {}, IracFowlerStep.Params(truncation="none"))
    assert out.data[0, 0] == 1000.0


def test_poisson_factor_by_hand_and_by_monte_carlo():
    assert poisson_factor(8, 44) == pytest.approx(1 - 63 / 1248)
    assert poisson_factor(1, 1) == 1.0
    # N = 4, W = 2: Poisson electrons between reads at ticks 1..4 and 7..10
    rng = np.random.default_rng(2)
    rate = 50.0  # e- per tick
    steps = rng.poisson(rate, (200000, 10)).cumsum(axis=1)
    d = (steps[:, 6:10] - steps[:, 0:4]).mean(axis=1)
    assert d.mean() == pytest.approx(rate * 6, rel=1e-3)
    assert d.var() / d.mean() == pytest.approx(poisson_factor(4, 2), rel=0.02)  # 0.79, not 1


def test_frame_variance_by_hand():
    # read noise 12 e- / 3.3; quantisation (2N + 4^B - 1)/12/N^2; Poisson 3000 DN / 3.3 x factor
    expected = (12 / 3.3) ** 2 + (16 + 63) / 12 / 64 + poisson_factor(8, 44) * 3000 / 3.3
    assert frame_variance(np.array([3000.0]), 3.3, 12.0, 8, 44, 3)[0] == pytest.approx(expected)
    assert frame_variance(np.array([-50.0]), 3.3, 12.0, 8, 44, 3)[0] == pytest.approx(expected - 3000
                                                                                     * poisson_factor(8, 44) / 3.3)


def test_step_returns_a_new_bcd_with_err_dq_artifacts_and_the_header():
    model = raw(np.array([[65535, 62535], [64535, 0]]))
    model.pixeldq = np.array([[0, DQ.DROPOUT], [0, 0]], np.uint32)
    out = RUN.process(model, {}, IracFowlerStep.Params())
    assert isinstance(out, IracBcdModel), "output is a BCD model"
    assert out is not model, "output is a new model"
    assert out.data.dtype == np.float32, "data dtype"
    assert out.data.tolist() == [[0.4375, 3000.4375], [1000.4375, 65535.4375]], "data values"
    assert out.err.dtype == np.float32
    assert out.err[0, 1] == pytest.approx(np.sqrt(frame_variance(np.array([3000.4375]), GAIN, RONOISE, 8, 44, 3)[0]))
    assert out.dq.tolist() == [[0, DQ.DROPOUT], [0, 0]], "dq values"
    assert out.dq.dtype == np.uint32, "dq dtype"
    assert out.artifacts.dtype == np.uint16, "artifacts dtype"
    assert not out.artifacts.any(), "no artifacts"
    assert out.meta.irac.aorkey == 12345678, "AORKEY"
    assert out.meta.irac.channel == 1, "channel"
    assert out.meta.instrument.name == "IRAC", "instrument name"
    assert out.meta.data_level == 2, "data level"
    assert out.meta.bunit_data == "DN", "data unit"
    assert out.meta.irac.gain == GAIN, "gain"
    assert out.meta.irac.readnoise == RONOISE, "read noise"


def test_gain_and_readnoise_parameters_override_the_header():
    out = RUN.process(raw(np.array([[65535]]), gain=None, readnoise=None), {},
                      IracFowlerStep.Params(gain=4.0, readnoise=8.0, truncation="none"))
    assert out.err[0, 0] == pytest.approx(np.sqrt(4.0 + (16 + 63) / 12 / 64))
    assert out.meta.irac.gain == 4.0, "gain"
    assert out.meta.irac.readnoise == 8.0, "read noise"


@pytest.mark.parametrize(("model", "message"), [
    (raw(np.zeros((2, 2))), None),
    (raw(np.zeros((2, 2)), gain=None), "missing keyword GAIN"),
    (raw(np.zeros((2, 2)), nfowler=None), "missing keyword AFOWLNUM"),
    (raw(np.zeros((2, 2)), barrel=-1), "not an IRAC readout"),
    (raw(np.zeros((2, 2)), channel=7), "CHNLNUM"),
])
def test_bad_headers_are_refused_with_the_keyword(model, message):
    if message is None:
        RUN.process(model, {}, IracFowlerStep.Params())
        return
    with pytest.raises(InputDataError, match=message):
        RUN.process(model, {}, IracFowlerStep.Params())


def test_float_input_is_refused():
    model = bcd(np.zeros((2, 2)))  # a product that was already converted
    with pytest.raises(InputDataError, match="already converted"):
        RUN.process(model, {}, IracFowlerStep.Params())
