"""irac_saturation: flag saturated pixels, including those whose Fowler difference fell again."""
