"""E4 grid as the référentiel writes it (tools criterion split in two); dossier missing elements

Issue 14 §5. "Pertinence et maîtrise des outils présentés" (``c:outils_presentes``)
becomes two criteria: ``c:outils_pertinence`` (pertinence of the project-management
tools presented) and ``c:outils_maitrise`` (mastery of the management tools used).

Choice for existing grids: the old level was one judgement on both aspects, so it is
copied to both new criteria (same version, author and time). A grid that was complete
(and so could be, or was, validated) stays complete; a validated grid keeps the
revision its validations name (``agreed_revision`` is not bumped); marks live in
``passage.final_mark``, ``validation.mark`` and the ``mark`` field, which this
migration never touches, so no final mark changes. Leaving one new criterion empty
would have made validated grids incomplete after the fact.

``c:numerique`` and ``c:posture`` are no longer criteria (they are sources of
evidence, shown as guidance): their rows are kept as recorded, unread by the grid,
so the downgrade gives them back.

Revision ID: 0022_e4_criteria
Revises: 0018_pinned
Create Date: 2026-12-02 06:25:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0022_e4_criteria'
down_revision = '0020_plan_publication'
branch_labels = None
depends_on = None

OLD = "c:outils_presentes"
NEW = ("c:outils_pertinence", "c:outils_maitrise")

_E4_GRIDS = "SELECT g.id FROM grid g JOIN passage p ON p.id = g.passage_id WHERE p.unit_code = 'E4'"


def _copy(conn, source: str, target: str) -> None:
    conn.execute(sa.text(
        "INSERT INTO grid_field (grid_id, name, value, version, updated_at, updated_by_id) "
        "SELECT f.grid_id, CAST(:target AS VARCHAR(80)), f.value, f.version, f.updated_at, f.updated_by_id "
        f"FROM grid_field f WHERE f.name = :source AND f.grid_id IN ({_E4_GRIDS}) "
        "AND NOT EXISTS (SELECT 1 FROM grid_field o WHERE o.grid_id = f.grid_id "
        "AND o.name = CAST(:target AS VARCHAR(80)))"), {"source": source, "target": target})


def _delete(conn, name: str) -> None:
    conn.execute(sa.text(f"DELETE FROM grid_field WHERE name = :name AND grid_id IN ({_E4_GRIDS})"),
                 {"name": name})


def upgrade():
    # A conforme dossier's missing elements (an insufficiency marked in the evaluation,
    # never NV): none for the decisions already taken.
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.add_column(sa.Column('missing_elements', sa.JSON(), server_default='[]',
                                      nullable=False))
    conn = op.get_bind()
    for target in NEW:
        _copy(conn, OLD, target)
    _delete(conn, OLD)


def downgrade():
    # Back to one criterion: the pertinence level (the first of the two), as the old
    # merged criterion named pertinence first.
    conn = op.get_bind()
    _copy(conn, NEW[0], OLD)
    _copy(conn, NEW[1], OLD)
    for name in NEW:
        _delete(conn, name)
    with op.batch_alter_table('dossier', schema=None) as batch_op:
        batch_op.drop_column('missing_elements')
