"""Reference-data system: content-addressed store, numbered contexts, rule-based selection."""
