"""passage.pinned: a passage the planning solver keeps as it is

Issue 15: the gestionnaire pins a passage (commission and time); the next solve
keeps it and plans the others around it.

Revision ID: 0018_pinned
Revises: 0014_commissions
Create Date: 2026-12-02 05:50:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0018_pinned'
down_revision = '0016_statuses'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('passage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pinned', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('passage', schema=None) as batch_op:
        batch_op.drop_column('pinned')
