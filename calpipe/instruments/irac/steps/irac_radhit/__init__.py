"""irac_radhit: flag radiation hits in a single frame: pixels too sharp to be a source."""
