"""Data-quality bit values, identical to JWST's for every instrument.

Plain ints (not an IntFlag) so that numpy keeps uint32 arrays uint32 when they
are OR-ed with a flag. Instrument artifacts (muxbleed, pulldown, jailbar,
droop, ...) do not use these bits; they go in an instrument's artifact plane.
"""


class DQ:
    GOOD = 0
    DO_NOT_USE = 1 << 0
    SATURATED = 1 << 1
    JUMP_DET = 1 << 2
    DROPOUT = 1 << 3
    OUTLIER = 1 << 4
    PERSISTENCE = 1 << 5
    AD_FLOOR = 1 << 6
    DEAD = 1 << 10
    HOT = 1 << 11
    LOW_QE = 1 << 13
    NONLINEAR = 1 << 16
    BAD_REF_PIXEL = 1 << 17
    NO_FLAT_FIELD = 1 << 18
    NO_GAIN_VALUE = 1 << 19
    NO_LIN_CORR = 1 << 20
    NO_SAT_CHECK = 1 << 21
    FLUX_ESTIMATED = 1 << 28
    REFERENCE_PIXEL = 1 << 31


NAMES: dict[str, int] = {k: v for k, v in vars(DQ).items() if k.isupper() and v}


def describe(value: int) -> list[str]:
    """Names of the bits set in one DQ value, e.g. for a pixel report."""
    return [name for name, bit in NAMES.items() if value & bit]
