"""irac_fluxconv: DN per frame to MJy/sr with the reference FLUXCONV and EXPTIME."""
