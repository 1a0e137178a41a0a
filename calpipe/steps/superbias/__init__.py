"""superbias: subtract the per-pixel bias level from every group."""
