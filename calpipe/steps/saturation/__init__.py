"""saturation: flag saturated groups (and their neighbours) and groups at the A/D floor."""
