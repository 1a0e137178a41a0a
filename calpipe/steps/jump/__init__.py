"""jump: flag cosmic-ray jumps in up-the-ramp groups by two-point differences."""
