"""ramp_fit: fit up-the-ramp slopes (DN/s) with optimal weights, split at jumps and saturation."""
