"""candidates get a centre

The origin of a candidate's centre (the candidate CSV, the establishment -> centre
table, or a move) and the session's establishment -> centre table (issue 13, item 4).

Revision ID: 0013_centres
Revises: 0011_push
Create Date: 2026-12-02 05:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0013_centres'
down_revision = '0012_activation'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('establishment_centre',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_establishment_centre_centre_id_centre'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_establishment_centre_establishment_id_establishment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_establishment_centre_session_id_exam_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_establishment_centre')),
    sa.UniqueConstraint('session_id', 'establishment_id', name=op.f('uq_establishment_centre_session_id_establishment_id'))
    )
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('centre_origin', sa.Enum('import', 'table', 'manual', name='centreorigin', native_enum=False, length=10), nullable=True))
        batch_op.create_check_constraint(op.f('ck_candidate_centre_origin_known'),
                                         "centre_origin IN ('import', 'table', 'manual')")


def downgrade():
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_candidate_centre_origin_known'), type_='check')
        batch_op.drop_column('centre_origin')
    op.drop_table('establishment_centre')
