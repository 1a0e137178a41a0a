"""irac_wraparound: restore Fowler differences that wrapped through 0/65535 in the 16-bit word."""
