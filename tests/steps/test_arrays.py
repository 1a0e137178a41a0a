"""arrays: the shared access to a product's planes."""

import numpy as np
import pytest

from calpipe.core.errors import InputDataError
from calpipe.steps.arrays import bcd_arrays


class Product:
    """Just what bcd_arrays touches: data/err/dq, an optional ARTIFACT plane and meta.filename."""

    def __init__(self, data, **planes):
        self.data, self.err, self.dq = data, planes.get("err"), planes.get("dq")
        if "artifacts" in planes:
            self.artifacts = planes["artifacts"]
        self.meta = type("Meta", (), {"filename": "f_bcd.fits"})()

    def hasattr(self, name):
        return name in vars(self)


def test_missing_planes_are_created_empty():
    product = Product(np.ones((3, 5), np.float32), dq=np.ones((2, 2), np.uint32))
    data, err, dq, artifacts = bcd_arrays(product, "step", "X image", "run x first")
    assert data is product.data, "data is the product's array"
    assert err is product.err, "err is the product's array"
    assert dq is product.dq, "dq is the product's array"
    assert artifacts is product.artifacts, "artifacts is the product's array"
    assert (err.dtype, dq.dtype, artifacts.dtype) == (np.float32, np.uint32, np.uint16)
    assert err.shape == dq.shape == artifacts.shape == (3, 5), "err, dq and artifacts shape"
    assert not dq.any(), "dq starts empty"


def test_present_planes_are_kept():
    dq = np.full((3, 5), 4, np.uint32)
    product = Product(np.ones((3, 5), np.float32), err=np.ones((3, 5), np.float32), dq=dq,
                      artifacts=np.ones((3, 5), np.uint16))
    _, err, got, artifacts = bcd_arrays(product, "step", "X image", "run x first")
    assert got is dq, "dq is the same array"
    assert err.all(), "err filled"
    assert artifacts.all(), "artifacts filled"


@pytest.mark.parametrize("data", [None, np.ones((2, 3, 5), np.float32), np.ones((3, 5), np.uint16)])
def test_not_a_float_image_says_what_to_run(data):
    with pytest.raises(InputDataError, match=r"^f_bcd.fits: my_step needs a float 2-D X image \(XModel\); "
                                             r"run x first$"):
        bcd_arrays(Product(data), "my_step", "X image (XModel)", "run x first")
