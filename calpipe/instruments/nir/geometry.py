"""Readout geometry of the nir detectors: plain constants, so the plugin can state them without numpy.

A full frame has a border of NREF reference pixels on every side (no light, only
the electronics) and is read by NAMP amplifiers of AMP_WIDTH adjacent columns,
as JWST's HgCdTe detectors are (JWST User Documentation, "NIRCam Detector Readout").
"""

FULL = 2048  # pixels per side
NREF = 4  # reference-pixel border width
NAMP = 4  # amplifiers, each reading AMP_WIDTH full-frame columns
AMP_WIDTH = FULL // NAMP
