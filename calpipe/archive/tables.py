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
    Boolean,
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
    # access (access.py): when the data become public; kept per product, the same for every version
    release_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)


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


# -- access (access.py) and notifications (notify.py) ----------------------------------------

product_member = Table(
    "product_member", Base.metadata,
    Column("product_id", ForeignKey("product.id"), primary_key=True),
    Column("member_id", ForeignKey("product.id"), primary_key=True),
)  # a Level 3 product's inputs: it is released only when all of them are


class Account(Base):
    """An archive login (not a proposal-system account): argon2 password hash, operator role."""

    __tablename__ = "account"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    operator: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)  # since the last success
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)  # rate limit after failed logins


class Token(Base):
    """An API token: only its sha256 is kept (the token itself is shown once)."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class Program(Base):
    """A program: its PI (an account name, which may not exist yet) and exclusive-access months."""

    __tablename__ = "program"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pi: Mapped[str | None] = mapped_column(String(64))
    months: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Grant(Base):
    """Access to a program's exclusive data for an account other than its PI."""

    __tablename__ = "program_grant"
    program_id: Mapped[str] = mapped_column(ForeignKey("program.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), primary_key=True)
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(DateTime)


class Audit(Base):
    """Every data access served or refused: who, which product, when, by which path, and why."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    account: Mapped[str | None] = mapped_column(String(64))  # None: anonymous
    product_id: Mapped[int | None] = mapped_column(Integer)
    obs_id: Mapped[str | None] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))  # served | refused | login-failed
    reason: Mapped[str] = mapped_column(Text)  # for operators only, never shown to the requester


class Event(Base):
    """The outbox: written in the transaction of the change it announces."""

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # sandbox | archived | reprocessed | public
    program: Mapped[str | None] = mapped_column(String(64), index=True)
    product_ids: Mapped[list[int]] = mapped_column(JSON)
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class Subscription(Base):
    """An account's wish to be mailed about a program's events, at once or as a daily digest."""

    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("account_id", "program", name="uq_subscription"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    program: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))  # immediate | daily
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime)


class Delivery(Base):
    """One event for one subscriber: unique, so that it is mailed once (its key is the Message-ID)."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("event_id", "subscription_id", name="uq_delivery"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    product_ids: Mapped[list[int]] = mapped_column(JSON)  # the event's products this subscriber may read
    state: Mapped[str] = mapped_column(String(16), index=True)  # queued | sent
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try: Mapped[datetime] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
# bulk reprocessing: a campaign is a snapshot of its plan, one job per unit of work
CAMPAIGN_STATES = ("running", "paused", "reviewable", "accepted", "cancelled")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
REVIEW = "review"  # product state: made by a bulk campaign not yet accepted (not served as archived)


class BulkCampaign(Base):
    """A reprocessing campaign: what it targets, its selection and where it stands."""

    __tablename__ = "bulk_campaign"
    id: Mapped[int] = mapped_column(primary_key=True)
    selection: Mapped[str] = mapped_column(String(255), unique=True)  # canonical text of the plan's options
    target: Mapped[str] = mapped_column(String(96))  # NAME@VERSION, or "context N"
    state: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    max_attempts: Mapped[int] = mapped_column(Integer)
    timeout_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime)


class Job(Base):
    """One unit of work (observation, release, context) of a campaign, and its product once made."""

    __tablename__ = "job"
    __table_args__ = (
        UniqueConstraint("obs_id", "pipeline", "pipeline_version", "context", name="uq_job_work"),
        Index("ix_job_queue", "campaign_id", "state", "priority"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("bulk_campaign.id"))
    obs_id: Mapped[str] = mapped_column(String(128))
    pipeline: Mapped[str] = mapped_column(String(64))
    pipeline_version: Mapped[str] = mapped_column(String(32))
    context: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[int] = mapped_column(ForeignKey("product.id"))  # the input product
    replaces_id: Mapped[int] = mapped_column(ForeignKey("product.id"))  # the version it would supersede
    why: Mapped[str] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(128))  # host:pid running it
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"), unique=True)  # published once
