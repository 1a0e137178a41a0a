"""flat_field: divide by the pixel-response flat and propagate its uncertainty."""
