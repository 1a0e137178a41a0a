"""Step class for jump."""

from __future__ import annotations

from pydantic import Field

from calpipe.core.errors import InputDataError, RefDataError
from calpipe.core.params import Params
from calpipe.core.step import Step


class JumpStep(Step):
    """Flag cosmic-ray jumps (JUMP_DET in GROUPDQ) by iteratively clipped two-point differences."""

    name = "jump"
    version = "1.0.0"
    reftypes = ("gain", "readnoise")

    class Params(Params):
        rejection_threshold: float = Field(
            4.0, gt=0, description="jump threshold in sigma of a group difference (5 or more usable groups)")
        three_group_rejection_threshold: float = Field(
            6.0, gt=0, description="jump threshold in sigma when 3 usable groups remain")
        four_group_rejection_threshold: float = Field(
            5.0, gt=0, description="jump threshold in sigma when 4 usable groups remain")
        flag_4_neighbors: bool = Field(
            True, description="also flag the 4 adjacent pixels of jumps between the two limits below")
        min_jump_to_flag_neighbors: float = Field(
            10.0, ge=0, description="jumps at or below this many sigma do not flag their neighbours")
        max_jump_to_flag_neighbors: float = Field(
            200.0, gt=0, description="jumps at or above this many sigma do not flag their neighbours")

    def process(self, product, refs, params):
        from ..kernels import announce_compiling
        from . import algorithm
        from .algorithm import detect_jumps

        announce_compiling("jump", algorithm)

        nframes = product.meta.exposure.nframes
        if nframes is None:
            raise InputDataError(f"{_name(product)}: missing NFRAMES (frames averaged per group); "
                                 "the jump step needs the read pattern in the header")
        gain = reference_array(refs["gain"], product)
        readnoise = reference_array(refs["readnoise"], product)
        product.groupdq = detect_jumps(
            product.data, product.groupdq, gain, readnoise, nframes,
            rejection_threshold=params.rejection_threshold,
            three_group_threshold=params.three_group_rejection_threshold,
            four_group_threshold=params.four_group_rejection_threshold,
            flag_neighbors=params.flag_4_neighbors,
            min_jump_for_neighbors=params.min_jump_to_flag_neighbors,
            max_jump_for_neighbors=params.max_jump_to_flag_neighbors,
            groupgap=product.meta.exposure.groupgap, **self._options(params))
        return product

    def _options(self, params) -> dict:
        return {}


class JumpStepV1_1(JumpStep):
    """Flag cosmic-ray jumps by clipped two-point differences, with the rounding of digitised groups in σ."""

    version = "1.1.0"
    opt_in = True  # released pipelines that name jump unpinned keep 1.0.0

    class Params(JumpStep.Params):
        quantum: float = Field(1.0, ge=0, description="step (DN) of the digitised raw groups: adds "
                               "2 quantum**2/12 to a difference's variance (0 for float ramps)")

    def _options(self, params) -> dict:
        return {"quantum": params.quantum}


def reference_array(ref, product):
    """The (ny, nx) part of a full-frame per-pixel reference (gain, readnoise) under ``product``."""
    from ..subarray import cutout

    reftype = getattr(ref.meta, "reftype", None) or "reference"
    if ref.data is None or ref.data.ndim != 2:
        shape = None if ref.data is None else ref.data.shape
        raise RefDataError(f"{ref.meta.filename}: {reftype} reference needs a 2-D SCI array, got {shape} "
                           f"(use a {reftype} reference file made for this instrument)")
    try:
        return cutout(ref.data, product)
    except ValueError as exc:
        raise RefDataError(
            f"{ref.meta.filename}: {exc} (use a {reftype} reference for this detector/subarray)") from exc


def _name(product) -> str:
    return product.meta.filename or "input product"
