"""E6 written exam

Revision ID: 0004_e6
Revises: 0003_juries
Create Date: 2026-11-27 07:53:07.971188

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_e6'
down_revision = '0003_juries'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('e6_corrector',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_e6_corrector_establishment_id_establishment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_e6_corrector_session_id_exam_session'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_e6_corrector_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_e6_corrector')),
    sa.UniqueConstraint('session_id', 'user_id', name=op.f('uq_e6_corrector_session_id_user_id'))
    )
    op.create_table('e6_lot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('corrector_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('validated_at', sa.DateTime(), nullable=True),
    sa.Column('finalized_at', sa.DateTime(), nullable=True),
    sa.Column('finalized_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['corrector_id'], ['user.id'], name=op.f('fk_e6_lot_corrector_id_user')),
    sa.ForeignKeyConstraint(['finalized_by_id'], ['user.id'], name=op.f('fk_e6_lot_finalized_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_e6_lot_session_id_exam_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_e6_lot')),
    sa.UniqueConstraint('session_id', 'code', name=op.f('uq_e6_lot_session_id_code'))
    )
    with op.batch_alter_table('e6_lot', schema=None) as batch_op:
        batch_op.create_index('ix_e6_lot_corrector_id', ['corrector_id'], unique=False)

    op.create_table('e6_question',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('max_points', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.CheckConstraint('max_points > 0 AND max_points <= 20', name=op.f('ck_e6_question_max_points_range')),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_e6_question_session_id_exam_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_e6_question')),
    sa.UniqueConstraint('session_id', 'position', name=op.f('uq_e6_question_session_id_position'))
    )
    op.create_table('e6_release',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('lifted_at', sa.DateTime(), nullable=False),
    sa.Column('lifted_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['lifted_by_id'], ['user.id'], name=op.f('fk_e6_release_lifted_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_e6_release_session_id_exam_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_e6_release')),
    sa.UniqueConstraint('session_id', name=op.f('uq_e6_release_session_id'))
    )
    op.create_table('e6_adjustment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=False),
    sa.Column('factor', sa.Numeric(precision=6, scale=3), nullable=False),
    sa.Column('offset_points', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('factor > 0 AND factor <= 3', name=op.f('ck_e6_adjustment_factor_range')),
    sa.CheckConstraint('offset_points >= -20 AND offset_points <= 20', name=op.f('ck_e6_adjustment_offset_range')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_e6_adjustment_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lot_id'], ['e6_lot.id'], name=op.f('fk_e6_adjustment_lot_id_e6_lot'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_e6_adjustment'))
    )
    with op.batch_alter_table('e6_adjustment', schema=None) as batch_op:
        batch_op.create_index('ix_e6_adjustment_lot_id', ['lot_id'], unique=False)

    op.create_table('e6_room',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.CheckConstraint('capacity > 0 AND capacity <= 1000', name=op.f('ck_e6_room_capacity_range')),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_e6_room_centre_id_centre'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_e6_room')),
    sa.UniqueConstraint('centre_id', 'name', name=op.f('uq_e6_room_centre_id_name'))
    )
    op.create_table('e6_copy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('anonymous_number', sa.String(length=20), nullable=False),
    sa.Column('lot_id', sa.Integer(), nullable=True),
    sa.Column('raw_total', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('mark', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidate.id'], name=op.f('fk_e6_copy_candidate_id_candidate'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lot_id'], ['e6_lot.id'], name=op.f('fk_e6_copy_lot_id_e6_lot'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_e6_copy_session_id_exam_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_e6_copy')),
    sa.UniqueConstraint('candidate_id', name=op.f('uq_e6_copy_candidate_id')),
    sa.UniqueConstraint('session_id', 'anonymous_number', name=op.f('uq_e6_copy_session_id_anonymous_number'))
    )
    with op.batch_alter_table('e6_copy', schema=None) as batch_op:
        batch_op.create_index('ix_e6_copy_lot_id', ['lot_id'], unique=False)

    op.create_table('e6_sitting',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('room_id', sa.Integer(), nullable=True),
    sa.Column('attendance', sa.String(length=10), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("attendance IN ('present', 'absent')", name=op.f('ck_e6_sitting_attendance_known')),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidate.id'], name=op.f('fk_e6_sitting_candidate_id_candidate'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user.id'], name=op.f('fk_e6_sitting_recorded_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['room_id'], ['e6_room.id'], name=op.f('fk_e6_sitting_room_id_e6_room'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_e6_sitting')),
    sa.UniqueConstraint('candidate_id', name=op.f('uq_e6_sitting_candidate_id'))
    )
    with op.batch_alter_table('e6_sitting', schema=None) as batch_op:
        batch_op.create_index('ix_e6_sitting_room_id', ['room_id'], unique=False)

    op.create_table('e6_adjusted_mark',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('adjustment_id', sa.Integer(), nullable=False),
    sa.Column('copy_id', sa.Integer(), nullable=False),
    sa.Column('before', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('after', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['adjustment_id'], ['e6_adjustment.id'], name=op.f('fk_e6_adjusted_mark_adjustment_id_e6_adjustment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['copy_id'], ['e6_copy.id'], name=op.f('fk_e6_adjusted_mark_copy_id_e6_copy'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_e6_adjusted_mark')),
    sa.UniqueConstraint('adjustment_id', 'copy_id', name=op.f('uq_e6_adjusted_mark_adjustment_id_copy_id'))
    )
    op.create_table('e6_points',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('copy_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.CheckConstraint('points >= 0 AND points <= 20', name=op.f('ck_e6_points_points_range')),
    sa.ForeignKeyConstraint(['copy_id'], ['e6_copy.id'], name=op.f('fk_e6_points_copy_id_e6_copy'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['e6_question.id'], name=op.f('fk_e6_points_question_id_e6_question'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_e6_points')),
    sa.UniqueConstraint('copy_id', 'question_id', name=op.f('uq_e6_points_copy_id_question_id'))
    )


def downgrade():
    op.drop_table('e6_points')
    op.drop_table('e6_adjusted_mark')
    with op.batch_alter_table('e6_sitting', schema=None) as batch_op:
        batch_op.drop_index('ix_e6_sitting_room_id')

    op.drop_table('e6_sitting')
    with op.batch_alter_table('e6_copy', schema=None) as batch_op:
        batch_op.drop_index('ix_e6_copy_lot_id')

    op.drop_table('e6_copy')
    op.drop_table('e6_room')
    with op.batch_alter_table('e6_adjustment', schema=None) as batch_op:
        batch_op.drop_index('ix_e6_adjustment_lot_id')

    op.drop_table('e6_adjustment')
    op.drop_table('e6_release')
    op.drop_table('e6_question')
    with op.batch_alter_table('e6_lot', schema=None) as batch_op:
        batch_op.drop_index('ix_e6_lot_corrector_id')

    op.drop_table('e6_lot')
    op.drop_table('e6_corrector')
