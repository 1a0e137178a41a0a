"""The source list of a mosaic as a product of its own."""
