"""Step class for mosaic."""

from __future__ import annotations

import logging
import re

from pydantic import Field, field_validator

from calpipe.core.errors import InputDataError
from calpipe.core.params import Params
from calpipe.core.step import Step

log = logging.getLogger("calpipe")


class MosaicStep(Step):
    """Drizzle every member onto one TAN grid, match backgrounds, reject outliers, combine (Level 3)."""

    name = "mosaic"
    version = "1.0.0"
    combines = True

    class Params(Params):
        pixel_scale_arcsec: float | None = Field(None, gt=0, description="mosaic pixel scale (default: the "
                                                 "members' native scale)")
        match_background: bool = Field(True, description="subtract least-squares background offsets")
        nsigma: float = Field(3.0, gt=0, description="outlier threshold in sigma")
        min_coverage: int = Field(3, ge=2, description="reject outliers only where this many frames overlap")
        grow: int = Field(1, ge=0, le=3, description="also reject neighbours within this many pixels")
        deriv_scale: float = Field(1.2, ge=0, description="tolerated fraction of the local steepness")
        reject_dq: list[str] = Field(["DO_NOT_USE"], description="DQ flags whose pixels are left out")
        group_by: str | None = Field(None, description="FITS keyword (e.g. DETECTOR): one mosaic per value")
        same: list[str] = Field(["INSTRUME", "DETECTOR", "CHANNEL", "FILTER", "BUNIT"],
                                description="keywords every member of a mosaic must share (where present)")

        @field_validator("reject_dq")
        @classmethod
        def _known_flags(cls, names: list[str]) -> list[str]:
            from calpipe.core.models.dqflags import NAMES

            unknown = [n for n in names if n not in NAMES]
            if unknown:
                raise ValueError(f"unknown DQ flag(s) {unknown}; known: {', '.join(NAMES)}")
            return names

    def process(self, members, refs, params):
        from calpipe.core.association import ProductSet

        if params.group_by is None:
            return self._mosaic(members.items, params)
        groups: dict[str, list] = {}
        for label, product in members:
            value = _keyword(product, params.group_by, label)
            groups.setdefault(re.sub(r"[^a-z0-9]+", "", str(value).lower()) or "none", []).append(
                (label, product))
        return ProductSet([(value, self._mosaic(items, params)) for value, items in sorted(groups.items())],
                          {value: [label for label, _ in items] for value, items in groups.items()})

    def _mosaic(self, items, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ, NAMES
        from calpipe.core.models.products import MosaicModel

        from ..wcs import celestial_wcs, store_wcs
        from .algorithm import Frame, mosaic, pixel_scale_deg

        first_label, first = items[0]
        for keyword in params.same:
            values = {label: _keyword(product, keyword, label, required=False) for label, product in items}
            if len(set(values.values())) > 1:
                odd = next(label for label, v in values.items() if v != values[first_label])
                raise InputDataError(f"{odd}: {keyword} = {values[odd]!r}, but {first_label} has "
                                     f"{values[first_label]!r}; a mosaic combines one instrument and band "
                                     "(split the inputs, or set group_by)")
        reject = np.uint32(sum(NAMES[n] for n in params.reject_dq))
        carried = DQ.SATURATED | DQ.FLUX_ESTIMATED | DQ.JUMP_DET  # what a source list should know of
        frames = []
        exptimes = []
        for label, product in items:
            data = np.asarray(product.data, dtype=np.float32)
            err = np.asarray(product.err, dtype=np.float32)
            good = np.isfinite(data) & np.isfinite(err) & (err > 0) & ((product.dq & reject) == 0)
            if not good.any():
                log.warning("%s: no usable pixel (all flagged %s or not finite); left out of the mosaic",
                            label, "|".join(params.reject_dq))
                continue
            frames.append(Frame(data, np.square(err), good, celestial_wcs(product, label),
                                np.asarray(product.dq, np.uint32) & np.uint32(carried)))
            exptimes.append(_exptime(product))
        if not frames:
            raise InputDataError(f"{first_label} and the other {len(items) - 1} member(s): no usable pixel "
                                 "in any of them (check their DQ and the mosaic's reject_dq)")
        scale = None if params.pixel_scale_arcsec is None else params.pixel_scale_arcsec / 3600.0
        result = mosaic(frames, scale_deg=scale, match_background=params.match_background,
                        nsigma=params.nsigma, min_coverage=params.min_coverage, grow=params.grow,
                        deriv_scale=params.deriv_scale)
        out = MosaicModel()
        out.update(first)
        # what described one exposure of one frame does not describe the mosaic
        for node in ("exposure", "subarray", "pointing"):
            setattr(out.meta, node, {})
        out.meta.observation.exposure = None
        out.meta.photometry.pixelarea_steradians = float(np.radians(pixel_scale_deg(result.wcs)) ** 2)
        out.data = result.data
        out.err = result.err
        out.coverage = result.coverage
        out.dq = result.dq | np.where(np.isnan(result.data), DQ.DO_NOT_USE, 0).astype(np.uint32)
        out.meta.bunit_data = first.meta.bunit_data
        out.meta.bunit_err = first.meta.bunit_err or first.meta.bunit_data
        out.meta.mosaic.ncombine = len(frames)  # the members that had a usable pixel
        if all(t is not None for t in exptimes):
            out.meta.exposure.exptime = float(sum(exptimes))  # the time that went into the mosaic
        out.meta.mosaic.nrejected = int(sum(int(r.sum()) for r in result.rejected))
        out.meta.mosaic.max_offset = float(np.max(np.abs(result.offsets)))
        store_wcs(out, result.wcs)
        return out


def _exptime(product) -> float | None:
    """EXPTIME wherever the product's schemas put it (an instrument's own node, or meta.exposure)."""
    values = (product[path] for path in product.find_fits_keyword("EXPTIME") if path in product)
    return next((v for v in values if v is not None), None)


def _keyword(product, keyword: str, label: str, required: bool = True):
    """The value of a FITS keyword, found through the product's schema (None if absent and not required)."""
    paths = product.find_fits_keyword(keyword.upper())
    node = product
    for part in paths[0].split(".") if paths else ():
        node = getattr(node, part, None)
    if (not paths or node is None) and required:
        raise InputDataError(f"{label}: keyword {keyword.upper()} is "
                             f"{'not set' if paths else 'not in its schema'}; the mosaic groups members "
                             "by it (set it, or change group_by)")
    return node if paths else None
