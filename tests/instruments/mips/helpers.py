"""Shared helpers of the MIPS tests: truth files, in-memory products and references."""

from __future__ import annotations

import asdf
import numpy as np

from calpipe.core.models.products import ReferenceFileModel
from calpipe.instruments.mips.models import MipsBcdModel


def truth(path) -> dict:
    with asdf.open(path, lazy_load=False, memmap=False) as af:
        return _plain(af.tree)


def _plain(node):
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items() if not str(k).startswith("asdf_")}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if hasattr(node, "__array__") and not np.isscalar(node):
        return np.asarray(node)
    return node


def bcd24(data, err=1.0, dq=None, nreads=20, dt=0.524288, csm=0.25) -> MipsBcdModel:
    """A 24 um BCD in progress (DN/s) as mips24_slope leaves it."""
    data = np.asarray(data, np.float32)
    model = MipsBcdModel(data=data.copy())
    model.err = np.broadcast_to(np.asarray(err, np.float32), data.shape).copy()
    model.dq = np.zeros(data.shape, np.uint32) if dq is None else np.asarray(dq, np.uint32).copy()
    model.artifacts = np.zeros(data.shape, np.uint16)
    m = model.meta
    m.filename = "SPITZER_M1_1_0000_0000_0000_raw.fits"
    m.instrument.name, m.instrument.detector = "MIPS", "MIPS24"
    m.mips.band, m.mips.nreads, m.mips.sample_time, m.mips.csm_position = 24, nreads, dt, csm
    m.mips.gain, m.mips.readnoise = 5.0, 40.0
    m.bunit_data = m.bunit_err = "DN/s"
    return model


def reference(reftype: str, data=None, err=None, dq=None) -> ReferenceFileModel:
    arrays = {k: np.asarray(v, np.uint32 if k == "dq" else np.float32)
              for k, v in (("data", data), ("err", err), ("dq", dq)) if v is not None}
    ref = ReferenceFileModel(**arrays)
    ref.meta.filename = f"mips24_{reftype}.fits"
    ref.meta.reftype = reftype
    return ref
