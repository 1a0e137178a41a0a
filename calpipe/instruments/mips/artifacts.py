"""Bits of the MIPS ARTIFACT plane: instrument effects found and corrected or flagged, kept out of DQ."""

JAILBAR = 1 << 0  # 24 um: readout-channel (column mod 4) offset subtracted
FLAT_SPOT = 1 << 1  # 24 um: under a scan-mirror flat spot (flat > 5 % below its median)
DIFF_SUBSTITUTED = 1 << 2  # 24 um: saturated; the rate comes from the first-difference plane
RESP_BUMP = 1 << 3  # Ge: a cosmic ray hit the ramp; the responsivity stays raised ~100 s after it
STIM_EXTRAPOLATED = 1 << 4  # Ge: the exposure lies outside its two stim flashes (R(t) extrapolated)
