"""session set-up: establishment kinds, centre rooms, unit calendar

Issue 13, items 1 and 2: an académie sets up its own session. Establishments
get a kind (lycée public/privé, CFA, GRETA, other; existing rows: other),
centres get rooms (seats and E5 workstations), and each unit of a session gets
its dates besides the deposit deadline (deposit opening, orals period, written
exam start). People imported for set-up get a profile: a teacher's establishment,
a professional's company.

Revision ID: 0009_setup
Revises: 0008_accounts
Create Date: 2026-12-02 02:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0009_setup'
down_revision = '0008_accounts'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.Enum('lycee_public', 'lycee_prive', 'cfa', 'greta',
                                                      'autre', name='establishmentkind',
                                                      native_enum=False, length=20),
                                      server_default='autre', nullable=False))
        batch_op.create_check_constraint(
            batch_op.f('ck_establishment_kind_known'),
            "kind IN ('lycee_public', 'lycee_prive', 'cfa', 'greta', 'autre')")
    op.create_table('centre_room',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('workstations', sa.Integer(), nullable=False),
    sa.CheckConstraint('capacity > 0 AND capacity <= 1000', name=op.f('ck_centre_room_capacity_range')),
    sa.CheckConstraint('workstations >= 0 AND workstations <= 1000', name=op.f('ck_centre_room_workstations_range')),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_centre_room_centre_id_centre'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_centre_room')),
    sa.UniqueConstraint('centre_id', 'name', name=op.f('uq_centre_room_centre_id_name'))
    )
    op.create_table('unit_calendar',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('unit_code', sa.String(length=10), nullable=False),
    sa.Column('deposit_opens_at', sa.DateTime(), nullable=True),
    sa.Column('orals_start_on', sa.Date(), nullable=True),
    sa.Column('orals_end_on', sa.Date(), nullable=True),
    sa.Column('written_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('orals_end_on IS NULL OR orals_start_on IS NULL OR orals_start_on <= orals_end_on', name=op.f('ck_unit_calendar_orals_ordered')),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_unit_calendar_session_id_exam_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_calendar')),
    sa.UniqueConstraint('session_id', 'unit_code', name=op.f('uq_unit_calendar_session_id_unit_code'))
    )


    op.create_table('person_profile',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=True),
    sa.Column('company', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_person_profile_establishment_id_establishment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_person_profile_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_person_profile'))
    )


def downgrade():
    op.drop_table('person_profile')
    op.drop_table('unit_calendar')
    op.drop_table('centre_room')
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_establishment_kind_known'), type_='check')
        batch_op.drop_column('kind')
