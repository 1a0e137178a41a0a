"""calpipe: calibration pipelines made of versioned step plugins, with provenance in every product."""

__version__ = "0.1.0"
