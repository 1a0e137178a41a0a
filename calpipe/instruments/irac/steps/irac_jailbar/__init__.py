"""irac_jailbar: equalise the four readout channels (column mod 4) on the sky."""
