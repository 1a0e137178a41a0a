"""band_merge: match a second band to a prior catalog; forced fluxes and upper limits for the rest."""
