"""Registers the generic steps through the same entry point a third-party plugin uses."""

from calpipe.core.hookspecs import hookimpl


@hookimpl
def calpipe_steps():
    from .dq_init.step import DQInitStep
    from .flat_field.step import FlatFieldStep

    return [DQInitStep, FlatFieldStep]
