"""deposited files: active-content policy, page cap, findings

Issue 12 (items 2 and 3): each session says what to do with each kind of
active content in a deposited PDF (refuse or flag) and caps the pages of one
file; each deposited file keeps the active content flagged and the repairs
made to read it, for the conformity control.

Revision ID: 0010_pdf
Revises: 0009_setup
Create Date: 2026-12-02 02:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010_pdf'
down_revision = '0009_setup'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('exam_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dossier_max_pages', sa.Integer(), server_default='500',
                                      nullable=False))
        batch_op.add_column(sa.Column('active_content_policy', sa.JSON(), server_default='{}',
                                      nullable=False))
        batch_op.create_check_constraint(batch_op.f('ck_exam_session_dossier_max_pages_range'),
                                         'dossier_max_pages BETWEEN 1 AND 10000')
    with op.batch_alter_table('dossier_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active_content', sa.JSON(), server_default='[]',
                                      nullable=False))
        batch_op.add_column(sa.Column('repairs', sa.JSON(), server_default='[]', nullable=False))


def downgrade():
    with op.batch_alter_table('dossier_file', schema=None) as batch_op:
        batch_op.drop_column('repairs')
        batch_op.drop_column('active_content')
    with op.batch_alter_table('exam_session', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_exam_session_dossier_max_pages_range'),
                                 type_='check')
        batch_op.drop_column('active_content_policy')
        batch_op.drop_column('dossier_max_pages')
