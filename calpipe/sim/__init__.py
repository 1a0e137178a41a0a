"""The simulation kit: what every instrument's simulator draws the same way.

psf          a Gaussian PSF integrated over each pixel (erf), point-source images
cosmic_rays  hit times, positions and lognormal charges; a hit's footprint; empty hit tables
defects      the hot / dead / low-QE bad-pixel draw
wcs          the TAN WCS of a pointing (RA_REF, DEC_REF, ROLL_REF)

Simulators make the truth that calibration is checked against, so they share no code with
calibration: a shared bug would cancel out and pass every test. The one exception, on purpose,
is pure geometry: the TAN projection of a pointing (``calpipe.steps.assign_wcs.algorithm.tan_wcs``
and ``calpipe.steps.wcs.wcs_from_keywords``), which is what the pointing keywords *mean* rather
than something measured; tests/steps/test_assign_wcs.py checks it against hand-computed values.
tests/test_layering.py enforces this: the kit imports only calpipe.core and those two modules,
and only instruments import the kit.

Every function takes the caller's numpy Generator and draws in a fixed order, so a simulator
gives the same bytes for the same seed.
"""
