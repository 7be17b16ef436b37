"""passage.plan_version, published_scheduled_at, published_room: the planning board

Issue 15: every move on the planning board names the passage's plan version it saw
(a conditional UPDATE refuses a stale one); the published date, time and room are
what the convocation prints, until the next publication.

Revision ID: 0026_plan_board
Revises: 0024_deliberation
Create Date: 2026-12-02 08:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0026_plan_board'
down_revision = '0024_deliberation'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('passage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_version', sa.Integer(), server_default='1',
                                      nullable=False))
        batch_op.add_column(sa.Column('published_scheduled_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('published_room', sa.String(length=60), nullable=True))


def downgrade():
    with op.batch_alter_table('passage', schema=None) as batch_op:
        batch_op.drop_column('published_room')
        batch_op.drop_column('published_scheduled_at')
        batch_op.drop_column('plan_version')
