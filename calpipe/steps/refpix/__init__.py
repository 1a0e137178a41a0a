"""refpix: remove amplifier offsets and row (1/f) noise measured on the reference-pixel border."""
