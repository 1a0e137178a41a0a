"""Hook implementations of the irac instrument."""

from __future__ import annotations

from calpipe.core.hookspecs import Instrument, hookimpl


@hookimpl
def calpipe_instruments():
    return [Instrument("irac", "Spitzer", "IRAC 3.6/4.5/5.8/8.0 um, 256x256 Fowler-sampled frames")]


@hookimpl
def calpipe_models():
    from .models import IracBcdModel, IracRawModel

    return [IracRawModel, IracBcdModel]
