"""Undo what the IRAC electronics did to a Fowler difference before downlink.

On board: D = Σ(signal reads) − Σ(pedestal reads) is shifted right by ABARREL
bits (truncated) and kept in 16 bits; the InSb channels 1-2 are negative-going
and downlinked as 65535 − word. On the ground (SSC modules insbposdom, cvti2r4
and the Fowler normalisation): word = 65535 − raw for InSb, word + truncation
bias, × 2^ABARREL / N gives the mean read difference in DN ("DN per frame").
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..readout import WORD, dn_per_word

Truncation = Literal["ssc", "floor", "none"]


def unflip(raw: np.ndarray, insb: bool) -> np.ndarray:
    """The stored word: 65535 − raw for the sign-inverted InSb channels, raw otherwise (int64)."""
    words = np.asarray(raw).astype(np.int64)
    return (WORD - 1) - words if insb else words


def truncation_bias(barrel: int, insb: bool, convention: Truncation) -> float:
    """Mean value [stored units] the barrel shift's truncation removed, to add back.

    Dropping B low bits of a sum spread evenly over its 2^B possible remainders
    loses 0.5 (1 − 2^−B) units on average. "ssc": the SSC pipeline's signs,
    − for InSb (the shift truncated the inverted sum, so after the flip the
    word is rounded up) and + for Si:As; "floor": + for every channel (a
    simulator that flips after shifting); "none": no correction.
    """
    if convention == "none" or barrel == 0:
        return 0.0
    bias = 0.5 * (1.0 - 2.0**-barrel)
    return -bias if convention == "ssc" and insb else bias


def normalise(words: np.ndarray, barrel: int, nfowler: int, bias: float = 0.0) -> np.ndarray:
    """(word + bias) × 2^ABARREL / N as float32 DN per frame (exact for integer words and bias 0)."""
    return ((np.asarray(words, np.float64) + bias) * dn_per_word(barrel, nfowler)).astype(np.float32)
