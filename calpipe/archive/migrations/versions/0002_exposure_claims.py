"""exposure claims: claimed_by, so that concurrent ingests take an exposure one at a time

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 20:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exposure") as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exposure") as batch_op:
        batch_op.drop_column("claimed_by")
