"""account tokens

One-time activation and password-reset links (issue 13, item 3): only the SHA-256
of each link's secret is stored, with its purpose, expiry, and when it was sent,
used or replaced. See exam_app/accounts/tokens.py.

Revision ID: 0012_activation
Revises: 0011_push
Create Date: 2026-12-02 05:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0012_activation'
down_revision = '0011_push'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('account_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=12), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("purpose IN ('activation', 'reset')",
                       name=op.f('ck_account_token_purpose_known')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'],
                            name=op.f('fk_account_token_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_account_token_token_hash'))
    )
    with op.batch_alter_table('account_token', schema=None) as batch_op:
        batch_op.create_index('ix_account_token_user_id_purpose', ['user_id', 'purpose'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('account_token', schema=None) as batch_op:
        batch_op.drop_index('ix_account_token_user_id_purpose')
    op.drop_table('account_token')
