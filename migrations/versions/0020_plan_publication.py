"""plan_publication: the gestionnaire published the session's plan

Issue 15: publishing a plan makes the convocations; a change after the publication
supersedes exactly the affected convocations and lists the candidates to inform.

Revision ID: 0020_plan_publication
Revises: 0018_pinned
Create Date: 2026-12-02 06:30:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0020_plan_publication'
down_revision = '0019_results'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('plan_publication',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.Column('passages', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_plan_publication_session_id_exam_session'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['published_by_id'], ['user.id'], name=op.f('fk_plan_publication_published_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_publication'))
    )
    with op.batch_alter_table('plan_publication', schema=None) as batch_op:
        batch_op.create_index('ix_plan_publication_session_id', ['session_id'], unique=False)


def downgrade():
    op.drop_table('plan_publication')
