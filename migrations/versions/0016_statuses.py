"""candidate statuses and per-unit registrations

- ``candidate.status``: the candidate's route (scolaire, apprentissage,
  formation continue, individuel, enseignement à distance); NULL for the
  candidates imported before it ("non renseigné").
- ``establishment.is_ccf_allowed``: the establishment may run the CCF form. Set
  for the establishments that already have a candidate sitting E5 in CCF, so the
  stored forms stay consistent with the new default rule.
- ``candidate_unit_form`` becomes the per-unit registration: ``kind`` (sit,
  benefice, dispense, not_registered; existing rows are ``sit``), ``form`` only
  when the candidate sits, the kept mark and its session year for a bénéfice, a
  reason, ``updated_at``.

Revision ID: 0016_statuses
Revises: 0011_push
Create Date: 2026-12-02 05:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0016_statuses'
down_revision = '0014_commissions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=20), nullable=True))
        batch_op.create_check_constraint(
            batch_op.f('ck_candidate_status_known'),
            "status IS NULL OR status IN ('scolaire', 'apprentissage', "
            "'formation_continue', 'individuel', 'distance')")
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_ccf_allowed', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    op.execute(sa.text(
        "UPDATE establishment SET is_ccf_allowed = :yes WHERE id IN ("
        "SELECT candidate.establishment_id FROM candidate JOIN candidate_unit_form "
        "ON candidate_unit_form.candidate_id = candidate.id "
        "WHERE candidate_unit_form.form = 'ccf')").bindparams(yes=True))
    with op.batch_alter_table('candidate_unit_form', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=20), server_default='sit',
                                      nullable=False))
        batch_op.add_column(sa.Column('kept_mark', sa.Numeric(precision=4, scale=2),
                                      nullable=True))
        batch_op.add_column(sa.Column('kept_year', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=300), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))
        batch_op.alter_column('form', existing_type=sa.String(length=10), nullable=True)
        batch_op.create_check_constraint(
            batch_op.f('ck_candidate_unit_form_kind_known'),
            "kind IN ('sit', 'benefice', 'dispense', 'not_registered')")
        batch_op.create_check_constraint(
            batch_op.f('ck_candidate_unit_form_form_iff_sit'),
            "(kind = 'sit') = (form IS NOT NULL)")
        batch_op.create_check_constraint(
            batch_op.f('ck_candidate_unit_form_kept_mark_iff_benefice'),
            "(kind = 'benefice') = (kept_mark IS NOT NULL AND kept_year IS NOT NULL)")
        batch_op.create_check_constraint(
            batch_op.f('ck_candidate_unit_form_kept_mark_range'),
            "kept_mark IS NULL OR (kept_mark >= 0 AND kept_mark <= 20)")


def downgrade():
    # Only "sits it" could be stored before: the other registrations are lost.
    op.execute(sa.text("DELETE FROM candidate_unit_form WHERE kind <> 'sit'"))
    with op.batch_alter_table('candidate_unit_form', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_candidate_unit_form_kept_mark_range'),
                                 type_='check')
        batch_op.drop_constraint(batch_op.f('ck_candidate_unit_form_kept_mark_iff_benefice'),
                                 type_='check')
        batch_op.drop_constraint(batch_op.f('ck_candidate_unit_form_form_iff_sit'),
                                 type_='check')
        batch_op.drop_constraint(batch_op.f('ck_candidate_unit_form_kind_known'), type_='check')
        batch_op.alter_column('form', existing_type=sa.String(length=10), nullable=False)
        batch_op.drop_column('updated_at')
        batch_op.drop_column('reason')
        batch_op.drop_column('kept_year')
        batch_op.drop_column('kept_mark')
        batch_op.drop_column('kind')
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.drop_column('is_ccf_allowed')
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_candidate_status_known'), type_='check')
        batch_op.drop_column('status')
