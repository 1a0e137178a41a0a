"""irac: Spitzer IRAC, 256x256 Fowler-sampled frames in four channels (InSb 1-2, Si:As 3-4).

Facts: the IRAC Instrument Handbook (IRSA, v2.1) and Fazio et al. 2004, ApJS
154, 10; measured figures: README, "irac". Artifacts (muxbleed, pulldown,
jailbar, first-frame, radiation hits) are flagged in the BCD's own ARTIFACT
plane, not in DQ.
"""
