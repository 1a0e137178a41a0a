"""IRAC-only BCD steps (raw frame -> MJy/sr), in pipeline order (../pipelines/irac_bcd-1.1.0.yaml).

irac_fowler (sign flip, barrel shift, Fowler normalisation: a new IracBcdModel in DN per frame)
-> dq_init (generic) -> irac_wraparound -> irac_saturation -> irac_dark -> irac_firstframe
-> irac_muxbleed -> irac_linearity -> flat_field (generic) -> irac_jailbar -> irac_pulldown
-> irac_radhit -> irac_fluxconv.

Each step is a subpackage: step.py (thin Step class) and algorithm.py (pure numpy,
imported inside ``process``). ``readout.py`` holds the detector facts they share,
``keywords.py`` the header access that turns missing keywords into clear errors.
"""
