"""planning_run: the planning solver's runs in the database (every worker sees them)

Issue 16 item 5 (and `make run`'s two workers): a run kept in one process's memory was
invisible to the page's next request when another worker (or instance) answered it.

Revision ID: 0030_planning_run
Revises: 0022_e4_criteria
Create Date: 2026-12-02 09:00:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0030_planning_run'
down_revision = '0022_e4_criteria'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('planning_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('time_limit', sa.Float(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('beat_at', sa.DateTime(), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('lines', sa.Text(), nullable=False),
    sa.Column('last', sa.Text(), nullable=False),
    sa.Column('proposal', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_planning_run_session_id_exam_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_planning_run')),
    sa.UniqueConstraint('session_id', name=op.f('uq_planning_run_session_id'))
    )


def downgrade():
    op.drop_table('planning_run')
