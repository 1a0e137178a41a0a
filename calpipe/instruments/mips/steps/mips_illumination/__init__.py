"""mips_illumination: the Ge illumination correction (stim units to MIU)."""
