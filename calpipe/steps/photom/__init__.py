"""photom: convert rates in DN/s to surface brightness in MJy/sr."""
