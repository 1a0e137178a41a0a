"""irac_linearity: Fowler-aware quadratic linearity correction (reference alpha per pixel)."""
