"""nir: JWST-like HgCdTe near-infrared detectors read up the ramp (MULTIACCUM).

Facts: the JWST User Documentation (JDox: NIRCam detector readout) and
Rauscher et al. 2007, PASP 119, 768; measured figures: README, "nir". The
detector's true maps (bias, flat, dark, gain, read noise, saturation,
nonlinearity, bad pixels) come from one seeded model in ``detector.py``; the reference builders and the
simulator both use it, so tests can compare what the pipeline recovers with
what went in.
"""
