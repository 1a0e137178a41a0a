"""Scoring a Level 3 source list against simulated truth (shared by the instrument tests)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Score:
    matched: np.ndarray  # per detection: index of its true source, -1 if none
    separation_arcsec: np.ndarray
    flux_ratio_psf: float  # median over S/N > 20
    flux_ratio_aper: float
    pull_std_psf: float  # unflagged matches (not confused)
    pull_std_aper: float
    position_rms_arcsec: float  # S/N > 20
    completeness: float  # of true sources with expected S/N >= 5 inside the covered area
    reliability: float  # of detections with S/N >= 5


def score(sources, ra, dec, flux, *, radius_arcsec: float, inside: np.ndarray,
          confused: np.ndarray | None = None) -> Score:
    """Match each detection to the nearest true source within ``radius_arcsec`` (one-to-one, nearest first).

    ``inside`` marks true sources where the mosaic is well covered; the expected
    S/N of a true source is its flux over the sky-limited PSF-flux error (10th percentile of all).
    ``confused`` marks true sources that cannot be measured alone (a neighbour in the same
    resolution element): their detections are left out of the pull figures.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    det = SkyCoord(sources["ra"] * u.deg, sources["dec"] * u.deg)
    true = SkyCoord(ra * u.deg, dec * u.deg)
    idx, sep, _ = det.match_to_catalog_sky(true)
    sep = sep.arcsec
    matched = np.full(len(sources), -1)
    taken: set[int] = set()
    for i in np.argsort(sep):
        if sep[i] < radius_arcsec and idx[i] not in taken:
            matched[i] = idx[i]
            taken.add(int(idx[i]))
    ok = matched >= 0
    f = np.where(ok, flux[np.maximum(matched, 0)], np.nan)
    bright = ok & (sources["snr"] > 20)
    clean = ok & (sources["flags"] == 0)
    if confused is not None:
        clean &= ~np.asarray(confused, bool)[np.maximum(matched, 0)]
    sigma = np.percentile(sources["flux_psf_err"], 10)
    wanted = inside & (flux / sigma >= 5)
    found = np.zeros(len(ra), bool)
    found[matched[ok]] = True
    strong = sources["snr"] >= 5
    return Score(
        matched, sep,
        float(np.median(sources["flux_psf"][bright] / f[bright])),
        float(np.median(sources["flux_aper"][bright] / f[bright])),
        float(np.std(((sources["flux_psf"] - f) / sources["flux_psf_err"])[clean])),
        float(np.std(((sources["flux_aper"] - f) / sources["flux_aper_err"])[clean])),
        float(np.sqrt(np.mean(sep[bright] ** 2))),
        float(found[wanted].mean()),
        float(ok[strong].mean()),
    )


def confused(truth: dict, fwhm_arcsec: float, within: float = 1.2, share: float = 0.1) -> np.ndarray:
    """True sources with another within ``within`` FWHM bringing more than ``share`` of their flux:
    one peak for two sources, which no list measures alone (truth keys ra, dec, flux)."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    sky = SkyCoord(np.asarray(truth["ra"]) * u.deg, np.asarray(truth["dec"]) * u.deg)
    flux = np.asarray(truth["flux"])
    idx1, idx2, _, _ = sky.search_around_sky(sky, within * fwhm_arcsec * u.arcsec)
    out = np.zeros(len(flux), bool)
    pair = (idx1 != idx2) & (flux[idx2] > share * flux[idx1])
    out[idx1[pair]] = True
    return out
