"""Hook implementations of the nir instrument."""

from __future__ import annotations

from calpipe.core.hookspecs import Instrument, RefSet, RefType, hookimpl

REFTYPES = {
    "mask": "bad-pixel mask (DQ)",
    "saturation": "saturation threshold per pixel [DN, bias included]",
    "superbias": "bias level per pixel [DN]",
    "linearity": "polynomial coefficients c_k (k = 0..n-1) giving linear counts from measured ones",
    "dark": "dark current per pixel [DN/s]",
    "gain": "gain per pixel [e-/DN]",
    "readnoise": "read noise of a single frame per pixel [DN]",
    "flat": "pixel-response flat field",
    "photom": "flux conversion: PHOTMJSR [MJy/sr per DN/s] and PIXAR_SR",
}


@hookimpl
def calpipe_instruments():
    return [Instrument("nir", "JWST-like", "HgCdTe 2048x2048 near-infrared detectors, MULTIACCUM ramps")]


@hookimpl
def calpipe_reftypes():
    return [RefType("nir", name, ("DETECTOR",), text) for name, text in REFTYPES.items()]
