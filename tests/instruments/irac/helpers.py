"""Small in-memory IRAC products and references for the step tests (no simulator, no files)."""

from __future__ import annotations

import math

import numpy as np

from calpipe.core.models.products import ReferenceFileModel
from calpipe.instruments.irac.models import IracBcdModel, IracRawModel

# a 12 s frame: N = 8, W = 44, ABARREL = 3; EXPTIME = 10.4 s
N, W, B = 8, 44, 3
EXPTIME, FRAMTIME = 0.2 * (W + N), 0.2 * (W + 2 * N)
GAIN, RONOISE = 3.3, 12.0  # e-/DN, e-
SIGMA_READ = RONOISE / GAIN  # DN


def set_keywords(model, channel: int = 1, nfowler: int = N, wait: int = W, barrel: int = B,
                 gain: float | None = GAIN, readnoise: float | None = RONOISE, delay: float | None = 10.0):
    meta = model.meta
    meta.filename = "SPITZER_I1_1_0000_0000_0000_raw.fits"
    meta.instrument.name = "IRAC"
    meta.instrument.detector = f"CH{channel}"
    ir = meta.irac
    ir.aorkey, ir.expid, ir.dcenum, ir.channel = 12345678, 0, 0, channel
    ir.fowler_number, ir.wait_period, ir.barrel_shift = nfowler, wait, barrel
    if nfowler is not None:
        ir.frame_time, ir.exposure_time = 0.2 * (wait + 2 * nfowler), 0.2 * (wait + nfowler)
    ir.gain, ir.readnoise, ir.frame_delay = gain, readnoise, delay
    return model


def raw(words: np.ndarray, **keywords) -> IracRawModel:
    return set_keywords(IracRawModel(data=np.asarray(words, np.uint16)), **keywords)


def bcd(data: np.ndarray, err: np.ndarray | float | None = None, dq: np.ndarray | None = None,
        **keywords) -> IracBcdModel:
    """A BCD in progress (DN per frame) as irac_fowler leaves it."""
    data = np.asarray(data, np.float32)
    model = IracBcdModel(data=data.copy())
    if err is None:
        err = SIGMA_READ
    model.err = np.broadcast_to(np.asarray(err, np.float32), data.shape).copy()
    model.dq = np.zeros(data.shape, np.uint32) if dq is None else np.asarray(dq, np.uint32).copy()
    model.artifacts = np.zeros(data.shape, np.uint16)
    model.meta.bunit_data = model.meta.bunit_err = "DN"
    return set_keywords(model, **keywords)


def reference(reftype: str, data=None, err=None, dq=None, fluxconv: float | None = None) -> ReferenceFileModel:
    arrays = {k: np.asarray(v, np.uint32 if k == "dq" else np.float32)
              for k, v in (("data", data), ("err", err), ("dq", dq)) if v is not None}
    ref = ReferenceFileModel(**arrays)
    ref.meta.filename = f"irac_ch1_{reftype}.fits"
    ref.meta.reftype = reftype
    if fluxconv is not None:
        ref.meta.photometry.conversion_megajanskys = fluxconv
    return ref


def encode(fowler_sum: np.ndarray, barrel: int = B, insb: bool = True) -> np.ndarray:
    """What the IRAC electronics downlink for integer Fowler sums: floor(sum / 2^B) mod 2^16, inverted for InSb."""
    word = np.floor(np.asarray(fowler_sum, np.float64) / 2**barrel).astype(np.int64) % 65536
    return ((65535 - word) if insb else word).astype(np.uint16)


def gaussian_star(shape: tuple[int, int], x: float, y: float, flux: float, fwhm: float) -> np.ndarray:
    """A Gaussian PSF integrated over the pixels (pixel i spans i - 0.5 .. i + 0.5), total ``flux``."""
    sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))

    def frac(centre: float, n: int) -> np.ndarray:
        edges = (np.arange(n + 1) - 0.5 - centre) / (sigma * math.sqrt(2.0))
        return 0.5 * np.diff([math.erf(e) for e in edges])

    return flux * np.outer(frac(y, shape[0]), frac(x, shape[1]))


def starfield(seed: int, nstars: int = 40, bright: tuple = (), shape: tuple[int, int] = (256, 256)) -> np.ndarray:
    """Sky 30 DN + faint stars + ``bright`` (x, y, flux) stars (FWHM 1.4 px) + read noise."""
    rng = np.random.default_rng(seed)
    image = np.full(shape, 30.0)
    for _ in range(nstars):
        image += gaussian_star(shape, *rng.uniform(5, 250, 2), 10 ** rng.uniform(2, 4), 1.4)
    for x, y, flux in bright:
        image += gaussian_star(shape, x, y, flux, 1.4)
    return image + rng.normal(0.0, SIGMA_READ, shape)
