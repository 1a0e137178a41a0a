"""calpipe's product classes: thin stdatamodels subclasses bound to calpipe schemas."""

from __future__ import annotations

from stdatamodels import DataModel

from .asdf_resources import SCHEMA_URI_PREFIX


class CalpipeModel(DataModel):
    """Base of every calpipe product; `data_level` says where it sits in the chain."""

    schema_url = SCHEMA_URI_PREFIX + "core-1.0.0"
    data_level: int | None = None

    def __init__(self, init=None, **kwargs):
        # Validating every assignment costs ~5 ms per array (asdf re-reads the schemas): a step
        # assigns a dozen. Products are validated as a whole when they are written instead.
        kwargs.setdefault("validate_on_assignment", False)
        super().__init__(init, **kwargs)

    def on_init(self, init) -> None:
        super().on_init(init)
        if self.data_level is not None and self.meta.data_level is None:
            self.meta.data_level = self.data_level

    def add_history_entries(self, descriptions: list[str]) -> None:
        """Append HISTORY entries, as ``add_history_entry`` would one by one, stamped with this second.

        asdf validates each new entry on its own, parsing the history schemas
        again every time (~0.4 ms an entry, a pipeline run adds ~20); the
        entries are validated with the whole product when it is written.
        """
        from datetime import UTC, datetime

        from asdf.tags.core import HistoryEntry

        now = datetime.now(UTC).replace(microsecond=0)
        entries = self.instance.setdefault("history", {}).setdefault("entries", [])
        entries.extend(HistoryEntry({"description": text, "time": now}) for text in descriptions)

    def on_save(self, path=None) -> None:
        super().on_save(path)
        self.annotate_tables()
        if self.meta.date is None:  # builders of reference files fix it, for identical bytes
            from datetime import UTC, datetime

            self.meta.date = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


    def annotate_tables(self) -> None:
        """Give tables their column units and descriptions (columns.py); most products have none."""


class _WithSources:
    """A product with a SOURCES table whose flux unit is in meta.sources.flux_unit."""

    def annotate_tables(self) -> None:
        from .columns import annotate

        annotate(self, "sources", "SOURCES", self.meta.sources.flux_unit)


class RawModel(CalpipeModel):
    """Level 1: uint16 frames or ramps exactly as read out."""

    schema_url = SCHEMA_URI_PREFIX + "raw-1.0.0"
    data_level = 1


class RampModel(CalpipeModel):
    """Level 1 in calibration: float ramps with pixel and group DQ (detector1 works on these)."""

    schema_url = SCHEMA_URI_PREFIX + "ramp-1.0.0"
    data_level = 1


class ImageModel(CalpipeModel):
    """Level 2: calibrated image with SCI, ERR, DQ and optional VAR_POISSON/VAR_RNOISE."""

    schema_url = SCHEMA_URI_PREFIX + "image-1.0.0"
    data_level = 2


class MosaicModel(_WithSources, CalpipeModel):
    """Level 3: combined image with a coverage map."""

    schema_url = SCHEMA_URI_PREFIX + "mosaic-1.0.0"
    data_level = 3


class SourceCatalogModel(_WithSources, CalpipeModel):
    """Level 3: point-source list as a FITS binary table (catalog-1.1.0 added positional errors)."""

    schema_url = SCHEMA_URI_PREFIX + "catalog-1.1.0"
    data_level = 3


class BandMergedCatalogModel(CalpipeModel):
    """Level 3: one band's sources with their counterparts, forced fluxes and limits in another."""

    schema_url = SCHEMA_URI_PREFIX + "bandmerge-1.0.0"
    data_level = 3

    def annotate_tables(self) -> None:
        from .columns import BANDMERGE_COLUMNS, annotate

        annotate(self, "sources", "SOURCES", self.meta.bandmerge.flux_unit, BANDMERGE_COLUMNS)


class ReferenceFileModel(CalpipeModel):
    """A calibration reference file; `meta.reftype` says which kind."""

    schema_url = SCHEMA_URI_PREFIX + "reference-1.0.0"


BUILTIN_MODELS: tuple[type[CalpipeModel], ...] = (
    RawModel,
    RampModel,
    ImageModel,
    MosaicModel,
    SourceCatalogModel,
    BandMergedCatalogModel,
    ReferenceFileModel,
)
