"""source_catalog: detect point sources on a mosaic and measure PSF and aperture fluxes."""
