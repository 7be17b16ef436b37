"""Covering indexes for the session dashboard's pass over the candidates

Issue 16 §2. The dashboard's fused counts (overview/counts_fused.py) join each candidate
of the session to their E5 registration (its form) and their E6 sitting (its room): with
these indexes each join reads one index entry instead of an index entry and the row.
The board's count of E6 copies in no lot reads the (session, lot) index's range of
lot-less copies instead of every copy of the session twice.

Revision ID: 0032_dashboard_covering
Revises: 0031_candidate_session_places
Create Date: 2026-12-03 08:00:00

"""
from alembic import op


revision = '0032_dashboard_covering'
down_revision = '0031_candidate_session_places'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_candidate_unit_form_covering', 'candidate_unit_form',
                    ['candidate_id', 'unit_code', 'kind', 'form'], unique=False)
    op.create_index('ix_e6_sitting_candidate_room', 'e6_sitting',
                    ['candidate_id', 'room_id'], unique=False)
    op.create_index('ix_e6_copy_session_lot', 'e6_copy', ['session_id', 'lot_id'], unique=False)


def downgrade():
    op.drop_index('ix_e6_copy_session_lot', table_name='e6_copy')
    op.drop_index('ix_e6_sitting_candidate_room', table_name='e6_sitting')
    op.drop_index('ix_candidate_unit_form_covering', table_name='candidate_unit_form')
