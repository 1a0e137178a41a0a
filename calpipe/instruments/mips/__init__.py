"""Spitzer MIPS: the 24 um Si:As array (on-board slopes) and the 70/160 um Ge:Ga arrays (SUR ramps).

plugin.py (hooks), models.py + schemas/ (products), detector.py (array facts and the
seeded detector model), sky.py (the one sky source list all bands share), simulate.py
(`calpipe sim mips`), refs.py (built-in reference context 4), steps/ (the BCD steps).
"""
