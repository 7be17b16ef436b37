"""The live board's last computation, shared by every process and instance

Issue 16 §1. On a jury day the board is asked every second; each gunicorn worker
computed it for itself (120 passages: ~30 ms of CPU and ~15 ms of database each time,
in every worker). ``board_snapshot`` holds the last one per session and day, with the
board version it shows, so that one computation serves them all.

Revision ID: 0040_board_snapshot
Revises: 0032_e6_copy_session_lot
Create Date: 2026-12-03 07:55:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0040_board_snapshot'
down_revision = '0032_e6_copy_session_lot'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'board_snapshot',
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('version', sa.String(length=100), nullable=False),
        sa.Column('computed_at', sa.DateTime(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'],
                                name=op.f('fk_board_snapshot_session_id_exam_session'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('session_id', 'day', name=op.f('pk_board_snapshot')),
    )


def downgrade():
    op.drop_table('board_snapshot')
