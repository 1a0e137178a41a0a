"""The sky all three MIPS bands see: one seeded source list, TAN pointings, a pixel-integrated PSF.

One seed gives one field (centre, roll) and one list of sources with RA/Dec and a flux in every
band, so that 24, 70 and 160 um AORs simulated with the same seed see the same sources at the
same positions (the Level 3 band merge matches them). Fluxes: 24 um from N(>S) ~ S^-0.5 over
SOURCE_FLUX_24; 70 um = 24 um x 10^N(0.9, 0.3) and 160 um = 70 um x 10^N(0.25, 0.2) (far-infrared
colours of star-forming galaxies, roughly). The field covers FIELD_RADIUS_DEG around the centre,
enough for every array and its dithers.
"""

from __future__ import annotations

import math

import numpy as np

from calpipe.sim.psf import point_source_image
from calpipe.sim.wcs import wcs_from_keywords

FIELD_RA, FIELD_DEC = 270.0, 66.56  # near the north ecliptic pole
FIELD_RADIUS_DEG = 0.08
SOURCE_DENSITY_DEG2 = 4000.0
SOURCE_FLUX_24 = (0.05, 200.0)  # mJy
COLOUR_70 = (0.9, 0.3)  # log10(F70 / F24): mean, sigma
COLOUR_160 = (0.25, 0.2)  # log10(F160 / F70)


def field(seed: int, ra: float = FIELD_RA, dec: float = FIELD_DEC) -> dict[str, np.ndarray | float]:
    """The seeded sky: roll [deg] and the sources (id, ra, dec, flux24, flux70, flux160 [mJy])."""
    rng = np.random.default_rng([seed, 0])
    roll = float(rng.uniform(0.0, 360.0))
    area = math.pi * FIELD_RADIUS_DEG**2
    n = int(rng.poisson(SOURCE_DENSITY_DEG2 * area))
    r = FIELD_RADIUS_DEG * np.sqrt(rng.uniform(0.0, 1.0, n))
    theta = rng.uniform(0.0, 2 * np.pi, n)
    xi, eta = r * np.cos(theta), r * np.sin(theta)  # tangent-plane offsets [deg]
    s_ra, s_dec = _untangent(xi, eta, ra, dec)
    a, b = SOURCE_FLUX_24[0] ** -0.5, SOURCE_FLUX_24[1] ** -0.5
    f24 = (a - rng.uniform(0.0, 1.0, n) * (a - b)) ** -2.0
    f70 = f24 * 10.0 ** rng.normal(*COLOUR_70, n)
    f160 = f70 * 10.0 ** rng.normal(*COLOUR_160, n)
    return {"roll": roll, "ra_centre": float(ra), "dec_centre": float(dec),
            "id": np.arange(n), "ra": s_ra, "dec": s_dec, "flux24": f24, "flux70": f70, "flux160": f160}


def _untangent(xi: np.ndarray, eta: np.ndarray, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic (TAN) deprojection of offsets [deg] (xi east, eta north) around (ra0, dec0)."""
    x, y = np.radians(xi), np.radians(eta)
    d0, a0 = math.radians(dec0), math.radians(ra0)
    denom = math.cos(d0) - y * math.sin(d0)
    ra = a0 + np.arctan2(x, denom)
    dec = np.arctan2(math.sin(d0) + y * math.cos(d0), np.hypot(x, denom))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def point_sources(x: np.ndarray, y: np.ndarray, total: np.ndarray, sigma: float,
                  shape: tuple[int, int]) -> np.ndarray:
    """Sum of Gaussian PSFs integrated over each pixel (float64); ``total`` is each source's sum."""
    return point_source_image(zip(x, y, total, strict=True), sigma, shape)


def sky_image(sources: dict, band_flux: str, keywords: dict, sigma: float, shape: tuple[int, int],
              pixar_sr: float, background: float) -> tuple[np.ndarray, dict]:
    """Sky [MJy/sr] on the array through its WCS, and the sources within reach (their x, y, flux)."""
    wcs = wcs_from_keywords(keywords)
    x, y = (np.asarray(v, np.float64) for v in wcs.world_to_pixel_values(sources["ra"], sources["dec"]))
    ny, nx = shape
    reach = 6 * sigma + 1
    here = (x > -reach) & (x < nx - 1 + reach) & (y > -reach) & (y < ny - 1 + reach)
    flux = np.asarray(sources[band_flux])
    per_mjy = 1e-9 / pixar_sr  # MJy/sr summed over pixels, per mJy
    image = background + point_sources(x[here], y[here], flux[here] * per_mjy, sigma, shape)
    found = {"id": np.asarray(sources["id"])[here], "x": x[here], "y": y[here],
             "ra": np.asarray(sources["ra"])[here], "dec": np.asarray(sources["dec"])[here],
             "flux": flux[here], "flux_mjysr_px": flux[here] * per_mjy}
    return image, found
