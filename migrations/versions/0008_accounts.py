"""login throttle

Login throttling without lockout (issue 12, item 6): the failures counted per key
(account from one client, account, client, device cookie) and until when the key's
next attempt waits. See exam_app/accounts/throttle.py.

Revision ID: 0008_accounts
Revises: 0007_passage_start_exception
Create Date: 2026-12-02 02:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008_accounts'
down_revision = '0007_passage_start_exception'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_throttle',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(), nullable=True),
    sa.Column('blocked_until', sa.DateTime(), nullable=True),
    sa.CheckConstraint("scope IN ('pair', 'account', 'client', 'device')",
                       name=op.f('ck_login_throttle_scope_known')),
    sa.CheckConstraint('failures >= 0', name=op.f('ck_login_throttle_failures_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_throttle')),
    sa.UniqueConstraint('scope', 'key', name=op.f('uq_login_throttle_scope_key'))
    )
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.create_index('ix_login_throttle_last_failure_at', ['last_failure_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.drop_index('ix_login_throttle_last_failure_at')
    op.drop_table('login_throttle')
