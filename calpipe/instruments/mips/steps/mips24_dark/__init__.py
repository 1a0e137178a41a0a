"""mips24_dark: subtract the dark rate."""
