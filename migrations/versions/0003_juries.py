"""jury day: passages, timer, grids, validations

Revision ID: 0003_juries
Revises: 0002_dossiers
Create Date: 2026-11-27 07:48:11.851698

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_juries'
down_revision = "0002_dossiers"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('commission_settings',
    sa.Column('commission_id', sa.Integer(), nullable=False),
    sa.Column('day_start', sa.Time(), nullable=False),
    sa.Column('break_minutes', sa.Integer(), nullable=False),
    sa.Column('lunch_start', sa.Time(), nullable=False),
    sa.Column('lunch_minutes', sa.Integer(), nullable=False),
    sa.Column('prep_workstations', sa.Integer(), nullable=False),
    sa.Column('room', sa.String(length=60), nullable=False),
    sa.CheckConstraint('break_minutes >= 0 AND break_minutes <= 120', name=op.f('ck_commission_settings_break_range')),
    sa.CheckConstraint('lunch_minutes >= 0 AND lunch_minutes <= 180', name=op.f('ck_commission_settings_lunch_range')),
    sa.CheckConstraint('prep_workstations >= 1 AND prep_workstations <= 50', name=op.f('ck_commission_settings_workstations_range')),
    sa.ForeignKeyConstraint(['commission_id'], ['commission.id'], name=op.f('fk_commission_settings_commission_id_commission'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('commission_id', name=op.f('pk_commission_settings'))
    )
    op.create_table('passage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('commission_id', sa.Integer(), nullable=False),
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('unit_code', sa.String(length=10), nullable=False),
    sa.Column('variant_code', sa.String(length=20), nullable=False),
    sa.Column('room', sa.String(length=60), nullable=False),
    sa.Column('scheduled_at', sa.DateTime(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('attendance', sa.String(length=10), nullable=False),
    sa.Column('attendance_at', sa.DateTime(), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('final_mark', sa.Numeric(precision=4, scale=2), nullable=True),
    sa.Column('finalized_at', sa.DateTime(), nullable=True),
    sa.Column('agreed_revision', sa.Integer(), nullable=False),
    sa.CheckConstraint("attendance IN ('inconnu', 'present', 'absent')", name=op.f('ck_passage_attendance_known')),
    sa.CheckConstraint('final_mark IS NULL OR (final_mark >= 0 AND final_mark <= 20)', name=op.f('ck_passage_final_mark_range')),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidate.id'], name=op.f('fk_passage_candidate_id_candidate'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['commission_id'], ['commission.id'], name=op.f('fk_passage_commission_id_commission'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passage')),
    sa.UniqueConstraint('candidate_id', 'unit_code', 'variant_code', name=op.f('uq_passage_candidate_id_unit_code_variant_code'))
    )
    with op.batch_alter_table('passage', schema=None) as batch_op:
        batch_op.create_index('ix_passage_commission_scheduled', ['commission_id', 'scheduled_at'], unique=False)

    op.create_table('client_operation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('op_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('passage_id', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['passage_id'], ['passage.id'], name=op.f('fk_client_operation_passage_id_passage'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_client_operation_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_operation')),
    sa.UniqueConstraint('op_id', name=op.f('uq_client_operation_op_id'))
    )
    op.create_table('grid',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('passage_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=20), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('revealed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], name=op.f('fk_grid_owner_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['passage_id'], ['passage.id'], name=op.f('fk_grid_passage_id_passage'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid')),
    sa.UniqueConstraint('passage_id', 'key', name=op.f('uq_grid_passage_id_key'))
    )
    op.create_table('passage_segment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('passage_id', sa.Integer(), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('phase_code', sa.String(length=40), nullable=False),
    sa.Column('step_code', sa.String(length=40), nullable=False),
    sa.Column('allowed_seconds', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['passage_id'], ['passage.id'], name=op.f('fk_passage_segment_passage_id_passage'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['started_by_id'], ['user.id'], name=op.f('fk_passage_segment_started_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passage_segment')),
    sa.UniqueConstraint('passage_id', 'index', name=op.f('uq_passage_segment_passage_id_index'))
    )
    op.create_table('timer_pause',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('passage_id', sa.Integer(), nullable=False),
    sa.Column('segment_index', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['by_id'], ['user.id'], name=op.f('fk_timer_pause_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['passage_id'], ['passage.id'], name=op.f('fk_timer_pause_passage_id_passage'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timer_pause'))
    )
    with op.batch_alter_table('timer_pause', schema=None) as batch_op:
        batch_op.create_index('ix_timer_pause_passage_id', ['passage_id'], unique=False)

    op.create_table('validation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('passage_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('mark', sa.Numeric(precision=4, scale=2), nullable=True),
    sa.Column('validated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['passage_id'], ['passage.id'], name=op.f('fk_validation_passage_id_passage'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_validation_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validation')),
    sa.UniqueConstraint('passage_id', 'user_id', name=op.f('uq_validation_passage_id_user_id'))
    )
    op.create_table('grid_field',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['grid_id'], ['grid.id'], name=op.f('fk_grid_field_grid_id_grid'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_grid_field_updated_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_field')),
    sa.UniqueConstraint('grid_id', 'name', name=op.f('uq_grid_field_grid_id_name'))
    )


def downgrade():
    op.drop_table('grid_field')
    op.drop_table('validation')
    with op.batch_alter_table('timer_pause', schema=None) as batch_op:
        batch_op.drop_index('ix_timer_pause_passage_id')

    op.drop_table('timer_pause')
    op.drop_table('passage_segment')
    op.drop_table('grid')
    op.drop_table('client_operation')
    with op.batch_alter_table('passage', schema=None) as batch_op:
        batch_op.drop_index('ix_passage_commission_scheduled')

    op.drop_table('passage')
    op.drop_table('commission_settings')
