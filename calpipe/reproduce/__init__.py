"""Remaking products from their own provenance, and reprocessing them with the newest pipeline.

`calpipe reproduce` reruns exactly what a product records (pipeline definition,
step versions, parameters, reference files by sha256, the raw input by
sha256) and says IDENTICAL or shows how the arrays differ; `calpipe reprocess
--latest` reruns the same input with the newest release and the current
reference context and reports what changed: the gate an archive uses before
replacing a product.
"""
