"""Bad files give clear errors; outputs appear atomically or not at all."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.io import open_product, write_atomic
from calpipe.core.models.products import ImageModel


def test_missing_file(tmp_path):
    with pytest.raises(InputDataError, match=r"nothere.fits: file not found"):
        open_product(tmp_path / "nothere.fits")


def test_truncated_fits_is_bad_input(demo_session, tmp_path):
    data = demo_session.image.read_bytes()
    cut = tmp_path / "cut.fits"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputDataError, match=r"cut\.fits: not a readable FITS product") as err:
        open_product(cut)
    assert err.value.exit_code == 3


def test_garbage_is_bad_input(tmp_path):
    junk = tmp_path / "junk.fits"
    junk.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(InputDataError, match=r"junk.fits"):
        open_product(junk)


def test_fits_without_datamodl_names_the_keyword(tmp_path):
    path = tmp_path / "plain.fits"
    fits.PrimaryHDU(np.zeros((2, 2))).writeto(path)
    with pytest.raises(InputDataError, match="missing keyword DATAMODL"):
        open_product(path)


def test_unknown_model_type_suggests(tmp_path):
    path = tmp_path / "typo.fits"
    hdu = fits.PrimaryHDU()
    hdu.header["DATAMODL"] = "ImagModel"
    hdu.writeto(path)
    with pytest.raises(InputDataError, match="did you mean 'ImageModel'"):
        open_product(path)


def test_error_class_is_chosen_by_caller(tmp_path):
    with pytest.raises(RefDataError):
        open_product(tmp_path / "missing_ref.fits", error=RefDataError)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    model = ImageModel(data=np.ones((4, 4), np.float32))

    def explode(self, f):
        f.write(b"half a product")
        raise RuntimeError("disk full")

    monkeypatch.setattr(ImageModel, "to_fits", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(model, tmp_path / "out.fits")
    assert list(tmp_path.iterdir()) == []


def test_write_replaces_existing_product_whole(tmp_path):
    target = tmp_path / "out.fits"
    write_atomic(ImageModel(data=np.zeros((4, 4), np.float32)), target)
    write_atomic(ImageModel(data=np.full((4, 4), 7, np.float32)), target)
    assert open_product(target).data[0, 0] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fits"]


def test_products_get_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        path = write_atomic(ImageModel(data=np.zeros((2, 2), np.float32)), tmp_path / "p.fits")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mapped_product_has_the_same_arrays_as_a_read_one(tmp_path, seed):
    rng = np.random.default_rng(seed)
    model = ImageModel(data=rng.normal(size=(64, 48)).astype(np.float32),
                       err=rng.uniform(0.5, 2, (64, 48)).astype(np.float32),
                       dq=rng.integers(0, 2**32, (64, 48), dtype=np.uint64).astype(np.uint32))  # scaled: BZERO
    path = write_atomic(model, tmp_path / "p.fits")
    read, mapped = open_product(path), open_product(path, memmap=True)
    for name in ("data", "err", "dq"):
        a, b = getattr(read, name), getattr(mapped, name)
        assert (a.dtype, a.shape) == (b.dtype, b.shape), name
        assert a.tobytes() == b.tobytes(), name


def test_mapping_a_truncated_file_is_still_bad_input(demo_session, tmp_path):
    data = demo_session.image.read_bytes()
    cut = tmp_path / "cut.fits"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputDataError, match=r"cut\.fits: not a readable FITS product"):
        open_product(cut, memmap=True)
