"""sunset policy offers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 03:27:32.797525
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sunset_offers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.String(length=200), nullable=False),
    sa.Column('offered_on', sa.Date(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('resolved_on', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sunset_offers'))
    )
    with op.batch_alter_table('sunset_offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sunset_offers_customer_id'), ['customer_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sunset_offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sunset_offers_customer_id'))

    op.drop_table('sunset_offers')
