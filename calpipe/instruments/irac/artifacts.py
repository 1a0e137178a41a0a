"""Bits of the IRAC ARTIFACT plane: instrument effects found and corrected or flagged, kept out of DQ."""

MUXBLEED = 1 << 0
PULLDOWN = 1 << 1
JAILBAR = 1 << 2
FIRSTFRAME = 1 << 3
RADHIT = 1 << 4
SATURATED_FALLBACK = 1 << 5  # saturated pixel whose Fowler difference fell again
