"""gain_scale: rescale a rate image taken with a non-standard gain setting by GAINFACT."""
