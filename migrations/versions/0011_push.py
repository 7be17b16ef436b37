"""passage live version

A counter on the passage row bumped by every state change and every save of
the agreed grid, compared by the push waiters (issue 11, item 10): the other
juror's page and the live board learn of a change without polling the state.

Revision ID: 0011_push
Revises: 0010_pdf
Create Date: 2026-12-02 02:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0011_push'
down_revision = '0010_pdf'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('passage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('live_version', sa.Integer(), server_default='0',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('passage', schema=None) as batch_op:
        batch_op.drop_column('live_version')
