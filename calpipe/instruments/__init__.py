"""Instrument plugins (nir, irac, mips), each registered through the `calpipe` entry points."""
