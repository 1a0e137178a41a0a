"""assign_wcs: give the image a celestial FITS TAN WCS from the pointing keywords."""
