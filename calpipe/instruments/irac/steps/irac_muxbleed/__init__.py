"""irac_muxbleed: remove the InSb multiplexer trail after bright pixels along the readout order."""
