"""MIPS BCD steps, in pipeline order.

24 um (../pipelines/mips24_bcd-1.0.0.yaml): mips24_slope (slope words to DN/s, ERR) -> dq_init
(generic) -> mips24_saturation (first-difference substitution) -> mips24_linearity -> mips24_droop
-> mips24_dark -> mips24_flat (scan-mirror dependent) -> mips24_jailbar -> mips24_cosmicray (flag
only) -> photom (generic).

70/160 um (mips70_bcd-1.0.0.yaml, mips160_bcd-1.0.0.yaml): mips_ge_ramps (reads to float ramps) -> dq_init ->
saturation -> superbias -> linearity -> dark_current -> jump (generic, per read) -> mips_ge_slope
(segments of >= 4 reads, noise-weighted: cosmic rays removed) -> mips_stim_response (R(t) from the
stim flashes) -> mips_illumination -> photom (generic).

Each step is a subpackage: step.py (thin Step class) and algorithm.py (pure numpy, imported inside
``process``); ``keywords.py`` holds the header access that turns missing keywords into clear errors.
"""
