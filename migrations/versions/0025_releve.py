"""releve: the date from which candidates download their relevé de notes

Issue 14 §4: the gestionnaire sets, in the session's settings, when the relevé de notes
is published in each candidate's space. NULL: not published.

Revision ID: 0025_releve
Revises: 0026_plan_board
Create Date: 2026-12-02 08:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0025_releve'
down_revision = '0026_plan_board'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('exam_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('releve_published_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('exam_session', schema=None) as batch_op:
        batch_op.drop_column('releve_published_at')
