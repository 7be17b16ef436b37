"""foundation: accounts, enrolment, commissions, audit

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-27

Reviewed by hand: timestamps are naive UTC (``exam_app.clock.UTCDateTime``
renders as DateTime); the audit trail gets its append-only triggers here,
the same statements ``exam_app.audit.models`` runs on ``create_all``.
"""
import sqlalchemy as sa
from alembic import op

APPEND_ONLY_DDL = {
    "sqlite": [
        "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
        "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END",
        "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
        "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'audit_event is append-only'; END $$",
        "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
    ],
}
APPEND_ONLY_DROP = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS audit_event_no_update",
        "DROP TRIGGER IF EXISTS audit_event_no_delete",
    ],
    "postgresql": [
        "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
        "DROP FUNCTION IF EXISTS audit_event_append_only()",
    ],
}


# revision identifiers, used by Alembic.
revision = '0001_foundation'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('establishment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uai', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=120), nullable=False),
    sa.CheckConstraint('length(uai) = 8', name=op.f('ck_establishment_uai_length')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_establishment')),
    sa.UniqueConstraint('uai', name=op.f('uq_establishment_uai'))
    )
    op.create_table('exam_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('academie', sa.String(length=120), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('timezone', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('mark_step', sa.Numeric(precision=4, scale=2), nullable=False),
    sa.Column('internship_min_days', sa.Integer(), nullable=False),
    sa.Column('e4_fiche_max_pages', sa.Integer(), nullable=True),
    sa.Column('e6_duration_minutes', sa.Integer(), nullable=False),
    sa.Column('nv_excludes_interview', sa.Boolean(), nullable=False),
    sa.CheckConstraint('e6_duration_minutes > 0', name=op.f('ck_exam_session_e6_duration_positive')),
    sa.CheckConstraint('internship_min_days >= 0', name=op.f('ck_exam_session_internship_days_positive')),
    sa.CheckConstraint('mark_step > 0 AND mark_step <= 20', name=op.f('ck_exam_session_mark_step_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exam_session')),
    sa.UniqueConstraint('code', name=op.f('uq_exam_session_code'))
    )
    op.create_table('login_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=120), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempt'))
    )
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempt_ip_at', ['ip', 'at'], unique=False)
        batch_op.create_index('ix_login_attempt_username_at', ['username', 'at'], unique=False)

    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.Column('session_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user')),
    sa.UniqueConstraint('username', name=op.f('uq_user_username'))
    )
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('object_type', sa.String(length=60), nullable=False),
    sa.Column('object_id', sa.String(length=60), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_audit_event_actor_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_audit_event_session_id_exam_session'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_event_object', ['object_type', 'object_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_session_id'), ['session_id'], unique=False)
    for statement in APPEND_ONLY_DDL.get(op.get_bind().dialect.name, []):
        op.execute(statement)

    op.create_table('centre',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('postal_code', sa.String(length=10), nullable=False),
    sa.Column('city', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_centre_session_id_exam_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_centre')),
    sa.UniqueConstraint('session_id', 'code', name=op.f('uq_centre_session_id_code'))
    )
    op.create_table('candidate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=True),
    sa.Column('e5_form', sa.String(length=10), nullable=False),
    sa.Column('extra_time', sa.String(length=10), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('search_text', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("e5_form IN ('ccf', 'ponctuel')", name=op.f('ck_candidate_e5_form_known')),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_candidate_centre_id_centre'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_candidate_establishment_id_establishment')),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_candidate_session_id_exam_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_candidate')),
    sa.UniqueConstraint('session_id', 'number', name=op.f('uq_candidate_session_id_number'))
    )
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.create_index('ix_candidate_centre_id', ['centre_id'], unique=False)
        batch_op.create_index('ix_candidate_establishment_id', ['establishment_id'], unique=False)
        batch_op.create_index('ix_candidate_session_name', ['session_id', 'last_name', 'first_name'], unique=False)

    op.create_table('commission',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('unit_code', sa.String(length=10), nullable=False),
    sa.Column('form', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=30), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=True),
    sa.Column('establishment_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("form IN ('ccf', 'ponctuel')", name=op.f('ck_commission_form_known')),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_commission_centre_id_centre'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_commission_establishment_id_establishment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_commission_session_id_exam_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission')),
    sa.UniqueConstraint('session_id', 'code', name=op.f('uq_commission_session_id_code'))
    )
    with op.batch_alter_table('commission', schema=None) as batch_op:
        batch_op.create_index('ix_commission_session_unit', ['session_id', 'unit_code'], unique=False)

    op.create_table('commission_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('commission_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('member_role', sa.String(length=15), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("member_role IN ('enseignant', 'professionnel')", name=op.f('ck_commission_member_member_role_known')),
    sa.ForeignKeyConstraint(['commission_id'], ['commission.id'], name=op.f('fk_commission_member_commission_id_commission'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_commission_member_establishment_id_establishment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_commission_member_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commission_member')),
    sa.UniqueConstraint('commission_id', 'user_id', name=op.f('uq_commission_member_commission_id_user_id'))
    )
    with op.batch_alter_table('commission_member', schema=None) as batch_op:
        batch_op.create_index('ix_commission_member_user_id', ['user_id'], unique=False)

    op.create_table('role_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=True),
    sa.Column('candidate_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("(role = 'candidat') = (candidate_id IS NOT NULL)", name=op.f('ck_role_assignment_candidate_scope')),
    sa.CheckConstraint("(role = 'chef_centre') = (centre_id IS NOT NULL)", name=op.f('ck_role_assignment_centre_scope')),
    sa.CheckConstraint("role IN ('gestionnaire', 'chef_centre', 'examinateur', 'correcteur', 'candidat')", name=op.f('ck_role_assignment_role_known')),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidate.id'], name=op.f('fk_role_assignment_candidate_id_candidate'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_role_assignment_centre_id_centre'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_role_assignment_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_role_assignment')),
    sa.UniqueConstraint('user_id', 'role', 'centre_id', 'candidate_id', name=op.f('uq_role_assignment_user_id_role_centre_id_candidate_id'))
    )
    with op.batch_alter_table('role_assignment', schema=None) as batch_op:
        batch_op.create_index('ix_role_assignment_user_id', ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('role_assignment', schema=None) as batch_op:
        batch_op.drop_index('ix_role_assignment_user_id')

    op.drop_table('role_assignment')
    with op.batch_alter_table('commission_member', schema=None) as batch_op:
        batch_op.drop_index('ix_commission_member_user_id')

    op.drop_table('commission_member')
    with op.batch_alter_table('commission', schema=None) as batch_op:
        batch_op.drop_index('ix_commission_session_unit')

    op.drop_table('commission')
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.drop_index('ix_candidate_session_name')
        batch_op.drop_index('ix_candidate_establishment_id')
        batch_op.drop_index('ix_candidate_centre_id')

    op.drop_table('candidate')
    op.drop_table('centre')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_session_id'))
        batch_op.drop_index('ix_audit_event_object')
        batch_op.drop_index(batch_op.f('ix_audit_event_at'))
        batch_op.drop_index(batch_op.f('ix_audit_event_action'))

    for statement in APPEND_ONLY_DROP.get(op.get_bind().dialect.name, []):
        op.execute(statement)
    op.drop_table('audit_event')
    op.drop_table('user')
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempt_username_at')
        batch_op.drop_index('ix_login_attempt_ip_at')

    op.drop_table('login_attempt')
    op.drop_table('exam_session')
    op.drop_table('establishment')
