"""server: api keys, users, ingest inbox, erasures

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 06:18:44.757040
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_id', name=op.f('uq_api_keys_key_id'))
    )
    op.create_table('erasures',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('erased_at', sa.DateTime(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasures')),
    sa.UniqueConstraint('id_hash', name=op.f('uq_erasures_id_hash'))
    )
    op.create_table('inbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entity', sa.String(length=20), nullable=False),
    sa.Column('item_key', sa.String(length=200), nullable=True),
    sa.Column('customer_id', sa.String(length=200), nullable=True),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('batch', sa.String(length=40), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('loaded_at', sa.DateTime(), nullable=True),
    sa.Column('ingest_run', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox'))
    )
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_loaded_at_entity'), ['loaded_at', 'entity'], unique=False)
        batch_op.create_index('uq_inbox_pending_digest', ['entity', 'digest'], unique=True, sqlite_where=sa.text('loaded_at IS NULL'), postgresql_where=sa.text('loaded_at IS NULL'))

    op.create_table('users',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('disabled_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )


def downgrade() -> None:
    op.drop_table('users')
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index('uq_inbox_pending_digest', sqlite_where=sa.text('loaded_at IS NULL'), postgresql_where=sa.text('loaded_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_inbox_loaded_at_entity'))
        batch_op.drop_index(batch_op.f('ix_inbox_customer_id'))

    op.drop_table('inbox')
    op.drop_table('erasures')
    op.drop_table('api_keys')
