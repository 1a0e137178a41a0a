"""mips_ge_ramps: raw Ge reads to float ramps that still carry their stim cycles."""
