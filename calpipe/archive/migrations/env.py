"""Alembic environment of the archive catalog: runs on the connection the caller passes.

Shipped in the wheel; calpipe.archive.db drives it (`calpipe archive init`/`upgrade`).
"""

from __future__ import annotations

from alembic import context

from calpipe.archive.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
