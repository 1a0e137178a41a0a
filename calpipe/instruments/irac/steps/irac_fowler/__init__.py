"""irac_fowler: raw 16-bit words to a float BCD in DN per frame (InSb sign flip, barrel shift, ÷ N)."""
