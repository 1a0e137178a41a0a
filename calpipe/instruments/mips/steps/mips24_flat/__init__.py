"""mips24_flat: divide by the flat of the DCE's scan-mirror position."""
