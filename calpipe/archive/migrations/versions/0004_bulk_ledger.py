"""bulk ledger: reprocessing campaigns and their jobs (one per observation, release, context)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 21:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulk_campaign",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("selection", sa.String(255), nullable=False, unique=True),
        sa.Column("target", sa.String(96), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.Text()),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("accepted_at", sa.DateTime()),
    )
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("bulk_campaign.id"), nullable=False),
        sa.Column("obs_id", sa.String(128), nullable=False),
        sa.Column("pipeline", sa.String(64), nullable=False),
        sa.Column("pipeline_version", sa.String(32), nullable=False),
        sa.Column("context", sa.String(16), nullable=False),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("product.id"), nullable=False),
        sa.Column("replaces_id", sa.Integer(), sa.ForeignKey("product.id"), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(128)),
        sa.Column("started_at", sa.DateTime()),
        sa.Column("ended_at", sa.DateTime()),
        sa.Column("error", sa.Text()),
        sa.Column("exit_code", sa.Integer()),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("product.id"), unique=True),
        sa.UniqueConstraint("obs_id", "pipeline", "pipeline_version", "context", name="uq_job_work"),
    )
    op.create_index("ix_job_queue", "job", ["campaign_id", "state", "priority"])


def downgrade() -> None:
    op.drop_index("ix_job_queue", "job")
    op.drop_table("job")
    op.drop_table("bulk_campaign")
