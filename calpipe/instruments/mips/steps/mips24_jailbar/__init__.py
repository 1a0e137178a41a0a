"""mips24_jailbar: equalise the four readout channels (column mod 4)."""
