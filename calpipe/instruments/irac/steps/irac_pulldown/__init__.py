"""irac_pulldown: remove the constant column offset a bright pixel leaves in its column."""
