"""common_mode: amplifier drift of readouts without reference pixels, measured from the data."""
