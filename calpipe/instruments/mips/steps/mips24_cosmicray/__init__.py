"""mips24_cosmicray: flag (never correct) cosmic rays in a 24 um slope image."""
