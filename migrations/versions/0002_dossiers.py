"""dossiers: deadlines, files, uploads, internships, conformity

Revision ID: 0002_dossiers
Revises: 0001_foundation
Create Date: 2026-11-27

Reviewed by hand: timestamps are naive UTC (``exam_app.clock.UTCDateTime``
renders as DateTime); downgrade drops the tables in dependency order.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_dossiers'
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('conformity_reason',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('makes_nv', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_conformity_reason_session_id_exam_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conformity_reason')),
    sa.UniqueConstraint('session_id', 'code', name=op.f('uq_conformity_reason_session_id_code'))
    )
    op.create_table('deposit_deadline',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('unit_code', sa.String(length=10), nullable=False),
    sa.Column('deadline_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'], name=op.f('fk_deposit_deadline_session_id_exam_session'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deposit_deadline')),
    sa.UniqueConstraint('session_id', 'unit_code', name=op.f('uq_deposit_deadline_session_id_unit_code'))
    )
    op.create_table('dossier',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('unit_code', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('deposited_at', sa.DateTime(), nullable=True),
    sa.Column('extended_until', sa.DateTime(), nullable=True),
    sa.Column('extension_reason', sa.Text(), nullable=True),
    sa.Column('decision', sa.String(length=15), nullable=True),
    sa.Column('decision_reasons', sa.JSON(), nullable=False),
    sa.Column('decision_comment', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("decision IS NULL OR decision IN ('conforme', 'non_conforme')", name=op.f('ck_dossier_decision_known')),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidate.id'], name=op.f('fk_dossier_candidate_id_candidate'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_dossier_decided_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier')),
    sa.UniqueConstraint('candidate_id', 'unit_code', name=op.f('uq_dossier_candidate_id_unit_code'))
    )
    op.create_table('internship_period',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('organisation', sa.String(length=200), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('end_date >= start_date', name=op.f('ck_internship_period_dates_ordered')),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidate.id'], name=op.f('fk_internship_period_candidate_id_candidate'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_internship_period'))
    )
    with op.batch_alter_table('internship_period', schema=None) as batch_op:
        batch_op.create_index('ix_internship_period_candidate_id', ['candidate_id'], unique=False)

    op.create_table('dossier_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=False),
    sa.Column('piece_code', sa.String(length=40), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=False),
    sa.Column('has_javascript', sa.Boolean(), nullable=False),
    sa.Column('has_embedded_files', sa.Boolean(), nullable=False),
    sa.Column('deposited_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_dossier_file_dossier_id_dossier'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dossier_file')),
    sa.UniqueConstraint('dossier_id', 'sha256', name=op.f('uq_dossier_file_dossier_id_sha256'))
    )
    with op.batch_alter_table('dossier_file', schema=None) as batch_op:
        batch_op.create_index('ix_dossier_file_dossier_piece', ['dossier_id', 'piece_code'], unique=False)

    op.create_table('upload',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('dossier_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('piece_code', sa.String(length=40), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('received', sa.BigInteger(), nullable=False),
    sa.Column('replaces_file_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('received >= 0 AND received <= size', name=op.f('ck_upload_received_range')),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier.id'], name=op.f('fk_upload_dossier_id_dossier'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['replaces_file_id'], ['dossier_file.id'], name=op.f('fk_upload_replaces_file_id_dossier_file'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_upload_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upload')),
    sa.UniqueConstraint('token', name=op.f('uq_upload_token'))
    )
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.create_index('ix_upload_dossier_id', ['dossier_id'], unique=False)



def downgrade():
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.drop_index('ix_upload_dossier_id')

    op.drop_table('upload')
    with op.batch_alter_table('dossier_file', schema=None) as batch_op:
        batch_op.drop_index('ix_dossier_file_dossier_piece')

    op.drop_table('dossier_file')
    with op.batch_alter_table('internship_period', schema=None) as batch_op:
        batch_op.drop_index('ix_internship_period_candidate_id')

    op.drop_table('internship_period')
    op.drop_table('dossier')
    op.drop_table('deposit_deadline')
    op.drop_table('conformity_reason')
