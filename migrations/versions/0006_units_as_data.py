"""units as data, states typed

- The candidate's form moves from ``candidate.e5_form`` to one row per candidate
  and unit in ``candidate_unit_form`` (data carried over as unit ``E5``).
- State values in English: passage attendance ``inconnu`` -> ``unknown``; dossier
  decisions ``conforme/non_conforme`` -> ``compliant/non_compliant``; print pack
  states ``en_attente/en_cours/termine/erreur`` -> ``pending/running/done/failed``
  (stored rows rewritten, CHECK constraints follow). The audit trail is
  append-only history and keeps the values it recorded.
- Enum columns are typed as their enums in the models (``exam_app.db_types.enum_type``):
  non-native, still VARCHAR of the same length, so no DDL beyond the above.
- The session's unit settings already have unit-prefixed names
  (``e4_fiche_max_pages``, ``e6_duration_minutes``): nothing to rename.

On SQLite, constraint changes rebuild the table (batch mode); SQLite does not
enforce foreign keys here (no ``PRAGMA foreign_keys``), so rebuilding ``passage``
or ``candidate`` leaves the rows that reference them untouched.

Revision ID: 0006_units_as_data
Revises: 0005_documents
Create Date: 2026-12-01 23:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006_units_as_data'
down_revision = '0005_documents'
branch_labels = None
depends_on = None

# The only unit with several forms when the form lived on the candidate.
FORM_UNIT = 'E5'
ATTENDANCE = {'inconnu': 'unknown'}
DECISIONS = {'conforme': 'compliant', 'non_conforme': 'non_compliant'}
PACK_STATES = {'en_attente': 'pending', 'en_cours': 'running', 'termine': 'done',
               'erreur': 'failed'}


def _rewrite(table, column, mapping):
    for old, new in mapping.items():
        op.execute(sa.text(f"UPDATE {table} SET {column} = :new WHERE {column} = :old")
                   .bindparams(old=old, new=new))


def _replace_check(table, name, condition, rewrite):
    """Drop a CHECK constraint, rewrite the stored values, create it again."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f(f'ck_{table}_{name}'), type_='check')
    rewrite()
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f(f'ck_{table}_{name}'), condition)


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    op.create_table('candidate_unit_form',
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('unit_code', sa.String(length=10), nullable=False),
    sa.Column('form', sa.String(length=10), nullable=False),
    sa.CheckConstraint("form IN ('ponctuel', 'ccf')", name=op.f('ck_candidate_unit_form_form_known')),
    sa.ForeignKeyConstraint(['candidate_id'], ['candidate.id'], name=op.f('fk_candidate_unit_form_candidate_id_candidate'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('candidate_id', 'unit_code', name=op.f('pk_candidate_unit_form'))
    )
    with op.batch_alter_table('candidate_unit_form', schema=None) as batch_op:
        batch_op.create_index('ix_candidate_unit_form_unit_form', ['unit_code', 'form'], unique=False)
    op.execute(sa.text(
        "INSERT INTO candidate_unit_form (candidate_id, unit_code, form) "
        "SELECT id, :unit, e5_form FROM candidate").bindparams(unit=FORM_UNIT))
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_candidate_e5_form_known'), type_='check')
        batch_op.drop_column('e5_form')

    _replace_check('passage', 'attendance_known',
                   _in('attendance', ('unknown', 'present', 'absent')),
                   lambda: _rewrite('passage', 'attendance', ATTENDANCE))
    _replace_check('dossier', 'decision_known',
                   'decision IS NULL OR ' + _in('decision', DECISIONS.values()),
                   lambda: _rewrite('dossier', 'decision', DECISIONS))
    _replace_check('print_pack', 'state_known', _in('state', PACK_STATES.values()),
                   lambda: _rewrite('print_pack', 'state', PACK_STATES))


def downgrade():
    _replace_check('print_pack', 'state_known', _in('state', PACK_STATES.keys()),
                   lambda: _rewrite('print_pack', 'state',
                                    {new: old for old, new in PACK_STATES.items()}))
    _replace_check('dossier', 'decision_known',
                   'decision IS NULL OR ' + _in('decision', DECISIONS.keys()),
                   lambda: _rewrite('dossier', 'decision',
                                    {new: old for old, new in DECISIONS.items()}))
    _replace_check('passage', 'attendance_known',
                   _in('attendance', ('inconnu', 'present', 'absent')),
                   lambda: _rewrite('passage', 'attendance',
                                    {new: old for old, new in ATTENDANCE.items()}))

    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('e5_form', sa.String(length=10), nullable=True))
    # Every candidate had a form; one without a recorded E5 form sits it ponctuel.
    op.execute(sa.text(
        "UPDATE candidate SET e5_form = COALESCE((SELECT form FROM candidate_unit_form "
        "WHERE candidate_unit_form.candidate_id = candidate.id "
        "AND candidate_unit_form.unit_code = :unit), 'ponctuel')").bindparams(unit=FORM_UNIT))
    with op.batch_alter_table('candidate', schema=None) as batch_op:
        batch_op.alter_column('e5_form', existing_type=sa.String(length=10), nullable=False)
        batch_op.create_check_constraint(batch_op.f('ck_candidate_e5_form_known'),
                                         "e5_form IN ('ccf', 'ponctuel')")
    with op.batch_alter_table('candidate_unit_form', schema=None) as batch_op:
        batch_op.drop_index('ix_candidate_unit_form_unit_form')
    op.drop_table('candidate_unit_form')
