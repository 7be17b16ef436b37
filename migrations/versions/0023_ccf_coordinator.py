"""CCF coordinator: an establishment-scoped role, and the CCF transmissions

Issue 14, §2. ``role_assignment.establishment_id`` scopes the new role
``coordinateur_ccf`` (required for it, forbidden for the others);
``ccf_transmission`` records that an establishment's CCF marks of a session were
transmitted to the académie (and reopened by the gestionnaire).

Revision ID: 0023_ccf_coordinator
Revises: 0025_releve
Create Date: 2026-12-02 08:10:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0023_ccf_coordinator'
down_revision = '0025_releve'
branch_labels = None
depends_on = None

OLD_ROLES = ("role IN ('gestionnaire', 'chef_centre', 'examinateur', 'correcteur', 'candidat', "
             "'jury_deliberation')")
NEW_ROLES = ("role IN ('gestionnaire', 'chef_centre', 'examinateur', 'correcteur', 'candidat', "
             "'jury_deliberation', 'coordinateur_ccf')")


def upgrade():
    with op.batch_alter_table('role_assignment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('establishment_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_role_assignment_establishment_id_establishment'), 'establishment',
            ['establishment_id'], ['id'], ondelete='CASCADE')
        batch_op.drop_constraint(batch_op.f('ck_role_assignment_role_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_role_assignment_role_known'), NEW_ROLES)
        batch_op.create_check_constraint(
            batch_op.f('ck_role_assignment_establishment_scope'),
            "(role = 'coordinateur_ccf') = (establishment_id IS NOT NULL)")
    op.create_table(
        'ccf_transmission',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('establishment_id', sa.Integer(), nullable=False),
        sa.Column('transmitted_at', sa.DateTime(), nullable=True),
        sa.Column('transmitted_by_id', sa.Integer(), nullable=True),
        sa.Column('reopened_at', sa.DateTime(), nullable=True),
        sa.Column('reopened_by_id', sa.Integer(), nullable=True),
        sa.Column('reopen_reason', sa.String(length=1000), nullable=True),
        sa.Column('count', sa.Integer(), server_default='0', nullable=False),
        sa.CheckConstraint('count >= 0', name=op.f('ck_ccf_transmission_count_not_negative')),
        sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'],
                                name=op.f('fk_ccf_transmission_establishment_id_establishment'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['reopened_by_id'], ['user.id'],
                                name=op.f('fk_ccf_transmission_reopened_by_id_user'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['session_id'], ['exam_session.id'],
                                name=op.f('fk_ccf_transmission_session_id_exam_session'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['transmitted_by_id'], ['user.id'],
                                name=op.f('fk_ccf_transmission_transmitted_by_id_user'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ccf_transmission')),
        sa.UniqueConstraint('session_id', 'establishment_id',
                            name=op.f('uq_ccf_transmission_session_id_establishment_id')),
    )


def downgrade():
    op.drop_table('ccf_transmission')
    op.execute("DELETE FROM role_assignment WHERE role = 'coordinateur_ccf'")
    with op.batch_alter_table('role_assignment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_role_assignment_establishment_scope'),
                                 type_='check')
        batch_op.drop_constraint(batch_op.f('ck_role_assignment_role_known'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_role_assignment_role_known'), OLD_ROLES)
        batch_op.drop_constraint(
            batch_op.f('fk_role_assignment_establishment_id_establishment'), type_='foreignkey')
        batch_op.drop_column('establishment_id')
