"""Jury de délibération: its role, composition, result changes and closing; the diploma's
other units with their coefficients and imported marks (issue 14, §4)

Revision ID: 0024_deliberation
Revises: 0030_planning_run
Create Date: 2026-12-02 08:10:00

"""
import sqlalchemy as sa
from alembic import op

import exam_app.clock

revision = '0024_deliberation'
down_revision = '0030_planning_run'
branch_labels = None
depends_on = None

ROLES = ('gestionnaire', 'chef_centre', 'examinateur', 'correcteur', 'candidat')


def _roles(roles) -> None:
    with op.batch_alter_table('role_assignment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_role_assignment_role_known'), type_='check')
    with op.batch_alter_table('role_assignment', schema=None) as batch_op:
        batch_op.create_check_constraint(
            batch_op.f('ck_role_assignment_role_known'),
            "role IN (" + ", ".join(f"'{r}'" for r in roles) + ")")


def upgrade():
    _roles((*ROLES, 'jury_deliberation'))
    op.create_table(
        'deliberation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('president_id', sa.Integer(), nullable=True),
        sa.Column('created_at', exam_app.clock.UTCDateTime(), nullable=False),
        sa.Column('closed_at', exam_app.clock.UTCDateTime(), nullable=True),
        sa.Column('closed_by_id', sa.Integer(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['closed_by_id'], ['user.id'],
                                name=op.f('fk_deliberation_closed_by_id_user'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['president_id'], ['user.id'],
                                name=op.f('fk_deliberation_president_id_user'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'],
                                name=op.f('fk_deliberation_session_id_exam_session'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deliberation')),
        sa.UniqueConstraint('session_id', name=op.f('uq_deliberation_session_id')),
    )
    op.create_table(
        'deliberation_member',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('deliberation_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['deliberation_id'], ['deliberation.id'],
                                name=op.f('fk_deliberation_member_deliberation_id_deliberation'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'],
                                name=op.f('fk_deliberation_member_user_id_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deliberation_member')),
        sa.UniqueConstraint('deliberation_id', 'user_id',
                            name=op.f('uq_deliberation_member_deliberation_id_user_id')),
    )
    op.create_index('ix_deliberation_member_user_id', 'deliberation_member', ['user_id'])
    op.create_table(
        'result_change',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('candidate_id', sa.Integer(), nullable=False),
        sa.Column('unit_code', sa.String(length=10), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('mark', 'ABS', 'NV', name='changekind', native_enum=False,
                                  create_constraint=False, length=10), nullable=False),
        sa.Column('mark', sa.Numeric(precision=4, scale=2), nullable=True),
        sa.Column('before', sa.String(length=60), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_at', exam_app.clock.UTCDateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint("(kind = 'mark') = (mark IS NOT NULL)",
                           name=op.f('ck_result_change_mark_iff_kind_mark')),
        sa.CheckConstraint("kind IN ('mark', 'ABS', 'NV')",
                           name=op.f('ck_result_change_kind_known')),
        sa.CheckConstraint('mark IS NULL OR (mark >= 0 AND mark <= 20)',
                           name=op.f('ck_result_change_mark_range')),
        sa.CheckConstraint('sequence >= 1', name=op.f('ck_result_change_sequence_positive')),
        sa.ForeignKeyConstraint(['candidate_id'], ['candidate.id'],
                                name=op.f('fk_result_change_candidate_id_candidate'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by_id'], ['user.id'],
                                name=op.f('fk_result_change_created_by_id_user'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'],
                                name=op.f('fk_result_change_session_id_exam_session'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_result_change')),
        sa.UniqueConstraint('candidate_id', 'unit_code', 'sequence',
                            name=op.f('uq_result_change_candidate_id_unit_code_sequence')),
    )
    op.create_index('ix_result_change_session_id', 'result_change', ['session_id'])
    op.create_table(
        'other_unit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=10), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('coefficient', sa.Numeric(precision=4, scale=1), nullable=False),
        sa.CheckConstraint('coefficient > 0 AND coefficient <= 20',
                           name=op.f('ck_other_unit_coefficient_range')),
        sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'],
                                name=op.f('fk_other_unit_session_id_exam_session'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_other_unit')),
        sa.UniqueConstraint('session_id', 'code', name=op.f('uq_other_unit_session_id_code')),
    )
    op.create_table(
        'other_unit_mark',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('other_unit_id', sa.Integer(), nullable=False),
        sa.Column('candidate_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('mark', 'ABS', 'dispense', name='othermarkkind',
                                  native_enum=False, create_constraint=False, length=10),
                  nullable=False),
        sa.Column('mark', sa.Numeric(precision=4, scale=2), nullable=True),
        sa.CheckConstraint("(kind = 'mark') = (mark IS NOT NULL)",
                           name=op.f('ck_other_unit_mark_mark_iff_kind_mark')),
        sa.CheckConstraint("kind IN ('mark', 'ABS', 'dispense')",
                           name=op.f('ck_other_unit_mark_kind_known')),
        sa.CheckConstraint('mark IS NULL OR (mark >= 0 AND mark <= 20)',
                           name=op.f('ck_other_unit_mark_mark_range')),
        sa.ForeignKeyConstraint(['candidate_id'], ['candidate.id'],
                                name=op.f('fk_other_unit_mark_candidate_id_candidate'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['other_unit_id'], ['other_unit.id'],
                                name=op.f('fk_other_unit_mark_other_unit_id_other_unit'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_other_unit_mark')),
        sa.UniqueConstraint('other_unit_id', 'candidate_id',
                            name=op.f('uq_other_unit_mark_other_unit_id_candidate_id')),
    )
    op.create_index('ix_other_unit_mark_candidate_id', 'other_unit_mark', ['candidate_id'])


def downgrade():
    op.drop_index('ix_other_unit_mark_candidate_id', table_name='other_unit_mark')
    op.drop_table('other_unit_mark')
    op.drop_table('other_unit')
    op.drop_index('ix_result_change_session_id', table_name='result_change')
    op.drop_table('result_change')
    op.drop_index('ix_deliberation_member_user_id', table_name='deliberation_member')
    op.drop_table('deliberation_member')
    op.drop_table('deliberation')
    op.execute("DELETE FROM role_assignment WHERE role = 'jury_deliberation'")
    _roles(ROLES)
