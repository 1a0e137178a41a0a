"""The archive: a content-addressed store and a catalog that never drift (see ARCHIVE.md).

Knows core, refdata, level0 and reproduce; names no instrument: which pipelines
process which raw product is declared by the instrument plugins
(``calpipe_processing``).
"""
