"""Step class for source_list."""

from __future__ import annotations

from calpipe.core.errors import InputDataError
from calpipe.core.step import Step


class SourceListStep(Step):
    """The mosaic's SOURCES table as a product of its own: the FITS table users download beside the image."""

    name = "source_list"
    version = "1.0.0"

    def process(self, product, refs, params):
        from calpipe.core.models.products import SourceCatalogModel

        from ..arrays import table_values

        if getattr(product, "sources", None) is None:
            raise InputDataError(f"{product.meta.filename or 'the mosaic'}: no SOURCES table "
                                 "(run source_catalog before source_list)")
        out = SourceCatalogModel()
        out.update(product)
        out.sources = table_values(product.sources, out.get_dtype("sources"))
        out.meta.sources = product.meta.sources.instance
        return out
