"""session rule: how E5 CCF situations A and B combine

The E5 result of a CCF candidate is computed by the results module from the
session's ``ccf_combination`` rule (DOMAIN.md default: one global mark agreed
after both situations; an absence from either gives ABS).

Revision ID: 0019_results
Revises: 0016_statuses
Create Date: 2026-12-02 06:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0019_results'
down_revision = '0018_pinned'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('exam_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ccf_combination', sa.String(length=30),
                                      server_default='global', nullable=False))
        batch_op.create_check_constraint(
            batch_op.f('ck_exam_session_ccf_combination_known'), "ccf_combination IN ('global', 'global_absence_counted')")


def downgrade():
    with op.batch_alter_table('exam_session', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_exam_session_ccf_combination_known'),
                                 type_='check')
        batch_op.drop_column('ccf_combination')
