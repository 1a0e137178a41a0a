"""Ge slopes: see steps/gefit.py (segments of >= min_reads reads, noise-weighted combination)."""

from ..gefit import fit, short_segments

__all__ = ["fit", "short_segments"]
