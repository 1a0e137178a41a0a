"""mips_source_catalog: source_catalog 1.1.0 with the array's PSF from the psf reference file."""
