"""Step class for mips24_flat."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class Mips24FlatStep(Step):
    """Divide by the flat of the DCE's scan-mirror position (CSMPOS; interpolated between planes)."""

    name = "mips24_flat"
    version = "1.0.0"
    instruments = ("mips",)
    reftypes = ("flat",)

    class Params(Params):
        min_flat: float = Field(0.0, ge=0.0, lt=1.0, description="flat values at or below this are unusable")
        spot_depth: float = Field(0.05, gt=0.0, lt=1.0, description="mark FLAT_SPOT where the flat lies this "
                                  "fraction below its median over scan-mirror positions")

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.steps.arrays import optional
        from calpipe.steps.flat_field.algorithm import apply_flat

        from ... import artifacts as art
        from .. import keywords
        from .algorithm import flat_at, spots

        data, err, dq, artifacts = keywords.bcd_arrays(product, self.name)
        ref = refs["flat"]
        cube = keywords.reference_data(ref, data.shape, "flat")
        positions = ref.scan_positions if ref.hasattr("scan_positions") else None
        if cube.ndim == 2:
            cube = cube[None]
            positions = np.zeros(1) if positions is None else positions
        if positions is None or len(positions) != cube.shape[0] or np.any(np.diff(positions) <= 0):
            raise RefDataError(f"{ref.meta.filename}: the flat needs an ascending CSMPOS table with one "
                               f"position per plane ({cube.shape[0]} planes); use a MIPS 24 um flat cube")
        csm = product.meta.mips.csm_position
        if csm is None:
            raise InputDataError(f"{keywords.name(product)}: missing keyword CSMPOS (scan-mirror position), "
                                 "needed to choose the flat")
        if cube.shape[0] == 1:
            flat = cube[0].astype(np.float32)
        else:
            try:
                flat = flat_at(cube, positions, float(csm))
            except ValueError as exc:
                raise InputDataError(f"{keywords.name(product)}: CSMPOS: {exc} "
                                     f"({ref.meta.filename})") from exc
        flat_err = None if ref.err is None else ref.err[0] if ref.err.ndim == 3 else ref.err
        out = apply_flat(data, err, dq, flat, flat_err, ref.dq, optional(product, "var_poisson"),
                         optional(product, "var_rnoise"), params.min_flat)
        product.data, product.err, product.dq = out.sci, out.err, out.dq
        artifacts[spots(cube, flat, params.spot_depth)] |= np.uint16(art.FLAT_SPOT)
        return product
