"""dark_current: subtract the dark charge accumulated by each group's mean read time."""
