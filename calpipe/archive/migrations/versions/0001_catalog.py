"""the catalog: telemetry, exposures, product versions, activity

Revision ID: 0001
Revises: (none)
Create Date: 2026-12-04 19:59:41
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('exposure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=True),
    sa.Column('obs_id', sa.String(length=128), nullable=True),
    sa.Column('program', sa.String(length=64), nullable=True),
    sa.Column('instrument', sa.String(length=32), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('obs_id'),
    sa.UniqueConstraint('tag')
    )
    op.create_table('telemetry_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('packets', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sha256')
    )
    op.create_table('exposure_telemetry',
    sa.Column('exposure_id', sa.Integer(), nullable=False),
    sa.Column('telemetry_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['exposure_id'], ['exposure.id'], ),
    sa.ForeignKeyConstraint(['telemetry_id'], ['telemetry_file.id'], ),
    sa.PrimaryKeyConstraint('exposure_id', 'telemetry_id')
    )
    op.create_table('product',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('exposure_id', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('pipeline', sa.String(length=64), nullable=False),
    sa.Column('pipeline_version', sa.String(length=32), nullable=False),
    sa.Column('context', sa.String(length=16), nullable=False),
    sa.Column('run_id', sa.String(length=32), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('input_sha256', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('exit_code', sa.Integer(), nullable=True),
    sa.Column('claimed_by', sa.String(length=128), nullable=True),
    sa.Column('made_at', sa.DateTime(), nullable=False),
    sa.Column('selection', sa.JSON(), nullable=True),
    sa.Column('hpx', sa.BigInteger(), nullable=True),
    sa.Column('dataproduct_type', sa.String(length=16), nullable=True),
    sa.Column('calib_level', sa.Integer(), nullable=False),
    sa.Column('obs_collection', sa.String(length=64), nullable=True),
    sa.Column('obs_id', sa.String(length=128), nullable=False),
    sa.Column('obs_publisher_did', sa.String(length=255), nullable=True),
    sa.Column('access_url', sa.String(length=255), nullable=True),
    sa.Column('access_format', sa.String(length=64), nullable=True),
    sa.Column('access_estsize', sa.BigInteger(), nullable=True),
    sa.Column('target_name', sa.String(length=128), nullable=True),
    sa.Column('s_ra', sa.Float(), nullable=True),
    sa.Column('s_dec', sa.Float(), nullable=True),
    sa.Column('s_fov', sa.Float(), nullable=True),
    sa.Column('s_region', sa.Text(), nullable=True),
    sa.Column('s_resolution', sa.Float(), nullable=True),
    sa.Column('t_min', sa.Float(), nullable=True),
    sa.Column('t_max', sa.Float(), nullable=True),
    sa.Column('t_exptime', sa.Float(), nullable=True),
    sa.Column('t_resolution', sa.Float(), nullable=True),
    sa.Column('em_min', sa.Float(), nullable=True),
    sa.Column('em_max', sa.Float(), nullable=True),
    sa.Column('em_res_power', sa.Float(), nullable=True),
    sa.Column('o_ucd', sa.String(length=64), nullable=True),
    sa.Column('pol_states', sa.String(length=32), nullable=True),
    sa.Column('facility_name', sa.String(length=64), nullable=True),
    sa.Column('instrument_name', sa.String(length=32), nullable=True),
    sa.Column('proposal_id', sa.String(length=64), nullable=True),
    sa.Column('obs_release_date', sa.String(length=32), nullable=True),
    sa.Column('data_rights', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['exposure_id'], ['exposure.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('obs_id', 'pipeline', 'pipeline_version', 'context', 'filename', name='uq_work'),
    sa.UniqueConstraint('sha256')
    )
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_input_sha256'), ['input_sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_instrument_name'), ['instrument_name'], unique=False)
        batch_op.create_index('ix_product_obs', ['obs_id', 'calib_level'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_proposal_id'), ['proposal_id'], unique=False)
        batch_op.create_index('ix_product_sky', ['hpx', 't_min'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_state'), ['state'], unique=False)
        batch_op.create_index('ix_product_time', ['t_min'], unique=False)

    op.create_table('activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('who', sa.String(length=128), nullable=False),
    sa.Column('what', sa.String(length=32), nullable=False),
    sa.Column('obs_id', sa.String(length=128), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('state_from', sa.String(length=16), nullable=True),
    sa.Column('state_to', sa.String(length=16), nullable=True),
    sa.Column('why', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_activity_obs_id'), ['obs_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_obs_id'))
        batch_op.drop_index(batch_op.f('ix_activity_at'))

    op.drop_table('activity')
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_index('ix_product_time')
        batch_op.drop_index(batch_op.f('ix_product_state'))
        batch_op.drop_index('ix_product_sky')
        batch_op.drop_index(batch_op.f('ix_product_proposal_id'))
        batch_op.drop_index('ix_product_obs')
        batch_op.drop_index(batch_op.f('ix_product_instrument_name'))
        batch_op.drop_index(batch_op.f('ix_product_input_sha256'))

    op.drop_table('product')
    op.drop_table('exposure_telemetry')
    op.drop_table('telemetry_file')
    op.drop_table('exposure')
