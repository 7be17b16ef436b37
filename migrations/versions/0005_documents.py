"""print packs (documents)

Revision ID: 0005_documents
Revises: 0004_e6
Create Date: 2026-11-27 09:06:21.660662

"""
from alembic import op
import sqlalchemy as sa


revision = '0005_documents'
# The brief asked for 0001_foundation; main already chains 0001-0004, and two heads
# would break `flask db upgrade`, so this follows 0004_e6.
down_revision = '0004_e6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('print_pack',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kinds', sa.String(length=120), nullable=False),
    sa.Column('fmt', sa.String(length=5), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('result_path', sa.String(length=300), nullable=True),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("fmt IN ('pdf', 'zip')", name=op.f('ck_print_pack_fmt_known')),
    sa.CheckConstraint("state IN ('en_attente', 'en_cours', 'termine', 'erreur')", name=op.f('ck_print_pack_state_known')),
    sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_print_pack_centre_id_centre'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_print_pack_requested_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_print_pack')),
    sa.UniqueConstraint('centre_id', 'day', 'kinds', 'fmt', name=op.f('uq_print_pack_centre_id_day_kinds_fmt'))
    )


def downgrade():
    op.drop_table('print_pack')
