"""access and notifications: accounts, API tokens, programs, grants, audit, outbox, deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("product_member", "delivery", "subscription", "program_grant", "api_token", "program", "event",
          "audit", "account")


def upgrade() -> None:
    op.create_table("account",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("name", sa.String(length=64), nullable=False),
    sa.Column("email", sa.String(length=255), nullable=True),
    sa.Column("password_hash", sa.String(length=255), nullable=True),
    sa.Column("operator", sa.Boolean(), nullable=False),
    sa.Column("disabled", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("failed_logins", sa.Integer(), nullable=False),
    sa.Column("locked_until", sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("name")
    )
    op.create_table("audit",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("account", sa.String(length=64), nullable=True),
    sa.Column("product_id", sa.Integer(), nullable=True),
    sa.Column("obs_id", sa.String(length=128), nullable=True),
    sa.Column("path", sa.String(length=32), nullable=False),
    sa.Column("outcome", sa.String(length=16), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )
    op.create_index("ix_audit_at", "audit", ["at"], unique=False)
    op.create_table("event",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("at", sa.DateTime(), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("program", sa.String(length=64), nullable=True),
    sa.Column("product_ids", sa.JSON(), nullable=False),
    sa.Column("fanned_out", sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )
    op.create_index("ix_event_at", "event", ["at"], unique=False)
    op.create_index("ix_event_fanned_out", "event", ["fanned_out"], unique=False)
    op.create_index("ix_event_program", "event", ["program"], unique=False)
    op.create_table("program",
    sa.Column("id", sa.String(length=64), nullable=False),
    sa.Column("pi", sa.String(length=64), nullable=True),
    sa.Column("months", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )
    op.create_table("api_token",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("account_id", sa.Integer(), nullable=False),
    sa.Column("digest", sa.String(length=64), nullable=False),
    sa.Column("label", sa.String(length=128), nullable=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=False),
    sa.Column("revoked_at", sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(["account_id"], ["account.id"], ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("digest")
    )
    op.create_index("ix_api_token_account_id", "api_token", ["account_id"], unique=False)
    op.create_table("program_grant",
    sa.Column("program_id", sa.String(length=64), nullable=False),
    sa.Column("account_id", sa.Integer(), nullable=False),
    sa.Column("granted_by", sa.String(length=64), nullable=False),
    sa.Column("granted_at", sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(["account_id"], ["account.id"], ),
    sa.ForeignKeyConstraint(["program_id"], ["program.id"], ),
    sa.PrimaryKeyConstraint("program_id", "account_id")
    )
    op.create_table("subscription",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("account_id", sa.Integer(), nullable=False),
    sa.Column("program", sa.String(length=64), nullable=False),
    sa.Column("mode", sa.String(length=16), nullable=False),
    sa.Column("last_sent_at", sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(["account_id"], ["account.id"], ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("account_id", "program", name="uq_subscription")
    )
    op.create_table("delivery",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("event_id", sa.Integer(), nullable=False),
    sa.Column("subscription_id", sa.Integer(), nullable=False),
    sa.Column("dedupe_key", sa.String(length=128), nullable=False),
    sa.Column("product_ids", sa.JSON(), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_try", sa.DateTime(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("sent_at", sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(["event_id"], ["event.id"], ),
    sa.ForeignKeyConstraint(["subscription_id"], ["subscription.id"], ),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("dedupe_key"),
    sa.UniqueConstraint("event_id", "subscription_id", name="uq_delivery")
    )
    op.create_index("ix_delivery_state", "delivery", ["state"], unique=False)
    op.create_index("ix_delivery_subscription_id", "delivery", ["subscription_id"], unique=False)
    op.create_table("product_member",
    sa.Column("product_id", sa.Integer(), nullable=False),
    sa.Column("member_id", sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(["member_id"], ["product.id"], ),
    sa.ForeignKeyConstraint(["product_id"], ["product.id"], ),
    sa.PrimaryKeyConstraint("product_id", "member_id")
    )
    with op.batch_alter_table("product") as batch_op:
        batch_op.add_column(sa.Column("release_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_product_release_at", ["release_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("product") as batch_op:
        batch_op.drop_index("ix_product_release_at")
        batch_op.drop_column("release_at")
    for name in TABLES:
        op.drop_table(name)
