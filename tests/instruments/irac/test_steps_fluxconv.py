"""irac_fluxconv: DN per frame x FLUXCONV / EXPTIME = MJy/sr, with the keywords recorded."""

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.instruments.irac.steps.irac_fluxconv.step import IracFluxConvStep

from .helpers import EXPTIME, bcd, reference

FLUXCONV = 0.1069


def test_units_by_hand(tmp_path):
    model = bcd(np.array([[104.0, -10.4]]), err=np.array([[10.4, 5.2]]))
    out = IracFluxConvStep().process(model, {"fluxconv": reference("fluxconv", np.ones((1, 1)), fluxconv=FLUXCONV)},
                                     IracFluxConvStep.Params())
    # 104 DN / 10.4 s = 10 DN/s -> 1.069 MJy/sr
    assert pytest.approx(10.4) == EXPTIME
    assert np.allclose(out.data, [[1.069, -0.1069]], rtol=1e-6), "data in MJy/sr"
    assert np.allclose(out.err, [[0.1069, 0.05345]], rtol=1e-6), "error in MJy/sr"
    assert out.meta.bunit_data == "MJy/sr", "data unit"
    assert out.meta.bunit_err == "MJy/sr", "error unit"
    assert out.meta.irac.fluxconv == FLUXCONV, "meta irac fluxconv"
    assert out.meta.photometry.conversion_megajanskys == FLUXCONV, "meta photometry conversion"
    out.meta.filename = "bcd.fits"
    out.to_fits(tmp_path / "bcd.fits")
    with fits.open(tmp_path / "bcd.fits") as hdul:
        assert hdul[0].header["FLUXCONV"] == FLUXCONV, "FLUXCONV keyword"
        assert hdul["SCI"].header["BUNIT"] == "MJy/sr", "SCI BUNIT keyword"
        assert hdul["ARTIFACT"].data.dtype.kind == "u"


def test_exptime_from_the_readout_when_missing():
    model = bcd(np.array([[52.0]]), nfowler=8, wait=44)
    model.meta.irac.exposure_time = None
    out = IracFluxConvStep().process(model, {"fluxconv": reference("fluxconv", fluxconv=0.2)}, IracFluxConvStep.Params())
    assert out.data[0, 0] == pytest.approx(52.0 * 0.2 / (0.2 * 52))


@pytest.mark.parametrize("value", [None, -1.0, float("nan")])
def test_bad_fluxconv_is_refused(value):
    with pytest.raises(RefDataError, match=r"irac_ch1_fluxconv\.fits: FLUXCONV"):
        IracFluxConvStep().process(bcd(np.zeros((1, 1))), {"fluxconv": reference("fluxconv", fluxconv=value)},
                                   IracFluxConvStep.Params())


def test_converting_twice_is_refused():
    model = bcd(np.zeros((1, 1)))
    model.meta.bunit_data = "MJy/sr"
    with pytest.raises(InputDataError, match="already MJy/sr"):
        IracFluxConvStep().process(model, {"fluxconv": reference("fluxconv", fluxconv=FLUXCONV)},
                                   IracFluxConvStep.Params())
