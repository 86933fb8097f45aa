"""loyalty ledger and accounts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:54:52.077133
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('loyalty_accounts',
    sa.Column('customer_id', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_loyalty_accounts'))
    )
    op.create_table('loyalty_ledger',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('customer_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('source_id', sa.String(length=200), nullable=True),
    sa.Column('derived', sa.Boolean(), nullable=False),
    sa.Column('reward', sa.String(length=100), nullable=True),
    sa.Column('request_digest', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loyalty_ledger')),
    sa.UniqueConstraint('key', name=op.f('uq_loyalty_ledger_key')),
    sqlite_autoincrement=True,  # ids never reused: see tables.loyalty_ledger
    )
    with op.batch_alter_table('loyalty_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loyalty_ledger_customer_id_effective_on'), ['customer_id', 'effective_on'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('loyalty_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loyalty_ledger_customer_id_effective_on'))

    op.drop_table('loyalty_ledger')
    op.drop_table('loyalty_accounts')
