"""mips_stim_response: divide by the responsivity R(t) measured with the bracketing stim flashes."""
