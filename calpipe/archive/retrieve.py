"""Retrieval: as archived, latest, or pinned to a release and context; made on the fly when missing.

- *as archived*: the version the catalog presents (``current``, else the newest
  ``sandbox``) at the level asked (default: the highest held, up to 2).
- *latest*: the newest release of each pipeline of the product's chain with the
  newest reference context; served from the store when a version with exactly
  that provenance exists, else made from Level 1 (as HST's OTFR did) and kept
  as a version in state ``on-demand``.
- *pinned* NAME@VERSION [context N]: that release (earlier pipelines of the
  chain at their newest release) with context N (default: the release's own),
  served or made and kept likewise. The same release, context and input give
  the same SCI/ERR/DQ bytes, so a pinned remake equals what that release made.

Every file is copied out of the store after its sha256 is checked.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from calpipe.core.errors import InputDataError, UsageError

from .directory import Archive, now
from .ingest import Report, make
from .tables import CURRENT, ON_DEMAND, RAW, SANDBOX, Activity, Product

AS_ARCHIVED, LATEST, PINNED = "as-archived", "latest", "pinned"
SHOWN = (CURRENT, SANDBOX)


def versions(archive: Archive, obs_id: str) -> list[Product]:
    with archive.db.read() as session:
        rows = session.scalars(select(Product).where(Product.obs_id == obs_id).order_by(Product.id)).all()
    if not rows:
        raise InputDataError(f"observation {obs_id!r} is not in the archive (find it with "
                             "`calpipe archive search`)")
    return list(rows)


def as_archived(rows: list[Product], level: int | None) -> Product:
    held = [p for p in rows if p.state in (*SHOWN, RAW) and p.sha256]
    levels = sorted({p.calib_level for p in held if p.calib_level <= 2})
    if not levels:
        raise InputDataError(f"{rows[0].obs_id}: no archived product yet (see `calpipe archive history "
                             f"{rows[0].obs_id}`)")
    level = levels[-1] if level is None else level
    at_level = [p for p in held if p.calib_level == level]
    if not at_level:
        raise InputDataError(f"{rows[0].obs_id}: no level {level} product archived (held: "
                             f"{', '.join(map(str, levels))})")
    current = [p for p in at_level if p.state == CURRENT]
    return (current or at_level)[-1]


def get(archive: Archive, obs_id: str, out_dir: Path, mode: str = AS_ARCHIVED, level: int | None = None,
        pinned: str | None = None, context: int | None = None) -> tuple[Path, Product, Report]:
    """Write the requested version of ``obs_id`` into ``out_dir``; returns (file, its row, report)."""
    report = Report()
    rows = versions(archive, obs_id)
    archived = as_archived(rows, level)
    if mode == AS_ARCHIVED:
        product = archived
    elif archived.calib_level == 1:
        product = archived  # raw data have no release or context: there is only one version
    else:
        product = _remade(archive, rows, archived, mode, pinned, context, report)
    path = archive.store.copy_out(product.sha256, Path(out_dir) / product.filename)
    with archive.db.write() as session:
        session.add(Activity(at=now(), who=archive.who, what="retrieved", obs_id=obs_id,
                             product_id=product.id,
                             why=f"{mode}: {product.filename} ({product.pipeline} {product.pipeline_version} "
                                 f"context {product.context})"))
    return path, product, report


def _remade(archive: Archive, rows: list[Product], archived: Product, mode: str, pinned: str | None,
            context: int | None, report: Report) -> Product:
    from astropy.io import fits

    raw = next((p for p in rows if p.calib_level == 1 and p.state == RAW), None)
    if raw is None:
        raise InputDataError(f"{archived.obs_id}: no Level 1 product archived to remake it from")
    chain = archive.registry.processing_for(raw.instrument_name,
                                            fits.getheader(archive.store.check(raw.sha256)).get)
    if chain is None or archived.pipeline not in chain.chain:
        raise UsageError(f"{archived.obs_id}: {archived.pipeline} is not in the processing chain declared "
                         f"for {raw.instrument_name}; only --as-archived can be served")
    names = list(chain.chain[: chain.chain.index(archived.pipeline) + 1])
    versions_: dict[str, str | None] = dict.fromkeys(names)
    if mode == LATEST:
        context = _latest_context(archive)
    elif mode == PINNED:
        if not pinned or "@" not in pinned:
            raise UsageError(f"--pinned {pinned!r}: give NAME@VERSION (e.g. {archived.pipeline}@"
                             f"{archived.pipeline_version})")
        name, version = pinned.split("@", 1)
        if name not in names:
            raise UsageError(f"--pinned {pinned}: {archived.obs_id} is made by {' then '.join(names)}, not "
                             f"{name}")
        names = names[: names.index(name) + 1]
        versions_[name] = version
        if context is None:
            from calpipe.core import api

            context = api.load(pinned, archive.registry).refdata
    else:
        raise UsageError(f"unknown retrieval mode {mode!r}")
    current = raw
    for name in names:
        made = make(archive, name, current, archived.exposure_id, report, context=context, state=ON_DEMAND,
                    why=f"{mode} retrieval", version=versions_.get(name))
        if made is None:
            raise InputDataError(f"{archived.obs_id}: {name} failed: "
                                 + "; ".join(m for _, m in report.problems))
        current = made
    return current


def _latest_context(archive: Archive) -> int:
    from calpipe.refdata.resolver import ContextResolver
    from calpipe.refdata.store import Store, default_root

    return ContextResolver(Store(default_root(archive.refdata)), None, {}, archive.registry).pin()


def history(archive: Archive, obs_id: str) -> tuple[list[Product], list[Activity]]:
    rows = versions(archive, obs_id)
    with archive.db.read() as session:
        log = session.scalars(select(Activity).where(Activity.obs_id == obs_id).order_by(Activity.id)).all()
    return rows, list(log)

