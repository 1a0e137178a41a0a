"""MIPS products: raw DCEs (24 um slopes, Ge ramps), Ge ramps in calibration, BCDs and reference files."""

from __future__ import annotations

from calpipe.core.models.products import ImageModel, RampModel, RawModel, ReferenceFileModel

from .asdf_resources import SCHEMA_URI_PREFIX


class Mips24RawModel(RawModel):
    """One raw 24 um DCE: uint16 (2, 128, 128) = on-board slope words and first-difference words."""

    schema_url = SCHEMA_URI_PREFIX + "raw24-1.0.0"


class MipsGeRawModel(RawModel):
    """One raw 70 or 160 um DCE: uint16 reads (nreads, ny, nx) plus the ramps of its two stim cycles."""

    schema_url = SCHEMA_URI_PREFIX + "rawge-1.0.0"


class MipsGeRampModel(RampModel):
    """A 70/160 um ramp in calibration (float, DN) that still carries its stim cycles."""

    schema_url = SCHEMA_URI_PREFIX + "rampge-1.0.0"


class MipsBcdModel(ImageModel):
    """MIPS Basic Calibrated Data: SCI/ERR/DQ (MJy/sr when done) plus the ARTIFACT plane."""

    schema_url = SCHEMA_URI_PREFIX + "bcd-1.0.0"


class MipsReferenceModel(ReferenceFileModel):
    """A MIPS reference file, with MIPSBAND and, for the 24 um flat, the scan-mirror positions."""

    schema_url = SCHEMA_URI_PREFIX + "reference-1.0.0"
