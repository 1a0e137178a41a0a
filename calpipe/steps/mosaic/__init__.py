"""Mosaic: many calibrated frames resampled onto one TAN grid and combined."""
