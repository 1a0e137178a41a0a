"""IRAC products: raw frames, BCDs and reference files, with the IRAC keywords."""

from __future__ import annotations

from calpipe.core.models.products import ImageModel, RawModel, ReferenceFileModel

from .asdf_resources import SCHEMA_URI_PREFIX


class IracRawModel(RawModel):
    """One raw IRAC frame (uint16 256x256) with its readout keywords."""

    schema_url = SCHEMA_URI_PREFIX + "raw-1.0.0"


class IracBcdModel(ImageModel):
    """IRAC Basic Calibrated Data: SCI/ERR/DQ in MJy/sr plus the ARTIFACT plane."""

    schema_url = SCHEMA_URI_PREFIX + "bcd-1.0.0"


class IracReferenceModel(ReferenceFileModel):
    """An IRAC reference file: with FRAMTIME (and CHNLNUM), so frame-time dependent types can be selected."""

    schema_url = SCHEMA_URI_PREFIX + "reference-1.0.0"
