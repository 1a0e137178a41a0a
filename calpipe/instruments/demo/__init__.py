"""demo: a synthetic imager for the quickstart and the framework's tests.

It is a complete instrument plugin in miniature (instrument, reference types,
a deterministic reference set, a simulator with truth, a `calpipe demo`
command) registered through the same entry points as the real instruments.
"""
