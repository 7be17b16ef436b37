"""Candidates indexed by (session, centre, establishment) for the session's counts

Issue 16 §2. The dashboard's counts per centre and establishment, and the readiness
board's counts of undecided dossiers and unplanned candidates, walk every candidate of
the session; with this index they read it alone instead of each candidate's row
(13.5 -> 6.2 ms for the per-centre counts at 5,000 candidates, SQLite).

Revision ID: 0031_candidate_session_places
Revises: 0023_ccf_coordinator
Create Date: 2026-12-02 17:50:00

"""
from alembic import op


revision = '0031_candidate_session_places'
down_revision = '0023_ccf_coordinator'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_candidate_session_places', 'candidate',
                    ['session_id', 'centre_id', 'establishment_id'], unique=False)


def downgrade():
    op.drop_index('ix_candidate_session_places', table_name='candidate')
