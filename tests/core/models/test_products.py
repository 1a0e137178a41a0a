"""Products round-trip through FITS with their schema keywords, and pass fitsverify."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core.io import open_product, write_atomic
from calpipe.core.models.dqflags import DQ, describe
from calpipe.core.models.products import (
    BandMergedCatalogModel,
    ImageModel,
    MosaicModel,
    RawModel,
    ReferenceFileModel,
    SourceCatalogModel,
)


def _image() -> ImageModel:
    rng = np.random.default_rng(3)
    m = ImageModel(data=rng.normal(size=(8, 9)).astype(np.float32),
                   err=np.full((8, 9), 0.5, np.float32), dq=np.arange(72, dtype=np.uint32).reshape(8, 9),
                   var_poisson=np.full((8, 9), 0.2, np.float32), var_rnoise=np.full((8, 9), 0.05, np.float32))
    m.meta.instrument.name = "NIR"
    m.meta.instrument.detector = "NRCA1"
    m.meta.observation.date_obs = "2026-03-04T05:06:07"
    m.meta.bunit_data = "MJy/sr"
    return m


def test_image_round_trip_keeps_arrays_and_keywords(tmp_path):
    m = _image()
    path = write_atomic(m, tmp_path / "img.fits")
    back = open_product(path)
    assert isinstance(back, ImageModel)
    for name in ("data", "err", "dq", "var_poisson", "var_rnoise"):
        np.testing.assert_array_equal(getattr(back, name), getattr(m, name))
    assert back.dq.dtype == np.uint32
    with fits.open(path) as hdul:
        assert [h.name for h in hdul][:6] == ["PRIMARY", "SCI", "DQ", "ERR", "VAR_POISSON", "VAR_RNOISE"]
        head = hdul[0].header
        assert head["INSTRUME"] == "NIR", "INSTRUME"
        assert head["DETECTOR"] == "NRCA1", "DETECTOR"
        assert head["DATE-OBS"] == "2026-03-04T05:06:07"
        assert head["DATAMODL"] == "ImageModel", "DATAMODL"
        assert head["DATALVL"] == 2, "DATALVL"
        assert hdul["SCI"].header["BUNIT"] == "MJy/sr"


def test_raw_ramp_is_uint16_four_dimensional(tmp_path):
    ramp = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 3, 4, 5)
    path = write_atomic(RawModel(data=ramp), tmp_path / "raw.fits")
    back = open_product(path)
    assert isinstance(back, RawModel), "reads back as a RawModel"
    assert back.meta.data_level == 1, "data level"
    assert back.data.dtype == np.uint16
    np.testing.assert_array_equal(back.data, ramp)


def test_mosaic_and_catalog_round_trip(tmp_path):
    mosaic = MosaicModel(data=np.ones((4, 4), np.float32), coverage=np.full((4, 4), 3, np.int32))
    sources = np.zeros(1, dtype=mosaic.get_dtype("sources"))
    sources["flux_psf"] = 2.5
    mosaic.sources = sources
    back = open_product(write_atomic(mosaic, tmp_path / "mos.fits"))
    assert back.meta.data_level == 3
    np.testing.assert_array_equal(back.coverage, 3)
    assert list(back.sources["flux_psf"]) == [2.5]

    catalog = SourceCatalogModel()
    rows = np.zeros(2, dtype=catalog.get_dtype("sources"))
    rows["id"] = [1, 2]
    rows["ra"] = [10.5, 10.6]
    rows["flux_psf"] = [1.5, 2.5]
    catalog.sources = rows
    path = write_atomic(catalog, tmp_path / "cat.fits")
    with fits.open(path) as hdul:
        table = hdul["SOURCES"].data
        assert list(table["id"]) == [1, 2], "id column"
        assert list(table["flux_psf"]) == [1.5, 2.5], "flux_psf column"

    merged = BandMergedCatalogModel()
    rows = np.zeros(2, dtype=merged.get_dtype("sources"))
    rows["id_prior"] = [1, 2]
    rows["flux_other_ulim"] = [1.5, 2.5]
    merged.sources = rows
    back = open_product(write_atomic(merged, tmp_path / "merged.fits"))
    assert list(back.sources["id_prior"]) == [1, 2], "id_prior column"
    assert list(back.sources["flux_other_ulim"]) == [1.5, 2.5], "flux_other_ulim column"


def test_reference_file_keywords(tmp_path):
    ref = ReferenceFileModel(data=np.ones((3, 3), np.float32))
    ref.meta.reftype = "flat"
    ref.meta.pedigree = "GROUND"
    ref.meta.useafter = "2020-01-01T00:00:00"
    path = write_atomic(ref, tmp_path / "flat.fits")
    head = fits.getheader(path)
    assert (head["REFTYPE"], head["PEDIGREE"], head["USEAFTER"]) == ("flat", "GROUND", "2020-01-01T00:00:00")


def test_dq_bits_are_the_jwst_values():
    assert (DQ.DO_NOT_USE, DQ.SATURATED, DQ.JUMP_DET, DQ.DROPOUT, DQ.OUTLIER) == (1, 2, 4, 8, 16)
    assert (DQ.DEAD, DQ.HOT, DQ.NONLINEAR, DQ.NO_FLAT_FIELD) == (1024, 2048, 65536, 262144)
    assert DQ.FLUX_ESTIMATED == 2**28, "FLUX_ESTIMATED bit"
    assert DQ.REFERENCE_PIXEL == 2**31, "REFERENCE_PIXEL bit"
    dq = np.zeros(3, np.uint32)
    dq |= DQ.REFERENCE_PIXEL
    assert dq.dtype == np.uint32, "dq dtype"
    assert dq[0] == 2**31, "top bit kept"
    assert describe(DQ.SATURATED | DQ.DO_NOT_USE) == ["DO_NOT_USE", "SATURATED"]


@pytest.mark.skipif(shutil.which("fitsverify") is None, reason="fitsverify not installed (apt fitsverify)")
def test_written_products_pass_fitsverify(tmp_path):
    catalog = SourceCatalogModel()
    catalog.sources = np.zeros(1, dtype=catalog.get_dtype("sources"))
    products = {"img": _image(), "raw": RawModel(data=np.zeros((2, 3, 4), np.uint16)), "cat": catalog}
    for name, model in products.items():
        path = write_atomic(model, tmp_path / f"{name}.fits")
        result = subprocess.run(["fitsverify", "-q", str(path)], capture_output=True, text=True)
        assert "verification OK" in result.stdout, result.stdout + result.stderr
