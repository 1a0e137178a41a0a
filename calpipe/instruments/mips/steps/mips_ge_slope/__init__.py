"""mips_ge_slope: slopes of good ramp segments (>= 4 reads), combined by noise: cosmic rays removed."""
