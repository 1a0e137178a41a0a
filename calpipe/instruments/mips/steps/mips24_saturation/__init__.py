"""mips24_saturation: first-difference substitution for saturated pixels (SATURATED | FLUX_ESTIMATED)."""
