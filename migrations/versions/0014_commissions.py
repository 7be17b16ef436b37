"""commissions: days, replacement teacher, edit version, juror availability

Issue 13, item 5: a commission sits on named days; a teacher may hold the
professional's seat (recorded with its reason, printed as such); every edit bumps
the commission's version (conditional UPDATE against a stale form); jurors declare
the days they cannot sit.

Revision ID: 0014_commissions
Revises: 0011_push
Create Date: 2026-12-02 05:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0014_commissions'
down_revision = '0013_centres'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('commission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1',
                                      nullable=False))
    with op.batch_alter_table('commission_member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_replacement', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.add_column(sa.Column('replacement_reason', sa.String(length=300),
                                      nullable=True))
        batch_op.create_check_constraint(
            'replacement_in_pro_seat',
            "NOT is_replacement OR (member_role = 'professionnel' "
            "AND replacement_reason IS NOT NULL)")
    op.create_table('commission_day',
    sa.Column('commission_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['commission_id'], ['commission.id'], name=op.f('fk_commission_day_commission_id_commission'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('commission_id', 'day', name=op.f('pk_commission_day'))
    )
    with op.batch_alter_table('commission_day', schema=None) as batch_op:
        batch_op.create_index('ix_commission_day_day', ['day'], unique=False)
    op.create_table('juror_availability',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('is_available', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_juror_availability_session_id_exam_session'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_juror_availability_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_juror_availability')),
    sa.UniqueConstraint('session_id', 'user_id', 'day', name=op.f('uq_juror_availability_session_id_user_id_day'))
    )
    with op.batch_alter_table('juror_availability', schema=None) as batch_op:
        batch_op.create_index('ix_juror_availability_user_id', ['user_id'], unique=False)


def downgrade():
    op.drop_table('juror_availability')
    op.drop_table('commission_day')
    with op.batch_alter_table('commission_member', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_commission_member_replacement_in_pro_seat'), type_='check')
        batch_op.drop_column('replacement_reason')
        batch_op.drop_column('is_replacement')
    with op.batch_alter_table('commission', schema=None) as batch_op:
        batch_op.drop_column('version')
