"""The catalog's tables (SQLAlchemy 2, typed). Migrations in migrations/ must match them.

telemetry_file ⟷ exposure is many-to-many (a downlink file holds several
exposures, an exposure may span files). A ``product`` row is one stored file,
one *version*: Level 1 raw or a pipeline's output; its catalog columns (the IVOA
ObsCore 1.1 names, plus provenance and the reference-selection keywords) are
written from the file's own header in the transaction that registers it, so
they cannot drift from it. A unit of work is (obs_id, pipeline, pipeline
release, context, file name): unique, so that nothing is made or registered
twice. ``activity`` is the log of every state change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


exposure_telemetry = Table(
    "exposure_telemetry", Base.metadata,
    Column("exposure_id", ForeignKey("exposure.id"), primary_key=True),
    Column("telemetry_id", ForeignKey("telemetry_file.id"), primary_key=True),
)


class TelemetryFile(Base):
    """A downlinked Level 0 file, kept in the store by its sha256."""

    __tablename__ = "telemetry_file"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    packets: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    exposures: Mapped[list[Exposure]] = relationship(secondary=exposure_telemetry,
                                                     back_populates="telemetry")


# exposure states
INCOMPLETE, EXTRACTED, UNPROCESSED, FAILED = "incomplete", "extracted", "unprocessed", "failed"


class Exposure(Base):
    """One observation's exposure: its telemetry tag (if it came down as telemetry) and its state."""

    __tablename__ = "exposure"
    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str | None] = mapped_column(String(64), unique=True)  # PROGRAM:VISIT:EXPOSURE
    obs_id: Mapped[str | None] = mapped_column(String(128), unique=True)  # known once extracted
    program: Mapped[str | None] = mapped_column(String(64))
    instrument: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(128))  # host:pid of the process working on it
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    telemetry: Mapped[list[TelemetryFile]] = relationship(secondary=exposure_telemetry,
                                                          back_populates="exposures")


# product states
RAW, PROCESSING, SANDBOX, CURRENT, SUPERSEDED, OBSOLETE, ON_DEMAND = (
    "raw", "processing", "sandbox", "current", "superseded", "obsolete", "on-demand")
PRODUCT_STATES = (RAW, PROCESSING, SANDBOX, CURRENT, SUPERSEDED, OBSOLETE, ON_DEMAND, FAILED)

# ObsCore 1.1 columns kept per product version, in the order the standard lists them
OBSCORE = ("dataproduct_type", "calib_level", "obs_collection", "obs_id", "obs_publisher_did",
           "access_url", "access_format", "access_estsize", "target_name", "s_ra", "s_dec", "s_fov",
           "s_region", "s_resolution", "t_min", "t_max", "t_exptime", "t_resolution", "em_min", "em_max",
           "em_res_power", "o_ucd", "pol_states", "facility_name", "instrument_name", "proposal_id",
           "obs_release_date", "data_rights")
# what the catalog adds: how the version was made, and what chose its reference files
PROVENANCE = ("pipeline", "pipeline_version", "context", "run_id", "sha256", "state", "selection")


class Product(Base):
    """One stored product version and its catalog row."""

    __tablename__ = "product"
    __table_args__ = (
        UniqueConstraint("obs_id", "pipeline", "pipeline_version", "context", "filename", name="uq_work"),
        Index("ix_product_sky", "hpx", "t_min"),
        Index("ix_product_time", "t_min"),
        Index("ix_product_obs", "obs_id", "calib_level"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    exposure_id: Mapped[int | None] = mapped_column(ForeignKey("exposure.id"))
    filename: Mapped[str] = mapped_column(String(255))
    pipeline: Mapped[str] = mapped_column(String(64), default="")  # "" for raw (unique keys ignore NULL)
    pipeline_version: Mapped[str] = mapped_column(String(32), default="")
    context: Mapped[str] = mapped_column(String(16), default="")
    run_id: Mapped[str | None] = mapped_column(String(32))
    sha256: Mapped[str | None] = mapped_column(String(64), unique=True)  # None until stored (or failed)
    input_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    message: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    claimed_by: Mapped[str | None] = mapped_column(String(128))  # host:pid of the process making it
    made_at: Mapped[datetime] = mapped_column(DateTime)
    selection: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    hpx: Mapped[int | None] = mapped_column(BigInteger)  # HEALPix nested cell of (s_ra, s_dec), see catalog
    # ObsCore 1.1
    dataproduct_type: Mapped[str | None] = mapped_column(String(16))
    calib_level: Mapped[int] = mapped_column(Integer)
    obs_collection: Mapped[str | None] = mapped_column(String(64))
    obs_id: Mapped[str] = mapped_column(String(128))
    obs_publisher_did: Mapped[str | None] = mapped_column(String(255))
    access_url: Mapped[str | None] = mapped_column(String(255))
    access_format: Mapped[str | None] = mapped_column(String(64))
    access_estsize: Mapped[int | None] = mapped_column(BigInteger)  # kB
    target_name: Mapped[str | None] = mapped_column(String(128))
    s_ra: Mapped[float | None] = mapped_column(Float)
    s_dec: Mapped[float | None] = mapped_column(Float)
    s_fov: Mapped[float | None] = mapped_column(Float)
    s_region: Mapped[str | None] = mapped_column(Text)
    s_resolution: Mapped[float | None] = mapped_column(Float)
    t_min: Mapped[float | None] = mapped_column(Float)  # MJD
    t_max: Mapped[float | None] = mapped_column(Float)
    t_exptime: Mapped[float | None] = mapped_column(Float)
    t_resolution: Mapped[float | None] = mapped_column(Float)
    em_min: Mapped[float | None] = mapped_column(Float)  # m
    em_max: Mapped[float | None] = mapped_column(Float)
    em_res_power: Mapped[float | None] = mapped_column(Float)
    o_ucd: Mapped[str | None] = mapped_column(String(64))
    pol_states: Mapped[str | None] = mapped_column(String(32))
    facility_name: Mapped[str | None] = mapped_column(String(64))
    instrument_name: Mapped[str | None] = mapped_column(String(32), index=True)
    proposal_id: Mapped[str | None] = mapped_column(String(64), index=True)
    obs_release_date: Mapped[str | None] = mapped_column(String(32))
    data_rights: Mapped[str | None] = mapped_column(String(16))


class Activity(Base):
    """Who changed what, when and why: every product made and every state change."""

    __tablename__ = "activity"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    who: Mapped[str] = mapped_column(String(128))
    what: Mapped[str] = mapped_column(String(32))
    obs_id: Mapped[str | None] = mapped_column(String(128), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))
    state_from: Mapped[str | None] = mapped_column(String(16))
    state_to: Mapped[str | None] = mapped_column(String(16))
    why: Mapped[str] = mapped_column(Text)
