"""Point-source detection and photometry on Level 3 mosaics.

Images are 2-D surface-brightness arrays with a per-pixel 1σ ``err`` and NaN where
there is no coverage. Fluxes are sums of pixel values (image units × pixels); the
caller multiplies by the pixel solid angle. Choices, and why:

* Background: photutils ``Background2D`` (sigma-clipped medians in boxes ≈ 10 FWHM
  that tile the image, detected sources masked), interpolated smoothly, rather than a
  per-source annulus. Each level comes from hundreds of pixels, so it adds ~1 % to a
  faint source's flux error where a small annulus adds tens of per cent, and a
  neighbour's wings do not pull it up; a local-background-fitting matched filter was
  tried and rejected, as bright neighbours within its window drive it negative. The
  map's own noise, √(π/2)·rms/√n per box, is propagated into every flux error.
* Detection: at every pixel the S/N of a PSF-weighted flux,
  ``Σ P·d/σ² / √(Σ P²/σ²)`` (the error-normalised image filtered by the PSF; optimal
  for Gaussian noise, and still in σ units where err varies or coverage ends). Local
  maxima above ``threshold`` are sources, so "5σ" is the S/N a PSF fit has there.
* PSF fit: photutils ``PSFPhotometry`` with a ``CircularGaussianPRF`` (a Gaussian
  integrated over pixels) of fixed FWHM, weights 1/err, so the flux, x, y errors come
  from the absolute covariance; sources within 2 FWHM are fit together.
* FWHM: resampling broadens a mosaic's PSF, so by default it is fit (the same PRF with
  free FWHM) to bright, isolated sources of the image itself.
* Calibration from the same image: bright (S/N > 50), isolated, unflagged sources give
  the curve of growth to ``BIG_RADIUS_FWHM``: the aperture correction F(big)/F(r_ap) and
  the PSF-flux normalisation F(big)/F_psf, each a clipped inverse-variance mean with
  its error. The Gaussian model's values (the PRF's enclosed fraction averaged over
  sub-pixel phases; normalisation 1) are kept unless the measured one differs by more
  than ``CALIBRATION_NSIGMA`` σ, i.e. the PSF is not the model (non-Gaussian wings, a
  wrong FWHM); then the measured value and its error (added in quadrature to every
  flux error) are used. Meta ``*_from`` records which, also when fewer than
  ``MIN_CALIBRATORS`` sources qualify. Applying a noisy correction that agrees with
  the model would only add a common error of ~0.3 % to every flux.
* Aperture radius 1.5 FWHM by default: the enclosed fraction then hardly depends on
  where the source falls within its pixel (it does by ~1 % at 1 FWHM).
* A known PRF (:class:`Prf` with an image, e.g. an instrument's PSF sampled onto the
  mosaic grid by :mod:`.prf`) replaces the Gaussian and its measured FWHM: a width fitted
  to the few bright isolated sources of a small field is fragile, and a wrong one splits
  sources and biases fluxes.
* ``deblend`` (source_catalog 1.1.0): sources within ``GROUP_FWHM`` fit together; a peak
  must be the S/N maximum within ``MERGE_FWHM``; each aperture sum loses its neighbours'
  fitted light and gains that light's error; FLAG_BLENDED also by the neighbours' share of
  the aperture (``BLEND_SHARE``), since a faint source beside a bright one is spoiled by
  light, not by distance; the blank-field excess noise is added to every flux error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from astropy.stats import sigma_clip
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning
from photutils.aperture import ApertureStats, CircularAperture, aperture_photometry
from photutils.background import Background2D, MedianBackground
from photutils.detection import find_peaks
from photutils.psf import CircularGaussianPRF, ImagePSF, PSFPhotometry, SourceGrouper
from photutils.utils.exceptions import NoDetectionsWarning
from scipy.interpolate import RegularGridInterpolator
from scipy.ndimage import binary_dilation
from scipy.signal import fftconvolve
from scipy.spatial import cKDTree

#: Aperture, or PSF-fit box, reaches a masked, uncovered (NaN) or off-image pixel.
FLAG_EDGE = 1
#: Another detection lies within ``BLEND_FWHM`` × FWHM.
FLAG_BLENDED = 2
#: The PSF fit did not converge, ran into its position bound or gave no covariance.
FLAG_FIT = 4
#: A pixel within the aperture is saturated or its value estimated (set by the caller from DQ).
FLAG_SATURATED = 8

#: Neighbours closer than this [FWHM] are fit together and flagged FLAG_BLENDED.
BLEND_FWHM = 2.0
#: Target background box side [FWHM].
BOX_FWHM = 10.0
#: Radius of the aperture the curve of growth is taken to [FWHM].
BIG_RADIUS_FWHM = 3.0
CALIBRATOR_SNR = 50.0
#: With deblending rules on, a detection peak is the S/N maximum within this radius [FWHM].
MERGE_FWHM = 1.0
#: With deblending rules on, sources within this distance [FWHM] are fit together.
GROUP_FWHM = 3.0
#: FLAG_BLENDED also when a neighbour's light in the aperture exceeds this share of the source's
#: own aperture flux (and its 1σ), with deblending rules on.
BLEND_SHARE = 0.1
#: Fractional error of a subtracted neighbour's model in the aperture, beyond its flux error.
NEIGHBOUR_MODEL_ERROR = 0.03
#: Blank sky needed to measure the excess noise, in PSF areas (π FWHM²).
BLANK_BEAMS = 30
#: Second-pass detections must exceed this fraction of a neighbour's S/N (see :func:`find_sources`).
MISFIT_FRACTION = 0.05
#: The same with deblending rules on: the fitted model is the PRF (or a good Gaussian), so a
#: residual peak a few per cent of its neighbour is a source.
DEBLEND_MISFIT_FRACTION = 0.02
#: An empirical correction replaces the Gaussian model's only when this many σ away from it.
CALIBRATION_NSIGMA = 3.0
MIN_CALIBRATORS = 5
#: photutils PSF flags counted as FLAG_FIT: no_convergence, no_covariance, near_bound.
_PSF_FIT_BAD = 8 | 16 | 32
_PSF_PARTIAL = 1

COLUMNS = ("id", "x", "y", "x_err", "y_err", "flux_psf", "flux_psf_err",
           "flux_aper", "flux_aper_err", "snr", "flags")


def prepare(data: np.ndarray, err: np.ndarray,
            mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate shapes; return (data, err, bad) with bad pixels set to data 0, err 1.

    Bad: NaN/inf data or err, err ≤ 0, or ``mask`` True.
    """
    data = np.asarray(data, dtype=float)
    err = np.asarray(err, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"data must be 2-D, got shape {data.shape}")
    if err.shape != data.shape:
        raise ValueError(f"err shape {err.shape} does not match the data's {data.shape}")
    bad = ~np.isfinite(data) | ~np.isfinite(err) | ~(err > 0)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != data.shape:
            raise ValueError(f"mask shape {mask.shape} does not match the data's {data.shape}")
        bad |= mask
    return np.where(bad, 0.0, data), np.where(bad, 1.0, err), bad


def prf_image(fwhm_px: float, half: int) -> np.ndarray:
    """The unit-flux pixel-integrated Gaussian on a (2·half+1)² grid, centred."""
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    return CircularGaussianPRF(flux=1.0, fwhm=fwhm_px)(xx, yy)


@dataclass(frozen=True, eq=False)
class Prf:
    """A point source's image on the mosaic grid (its PSF integrated over a pixel), unit flux.

    Without ``image``: the pixel-integrated Gaussian of FWHM ``fwhm`` [px] (photutils
    CircularGaussianPRF). With it: that image, sampled ``oversampling`` times per pixel,
    centred, summing to oversampling² (photutils ImagePSF); build it with :meth:`from_image`,
    which sets ``fwhm`` to the Gaussian-equivalent width (second moment, the pixel's own
    1/12 px² removed) that scales apertures, boxes and grouping.
    """

    fwhm: float
    image: np.ndarray | None = None
    oversampling: int = 1

    @classmethod
    def from_image(cls, image: np.ndarray, oversampling: int) -> Prf:
        image = np.asarray(image, float)
        if image.ndim != 2 or image.shape[0] != image.shape[1] or image.shape[0] % 2 == 0 \
                or not np.all(np.isfinite(image)) or not image.sum() > 0:
            raise ValueError(f"a PRF image must be square, odd-sized, finite and positive ({image.shape})")
        image = image * oversampling**2 / image.sum()
        half = image.shape[0] // 2
        yy, xx = (np.mgrid[-half:half + 1, -half:half + 1]) / oversampling
        var = np.sum((xx**2 + yy**2) * image) / (2 * np.sum(image)) - 1.0 / 12.0
        return cls(float(2.0 * np.sqrt(2.0 * np.log(2.0) * var)), image, int(oversampling))

    def model(self):
        """A fresh photutils model (flux 1 at the origin)."""
        if self.image is None:
            return CircularGaussianPRF(fwhm=self.fwhm)
        return ImagePSF(self.image, oversampling=self.oversampling)

    def stamp(self, half: int) -> np.ndarray:
        """The unit-flux PRF on a (2·half+1)² pixel grid, centred (the Gaussian: :func:`prf_image`)."""
        if self.image is None:
            return prf_image(self.fwhm, half)
        yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
        return self._evaluate(xx, yy, 0.0, 0.0)

    def at(self, xx: np.ndarray, yy: np.ndarray, x0: float, y0: float) -> np.ndarray:
        """Unit-flux PRF of a source at (x0, y0) in pixels (xx, yy)."""
        if self.image is None:
            return CircularGaussianPRF(flux=1.0, x_0=x0, y_0=y0, fwhm=self.fwhm)(xx, yy)
        return self._evaluate(xx, yy, x0, y0)

    def _evaluate(self, xx, yy, x0, y0):
        model = self._image_model
        model.x_0, model.y_0 = x0, y0
        return model(xx, yy)

    @cached_property
    def _image_model(self):
        return self.model()


def _kernel_half(fwhm_px: float) -> int:
    return int(np.ceil(2.0 * fwhm_px))


def fit_shape(fwhm_px: float) -> int:
    """Odd side of the PSF-fit box: ±1.2 FWHM, where the S/N of a Gaussian fit accrues."""
    return 2 * max(1, int(np.ceil(1.2 * fwhm_px))) + 1


def snr_map(resid: np.ndarray, err: np.ndarray, bad: np.ndarray, fwhm_px: float,
            prf: Prf | None = None) -> np.ndarray:
    """S/N of the PSF-weighted flux centred on each pixel of a background-subtracted image.

    ``Σ w P d / √(Σ w P²)`` with w = 1/σ² (0 on bad pixels), both sums convolutions:
    the error-normalised image filtered by the PSF, optimal for Gaussian noise and
    still in σ units where err varies or coverage ends.
    """
    kern = (prf or Prf(fwhm_px)).stamp(int(np.ceil(2.0 * fwhm_px)))
    w = np.where(bad, 0.0, 1.0 / err**2)
    num = fftconvolve(resid * w, kern, mode="same")
    den = fftconvolve(w, kern**2, mode="same")
    ok = den > 1e-3 * np.max(den, initial=0.0)
    return np.where(ok, num / np.sqrt(np.where(ok, den, 1.0)), 0.0)


def background(data: np.ndarray, err: np.ndarray, bad: np.ndarray,
               fwhm_px: float, prf: Prf | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Smooth background map and its 1σ per pixel (inputs as returned by :func:`prepare`).

    photutils Background2D gives sigma-clipped medians in boxes ≈ ``BOX_FWHM`` wide
    that tile the image; no median filter on the mesh (it bends curved backgrounds).
    The mesh is interpolated cubically between box centres and extrapolated linearly
    beyond them (Background2D's own zoom flattens the last half box, which biases
    detection at the edges of a sloped background). A second pass masks pixels within
    one FWHM of where the first residual's PSF S/N exceeds 3. The map's error is that
    of a median of the box's unmasked pixels, √(π/2)·rms/√n.
    """
    target = max(16, round(BOX_FWHM * fwhm_px))
    box = tuple(int(np.ceil(n / max(1, round(n / target)))) for n in data.shape)
    r = max(1, round(fwhm_px))
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    mask, level, sigma = bad, np.zeros(data.shape), np.zeros(data.shape)
    for _ in range(2):
        try:
            b2d = Background2D(data, box, mask=mask, filter_size=1, bkg_estimator=MedianBackground(),
                               exclude_percentile=90.0)
        except ValueError:  # no box with enough unmasked pixels: keep the previous pass
            break
        level = _interpolate(b2d.background_mesh, box, data.shape)
        npix = b2d.n_pixels_mesh  # 0 in excluded boxes, whose values Background2D interpolated
        npix = np.where(npix > 0, npix, np.max(npix))
        sigma = np.sqrt(np.pi / 2) * _interpolate(b2d.background_rms_mesh / np.sqrt(npix), box, data.shape)
        mask = bad | binary_dilation(snr_map(data - level, err, bad, fwhm_px, prf) > 3.0,
                                     structure=dx**2 + dy**2 <= r * r)
    return level, sigma


def _interpolate(mesh: np.ndarray, box: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Box-centre values to every pixel: cubic inside, linear extrapolation outside."""
    if min(mesh.shape) == 1:
        return np.full(shape, float(np.nanmedian(mesh)))
    centres = [np.arange(k) * b + (b - 1) / 2 for k, b in zip(mesh.shape, box, strict=True)]
    interp = RegularGridInterpolator(centres, mesh, method="cubic" if min(mesh.shape) >= 4 else "linear",
                                     bounds_error=False, fill_value=None)
    return interp(tuple(np.mgrid[0:shape[0], 0:shape[1]]))


def _peaks(resid: np.ndarray, err: np.ndarray, bad: np.ndarray, fwhm_px: float,
           threshold: float, prf: Prf | None = None, merge: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of :func:`snr_map` above ``threshold``: over 3×3 pixels, or with ``merge``
    over a disc of radius ``MERGE_FWHM`` FWHM (one source, one peak: closer pairs are not resolved)."""
    if merge:
        r = max(1, int(np.ceil(MERGE_FWHM * fwhm_px)))
        dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
        shape = {"footprint": dx**2 + dy**2 <= (MERGE_FWHM * fwhm_px) ** 2 + 0.5}
    else:
        shape = {"box_size": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        peaks = find_peaks(snr_map(resid, err, bad, fwhm_px, prf), threshold, mask=bad, **shape)
    if peaks is None:
        return np.zeros(0), np.zeros(0)
    return np.asarray(peaks["x_peak"], float), np.asarray(peaks["y_peak"], float)


def find_sources(data: np.ndarray, err: np.ndarray, *, fwhm_px: float, threshold: float = 5.0,
                 mask: np.ndarray | None = None, prf: Prf | None = None,
                 deblend: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions (x, y) of sources whose PSF S/N (:func:`snr_map`) peaks above ``threshold``.

    Two passes: peaks of the image, then peaks of the residual after subtracting PSF
    fits to those, which finds neighbours that only make a shoulder on a brighter
    source's filtered profile (≲ 2 FWHM away). Residual peaks within a FWHM of a fitted
    source, or below ``MISFIT_FRACTION`` of the S/N of one within 3 FWHM, are taken for
    PSF-model mismatch and dropped. ``prf`` (default the Gaussian of ``fwhm_px``) is the
    filter and the fitted model; ``deblend`` applies the rules of :func:`photometer`'s.
    """
    data, err, bad = prepare(data, err, mask)
    prf = prf or Prf(fwhm_px)
    return _detect(data - background(data, err, bad, fwhm_px, prf)[0], err, bad, prf, threshold, deblend)


def _detect(resid: np.ndarray, err: np.ndarray, bad: np.ndarray, prf: Prf,
            threshold: float, deblend: bool = False) -> tuple[np.ndarray, np.ndarray]:
    fwhm_px = prf.fwhm
    x, y = _peaks(resid, err, bad, fwhm_px, threshold, prf, merge=deblend)
    if len(x) == 0:
        return x, y
    psf, fit = _psf_fit(resid, err, bad, x, y, prf, group_fwhm=GROUP_FWHM if deblend else BLEND_FWHM)
    model = psf.make_model_image(resid.shape, psf_shape=(2 * _kernel_half(fwhm_px) + 1,) * 2)
    leftover = resid - np.nan_to_num(model)
    x2, y2 = _peaks(leftover, err, bad, fwhm_px, threshold, prf, merge=deblend)
    if len(x2) == 0:
        return x, y
    done = np.column_stack([np.where(np.isfinite(fit["x_fit"]), fit["x_fit"], x),
                            np.where(np.isfinite(fit["y_fit"]), fit["y_fit"], y)])
    fit_snr = np.nan_to_num(np.asarray(fit["flux_fit"] / fit["flux_err"], float))
    peak_snr = snr_map(leftover, err, bad, fwhm_px, prf)[y2.astype(int), x2.astype(int)]
    # A residual peak within a FWHM of a fitted source is a misfit, not a neighbour; so
    # is one fainter than MISFIT_FRACTION of a source within 3 FWHM (PSF-model mismatch).
    tree = cKDTree(done)
    d, _ = tree.query(np.column_stack([x2, y2]))
    near = tree.query_ball_point(np.column_stack([x2, y2]), 3 * fwhm_px)
    brightest = np.array([fit_snr[i].max(initial=0.0) for i in near])
    new = (d > fwhm_px) & (peak_snr > (DEBLEND_MISFIT_FRACTION if deblend else MISFIT_FRACTION) * brightest)
    return np.concatenate([x, x2[new]]), np.concatenate([y, y2[new]])


def _coverage(bad: np.ndarray, x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """Fraction of a circle of ``radius`` around each position on good, in-image pixels."""
    aper = CircularAperture(np.column_stack([x, y]), r=radius)
    good = aperture_photometry((~bad).astype(float), aper)["aperture_sum"]
    return np.asarray(good, float) / aper.area


def _neighbour_within(x: np.ndarray, y: np.ndarray, dist: float) -> np.ndarray:
    near = np.zeros(len(x), bool)
    if len(x) > 1:
        pairs = cKDTree(np.column_stack([x, y])).query_pairs(dist, output_type="ndarray")
        near[pairs.ravel()] = True
    return near


def _psf_fit(resid: np.ndarray, err: np.ndarray, bad: np.ndarray, x: np.ndarray, y: np.ndarray,
             prf: Prf, *, fit_position: bool = True, fit_fwhm_too: bool = False,
             shape: int | None = None, group_fwhm: float = BLEND_FWHM) -> tuple[PSFPhotometry, Table]:
    """photutils PSFPhotometry with the PRF's model; sources within ``group_fwhm`` fit together."""
    fwhm_px = prf.fwhm
    model = prf.model()
    if fit_fwhm_too:
        model.fwhm.fixed = False
    elif prf.image is None:
        model.fwhm.fixed = True
    model.x_0.fixed = model.y_0.fixed = not fit_position
    psf = PSFPhotometry(model, shape or fit_shape(fwhm_px),
                        grouper=SourceGrouper(min_separation=group_fwhm * fwhm_px),
                        xy_bounds=fwhm_px if fit_position else None, aperture_radius=fwhm_px)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=AstropyUserWarning)
        return psf, psf(resid, mask=bad, error=err, init_params=Table({"x": x, "y": y}))


def measure_fwhm(data: np.ndarray, err: np.ndarray, *, guess_px: float, mask: np.ndarray | None = None,
                 snr_min: float = 30.0, min_sources: int = MIN_CALIBRATORS, max_iter: int = 3) -> float:
    """Median FWHM [px] of a pixel-integrated Gaussian fit to bright, isolated sources.

    Sources: PSF S/N ≥ ``snr_min``, no other detection within 5 FWHM, the ±2 FWHM fit
    box fully covered, local background subtracted. Detection and box follow the
    current estimate, starting at ``guess_px``, until it changes by < 1 %. Returns
    ``guess_px`` with a warning when fewer than ``min_sources`` qualify.
    """
    data, err, bad = prepare(data, err, mask)
    fwhm = float(guess_px)
    for _ in range(max_iter):
        resid = data - background(data, err, bad, fwhm)[0]
        x, y = _peaks(resid, err, bad, fwhm, snr_min)
        shape = 2 * int(np.ceil(2.0 * fwhm)) + 1
        keep = ~_neighbour_within(x, y, 5 * fwhm) & (_coverage(bad, x, y, shape / np.sqrt(2)) > 0.999)
        if keep.sum() < min_sources:
            warnings.warn(f"{keep.sum()} bright isolated sources (< {min_sources}): "
                          f"FWHM left at {guess_px} px", stacklevel=2)
            return float(guess_px)
        x, y = x[keep], y[keep]
        _, fit = _psf_fit(resid, err, bad, x, y, Prf(fwhm), fit_fwhm_too=True, shape=shape)
        new = float(np.nanmedian(np.abs(fit["fwhm_fit"])))
        done = abs(new - fwhm) < 0.01 * fwhm
        fwhm = new
        if done:
            break
    return fwhm


def _weighted_ratio(ratio: np.ndarray, sigma: np.ndarray) -> tuple[float, float]:
    """Clipped inverse-variance mean and its error (the scatter/√n if that is larger)."""
    keep = ~np.ma.getmaskarray(sigma_clip(ratio, sigma=3.0, maxiters=5))
    r, w = ratio[keep], 1.0 / sigma[keep] ** 2
    formal = float(1.0 / np.sqrt(np.sum(w)))
    # PSF variations across the image show as scatter beyond the formal error
    scatter = float(np.std(r, ddof=1) / np.sqrt(len(r))) if len(r) > 1 else 0.0
    return float(np.sum(w * r) / np.sum(w)), max(formal, scatter)


def _aperture_sums(resid: np.ndarray, err: np.ndarray, bad: np.ndarray, x: np.ndarray, y: np.ndarray,
                   radius: float, level_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums and their 1σ (pixel noise ⊕ background error × area)."""
    aper = CircularAperture(np.column_stack([x, y]), r=radius)
    stats = ApertureStats(resid, aper, error=err, mask=bad)
    total = np.atleast_1d(np.asarray(stats.sum, float))
    pixel_err = np.atleast_1d(np.asarray(stats.sum_err, float))
    return total, np.hypot(pixel_err, level_err * aper.area)


def neighbour_light(prf: Prf, x: np.ndarray, y: np.ndarray, flux: np.ndarray, flux_err: np.ndarray,
                    radius: float, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per source: the other sources' fitted light in its aperture of ``radius``, and its 1σ.

    Each neighbour contributes F·E, E the share of its unit PRF on the aperture's good
    pixels (exact overlap); its 1σ is F·E·hypot(σ_F/F, ``NEIGHBOUR_MODEL_ERROR``), the
    fitted flux's error and the model's in the wings, summed in quadrature.
    """
    n = len(x)
    light, var = np.zeros(n), np.zeros(n)
    if n < 2:
        return light, np.sqrt(var)
    reach = radius + prf.image.shape[0] / (2 * prf.oversampling) if prf.image is not None \
        else radius + 3.0 * prf.fwhm
    good = np.isfinite(flux) & np.isfinite(flux_err) & np.isfinite(x) & np.isfinite(y)
    tree = cKDTree(np.column_stack([np.nan_to_num(x), np.nan_to_num(y)]))
    rel = np.hypot(np.where(flux != 0, flux_err / np.where(flux != 0, flux, 1.0), 0.0), NEIGHBOUR_MODEL_ERROR)
    for i, j in tree.query_pairs(reach, output_type="ndarray"):
        if not (good[i] and good[j]):
            continue
        for a, b in ((i, j), (j, i)):
            mask = CircularAperture((x[a], y[a]), r=radius).to_mask(method="exact")
            (y0, y1), (x0, x1) = (mask.bbox.iymin, mask.bbox.iymax), (mask.bbox.ixmin, mask.bbox.ixmax)
            yy, xx = np.mgrid[y0:y1, x0:x1]
            inside = (yy >= 0) & (xx >= 0) & (yy < bad.shape[0]) & (xx < bad.shape[1])
            ok = np.zeros(yy.shape, bool)
            ok[inside] = ~bad[yy[inside], xx[inside]]
            share = float(np.sum(mask.data * ok * prf.at(xx, yy, x[b], y[b])))
            light[a] += flux[b] * share
            var[a] += (flux[b] * share * rel[b]) ** 2
    return light, np.sqrt(var)


def excess_noise(leftover: np.ndarray, err: np.ndarray, bad: np.ndarray, prf: Prf, radius: float,
                 sources: np.ndarray) -> tuple[float, float]:
    """Noise beyond ``err`` in PSF and aperture fluxes, from the image left after the fitted sources.

    Sources below the threshold (confusion) and model residuals are in no pixel's error, but
    they are in every flux. Blank-field photometry measures them: the PSF-weighted flux
    (:func:`snr_map`) and aperture sums on a grid of positions (every half FWHM) more than
    2 FWHM from the detections scatter by ``s`` times their expected error; the excess
    factor sqrt(s² - 1) (0 when s <= 1; 3σ-clipped std) is returned for each, to be applied
    to each source's own sky-noise error. Needs blank sky of ``BLANK_BEAMS`` PSF areas
    (π FWHM² each), else (0, 0).
    """
    fwhm = prf.fwhm
    step = max(1, round(fwhm / 2))
    gy, gx = np.mgrid[step:leftover.shape[0] - step:step, step:leftover.shape[1] - step:step]
    gx, gy = gx.ravel().astype(float), gy.ravel().astype(float)
    far = np.ones(len(gx), bool)
    if len(sources):
        far = cKDTree(sources).query(np.column_stack([gx, gy]))[0] > 2 * fwhm
    far &= _coverage(bad, gx, gy, max(radius, 2 * fwhm)) > 0.999
    if far.sum() * step**2 < BLANK_BEAMS * np.pi * fwhm**2:
        return 0.0, 0.0
    gx, gy = gx[far], gy[far]
    z_psf = snr_map(leftover, err, bad, fwhm, prf)[gy.astype(int), gx.astype(int)]
    stats = ApertureStats(leftover, CircularAperture(np.column_stack([gx, gy]), r=radius), error=err,
                          mask=bad)
    z_ap = np.asarray(stats.sum, float) / np.asarray(stats.sum_err, float)
    out = []
    for z in (z_psf, z_ap):
        spread = float(np.std(sigma_clip(z, sigma=3.0, maxiters=5).compressed()))
        out.append(float(np.sqrt(max(spread**2 - 1.0, 0.0))))
    return out[0], out[1]


def photometer(data: np.ndarray, err: np.ndarray, x: np.ndarray, y: np.ndarray, *, fwhm_px: float,
               mask: np.ndarray | None = None, aper_radius_fwhm: float = 1.5, prf: Prf | None = None,
               deblend: bool = False) -> Table:
    """PSF-fit and aperture photometry at initial positions (x, y) [px, 0-based].

    ``prf`` (default the Gaussian of ``fwhm_px``; an image PRF sets the FWHM) is the model
    fitted and the one whose enclosed fraction is the model aperture correction.
    ``deblend``: sources within ``GROUP_FWHM`` are fit together; each aperture sum has
    its neighbours' fitted light (:func:`neighbour_light`) subtracted and that light's
    error added; FLAG_BLENDED also where it exceeds ``BLEND_SHARE`` of the source's
    own aperture flux and its 1σ. Meta ``n_blended`` counts the flagged sources; the
    blank-field excess noise (:func:`excess_noise`, meta ``excess_psf``, ``excess_aper``)
    is added to every flux error.

    Returns the :data:`COLUMNS` table (``id`` 1..N in input order) with meta
    ``fwhm_px``, ``aper_radius_px``, ``n_calibrators`` and, for ``aper_corr`` and
    ``psf_flux_corr`` (the factors applied to the aperture sums and PSF fluxes), their
    ``_err`` and ``_from`` ("model" or "image").
    """
    data, err, bad = prepare(data, err, mask)
    prf = prf or Prf(fwhm_px)
    fwhm_px = prf.fwhm
    x, y = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float))
    r_ap, r_big = aper_radius_fwhm * fwhm_px, BIG_RADIUS_FWHM * fwhm_px
    half = int(np.ceil(r_big)) + 1
    stamp = prf.stamp(half)
    # the PRF's enclosed fraction, averaged over sub-pixel phases
    phases = np.linspace(-0.375, 0.375, 4)
    centres = [(half + px, half + py) for px in phases for py in phases]
    enclosed = aperture_photometry(stamp, CircularAperture(centres, r=r_ap))["aperture_sum"]
    meta = {"fwhm_px": float(fwhm_px), "aper_radius_px": float(r_ap),
            "aper_corr": float(np.mean(1.0 / np.asarray(enclosed, float))), "aper_corr_err": 0.0,
            "aper_corr_from": "model", "psf_flux_corr": 1.0, "psf_flux_corr_err": 0.0,
            "psf_flux_corr_from": "model", "n_calibrators": 0}
    if deblend:
        meta.update(n_blended=0, excess_psf=0.0, excess_aper=0.0)
    n = len(x)
    if n == 0:
        return Table({c: np.zeros(0, int if c in ("id", "flags") else float) for c in COLUMNS}, meta=meta)

    level, level_sigma = background(data, err, bad, fwhm_px, prf)
    resid = data - level
    psf, fit = _psf_fit(resid, err, bad, x, y, prf, group_fwhm=GROUP_FWHM if deblend else BLEND_FWHM)
    xf, yf = np.asarray(fit["x_fit"], float), np.asarray(fit["y_fit"], float)
    flux_fit = np.asarray(fit["flux_fit"], float)
    psf_flags = np.asarray(fit["flags"], int)
    ok = np.isfinite(xf) & np.isfinite(yf)
    xa, ya = np.where(ok, xf, x), np.where(ok, yf, y)
    iy = np.clip(np.round(ya).astype(int), 0, data.shape[0] - 1)
    ix = np.clip(np.round(xa).astype(int), 0, data.shape[1] - 1)
    level_err = level_sigma[iy, ix]  # correlated over the aperture: it scales with the area
    # a background offset b moves a PSF-weighted flux by b·ΣP/ΣP², with ΣP = 1
    psf_err = np.hypot(np.asarray(fit["flux_err"], float), level_err / np.sum(stamp**2))
    s, s_err = _aperture_sums(resid, err, bad, xa, ya, r_ap, level_err)
    b, b_err = _aperture_sums(resid, err, bad, xa, ya, r_big, level_err)

    flags = np.zeros(n, int)
    flags[(_coverage(bad, xa, ya, r_ap) < 0.999) | ((psf_flags & _PSF_PARTIAL) != 0)
          ] |= FLAG_EDGE
    flags[_neighbour_within(xa, ya, BLEND_FWHM * fwhm_px)] |= FLAG_BLENDED
    flags[((psf_flags & _PSF_FIT_BAD) != 0) | ~ok] |= FLAG_FIT
    if deblend:
        light, light_err = neighbour_light(prf, xa, ya, np.where(ok, flux_fit, np.nan), psf_err, r_ap, bad)
        s, s_err = s - light, np.hypot(s_err, light_err)
        flags[(light > BLEND_SHARE * s) & (light > s_err)] |= FLAG_BLENDED
        meta["n_blended"] = int(np.count_nonzero(flags & FLAG_BLENDED))
        model = psf.make_model_image(resid.shape, psf_shape=(2 * half + 1,) * 2)
        ex_psf, ex_ap = excess_noise(resid - np.nan_to_num(model), err, bad, prf, r_ap,
                                     np.column_stack([xa, ya]))
        meta.update(excess_psf=ex_psf, excess_aper=ex_ap)
        # each source's sky-noise error: the PSF fit's 1/√(ΣP²/σ²) and the aperture's √(Σσ²)
        psf_sky = 1.0 / np.sqrt(np.maximum(fftconvolve(np.where(bad, 0.0, 1.0 / err**2), stamp**2,
                                                       mode="same")[iy, ix], 1e-300))
        apertures = CircularAperture(np.column_stack([xa, ya]), r=r_ap)
        ap_sky = ApertureStats(np.zeros_like(resid), apertures, error=err, mask=bad).sum_err
        psf_err = np.hypot(psf_err, ex_psf * psf_sky)
        s_err = np.hypot(s_err, ex_ap * np.atleast_1d(np.asarray(ap_sky, float)))

    c = ((flags == 0) & (flux_fit / psf_err > CALIBRATOR_SNR) & (_coverage(bad, xa, ya, r_big) > 0.999)
         & ~_neighbour_within(xa, ya, r_big + BLEND_FWHM * fwhm_px))
    meta["n_calibrators"] = int(c.sum())
    if c.sum() >= MIN_CALIBRATORS:
        for key, ratio, sigma in (
                ("aper_corr", b[c] / s[c], np.hypot(b_err[c] / b[c], s_err[c] / s[c])),
                ("psf_flux_corr", b[c] / flux_fit[c], np.hypot(b_err[c] / b[c], psf_err[c] / flux_fit[c]))):
            value, error = _weighted_ratio(ratio, ratio * sigma)
            if abs(value - meta[key]) > CALIBRATION_NSIGMA * error:  # the model does not describe the PSF
                meta.update({key: value, key + "_err": error, key + "_from": "image"})

    k, k_err = meta["psf_flux_corr"], meta["psf_flux_corr_err"]
    a, a_err = meta["aper_corr"], meta["aper_corr_err"]
    flux_psf = k * flux_fit
    flux_psf_err = np.hypot(k * psf_err, flux_fit * k_err)
    return Table({
        "id": np.arange(1, n + 1),
        "x": xa, "y": ya,
        "x_err": np.asarray(fit["x_err"], float), "y_err": np.asarray(fit["y_err"], float),
        "flux_psf": flux_psf, "flux_psf_err": flux_psf_err,
        "flux_aper": a * s, "flux_aper_err": np.hypot(a * s_err, s * a_err),
        "snr": flux_psf / flux_psf_err,
        "flags": flags,
    }, meta=meta)


def source_catalog(data: np.ndarray, err: np.ndarray, *, fwhm_px: float | None = None,
                   fwhm_guess_px: float = 2.0, threshold: float = 5.0,
                   mask: np.ndarray | None = None, aper_radius_fwhm: float = 1.5,
                   prf: Prf | None = None, deblend: bool = False) -> Table:
    """Detect sources above ``threshold`` σ and photometer them (see :func:`photometer`).

    The PRF: ``prf`` if given (the instrument's, sampled onto the mosaic grid), else the
    Gaussian of ``fwhm_px``, else of the FWHM measured with :func:`measure_fwhm` from
    ``fwhm_guess_px`` (meta ``fwhm_measured`` says whether). Rows are sorted by
    decreasing S/N.
    """
    data, err, bad = prepare(data, err, mask)
    measured = prf is None and fwhm_px is None
    if measured:
        fwhm_px = measure_fwhm(data, err, guess_px=fwhm_guess_px, mask=bad)
    prf = prf or Prf(fwhm_px)
    x, y = _detect(data - background(data, err, bad, prf.fwhm, prf)[0], err, bad, prf, threshold, deblend)
    cat = photometer(data, err, x, y, fwhm_px=prf.fwhm, mask=bad, aper_radius_fwhm=aper_radius_fwhm,
                     prf=prf, deblend=deblend)
    if len(cat):
        cat = cat[np.argsort(-np.nan_to_num(cat["snr"], nan=-np.inf), kind="stable")]
        cat["id"] = np.arange(1, len(cat) + 1)
    cat.meta.update(threshold=float(threshold), fwhm_measured=measured)
    return cat


def touches(mask: np.ndarray, x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """Per source: does any ``mask`` pixel lie within ``radius`` of (x, y)?"""
    if not mask.any() or len(x) == 0:
        return np.zeros(len(x), bool)
    ys, xs = np.nonzero(mask)
    near = cKDTree(np.column_stack([xs, ys])).query_ball_point(np.column_stack([x, y]), radius)
    return np.array([len(n) > 0 for n in near], bool)


def with_systematic(flux: np.ndarray, err: np.ndarray, fraction: float) -> np.ndarray:
    """Errors with a fractional systematic term (PSF model, resampling) added in quadrature."""
    return np.hypot(err, fraction * np.abs(flux))
