"""The framework. It knows no instrument: instruments arrive as plugins through the registry."""
