"""irac_firstframe: remove the bias offset that depends on the delay since the previous frame."""
