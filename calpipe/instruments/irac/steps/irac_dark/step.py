"""Step class for irac_dark."""

from __future__ import annotations

from calpipe.core.errors import RefDataError
from calpipe.core.step import Step


class IracDarkStep(Step):
    """Subtract the dark frame (DN per frame at this FRAMTIME); its ERR and DQ are propagated."""

    name = "irac_dark"
    version = "1.0.0"
    instruments = ("irac",)
    reftypes = ("dark",)

    def process(self, product, refs, params):
        from calpipe.steps.subarray import cutout

        from .. import keywords
        from .algorithm import subtract_dark

        data, err, dq, _ = keywords.bcd_arrays(product, self.name)
        ref = refs["dark"]
        if ref.data is None:
            raise RefDataError(f"{ref.meta.filename}: dark reference has no SCI array")
        try:
            subtract_dark(data, err, dq, cutout(ref.data, product),
                          None if ref.err is None else cutout(ref.err, product),
                          None if ref.dq is None else cutout(ref.dq, product))
        except ValueError as exc:
            raise RefDataError(f"{ref.meta.filename}: {exc} (use a dark frame [DN per frame] for this "
                               "channel and frame time)") from exc
        return product
