"""irac: Spitzer IRAC, 256x256 Fowler-sampled frames in four channels (InSb 1-2, Si:As 3-4).

Facts and acceptance figures: shared/INSTRUMENTS.md. Artifacts (muxbleed,
pulldown, jailbar, first-frame, radiation hits) are flagged in the BCD's own
ARTIFACT plane, not in DQ.
"""
