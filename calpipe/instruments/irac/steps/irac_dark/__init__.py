"""irac_dark: subtract the dark frame of this frame time (DN per frame)."""
