"""linearity: correct the detector's non-linear response with a per-pixel polynomial."""
