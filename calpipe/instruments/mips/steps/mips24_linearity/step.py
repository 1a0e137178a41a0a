"""Step class for mips24_linearity."""

from __future__ import annotations

from calpipe.core.step import Step


class Mips24LinearityStep(Step):
    """Invert read = Q (1 + alpha Q) exactly on slopes (K = t_0 + t_last) and substituted differences."""

    name = "mips24_linearity"
    version = "1.0.0"
    instruments = ("mips",)
    reftypes = ("linearity",)

    def process(self, product, refs, params):
        import numpy as np

        from calpipe.core.models.dqflags import DQ
        from calpipe.steps.arrays import optional

        from ... import artifacts as art
        from .. import keywords
        from .algorithm import correct

        data, err, dq, artifacts = keywords.bcd_arrays(product, self.name)
        alpha = keywords.reference_data(refs["linearity"], data.shape, "linearity")
        alpha = alpha[0] if alpha.ndim == 3 else alpha
        times = keywords.readout(product).times
        substituted = (artifacts & np.uint16(art.DIFF_SUBSTITUTED)) != 0
        k = np.where(substituted, times[0] + times[1], times[0] + times[-1])
        rate, new_err, bad = correct(data, err, np.nan_to_num(alpha), k)
        no_alpha = ~np.isfinite(alpha)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale2 = np.where(err > 0, (new_err.astype(np.float64) / err) ** 2, 1.0)
        for name in ("var_poisson", "var_rnoise"):
            plane = optional(product, name)
            if plane is not None:
                setattr(product, name, (plane * scale2).astype(np.float32))
        product.data, product.err = rate, new_err
        dq[no_alpha] |= np.uint32(DQ.NO_LIN_CORR)
        dq[bad & ~no_alpha] |= np.uint32(DQ.NONLINEAR | DQ.DO_NOT_USE)
        return product
