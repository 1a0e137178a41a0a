"""mips24_droop: subtract c x the mean array signal."""
