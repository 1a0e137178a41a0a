"""Example calpipe plugin: a template for instrument teams."""
