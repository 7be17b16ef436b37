"""passage start exception

The gestionnaire may authorise a passage to start although the candidate's
dossier has no conformity decision (issue 11): the reason, who and when, on
the passage row (printed on the fiche d'évaluation, audited).

Revision ID: 0007_passage_start_exception
Revises: 0006_units_as_data
Create Date: 2026-12-02 00:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007_passage_start_exception'
down_revision = '0006_units_as_data'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('passage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('start_exception_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('start_exception_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('start_exception_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_passage_start_exception_by_id_user'), 'user',
                                    ['start_exception_by_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('passage', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_passage_start_exception_by_id_user'),
                                 type_='foreignkey')
        batch_op.drop_column('start_exception_by_id')
        batch_op.drop_column('start_exception_at')
        batch_op.drop_column('start_exception_reason')
