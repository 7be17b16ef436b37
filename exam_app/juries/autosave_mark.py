"""The mark's lean save: one new op on the agreed grid's mark, by a logged-in juror,
done like the lone-field path (``autosave_lone``): statements compiled once, run on the
driver's cursor, outside the ORM session.

Both jurors change the agreed mark while validating it (issue 11's contended case):
through the ordinary path (``autosave.save_fields`` with the fast store) a mark's
save reads the context, the field's previous value, writes the field, records the
op, bumps the revision, clears the validations and audits both, through the ORM
session: ~9 statements and ~4 ms of CPU on SQLite, ~10 round trips on PostgreSQL.

Here the same decisions on the same rows, in the same order:

1. the context's one query (``autosave._context_query`` with the login) with the
   mark's value and version: the previous value the audit records. The path is taken
   only when the op's base is that version, so a write that goes through replaces
   exactly that value (the compare-and-set matches version ``base`` only);
2. the compare-and-set (``finalized_at IS NULL``), the op record, the revision bump
   (re-checking ``finalized_at`` under the passage row's lock), then, under that
   lock, the validations deleted (``validation.cleared`` audited when there were
   some) and the change audited (``mark.change``, when the value changed).

On SQLite step 2 is the ordinary path's statements in one transaction: the
compare-and-set takes the database's write lock first, as the fast store's does.
On PostgreSQL step 2 is ONE statement (data-modifying CTEs) run in autocommit, as
the lone path's fused statement: two round trips a save instead of ~10. It is all or
nothing by itself: a field written without its op record or its bump (the mark
turned final since the compare-and-set) fails the statement, which undoes it. Its
locks are taken in the ordinary path's order (the field's row, then the passage's,
then the validations'). Its reads other than the locked rows see the statement's
start: a validation committed while it waited for the passage's lock is not
deleted, exactly as the ordinary path leaves one given after its context read
(that path deletes only when its context saw validations); such a validation is of
the former revision and counts for nothing (a validation decides at the revision
read under the lock, and drops stale ones).

It is a shortcut that says yes, or no to a final mark (the ordinary path's first
refusal, ``Refused``, decided on the same read; a CCF commission's goes the ordinary
way, which tells a transmitted one): anything else (a stale base, a replayed op id,
another refusal, a private grid, a dossier whose validity needs its files) rolls back
what it did and answers None; the ordinary path then answers as it always did.
``JURY_MARK_SAVE_PATH=reference`` turns it off. The ordinary path is its reference:
``tests/juries/test_autosave_mark.py`` plays the same scripts through both and compares
answers and rows, and races it against a finalisation.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.clock import UTCDateTime, utcnow
from exam_app.enrolment.models import UnitForm
from exam_app.extensions import db
from exam_app.juries import autosave, autosave_lone
from exam_app.juries.autosave_fast import WHOLE_FAILURE
from exam_app.juries.autosave_lone import _Compiled, _NotTaken
from exam_app.juries.errors import JuryError
from exam_app.juries.grids import clean_value
from exam_app.juries.lifecycle import mark_text
from exam_app.juries.models import AGREED, Attendance, Commission, Grid, GridField, Validation

CLEARED_REASON = "grille commune modifiée après validation"  # as autosave._agreed_changed

# PostgreSQL: the whole save in one statement (see the module's docstring). The CTEs
# reference each other in the order of the ordinary path's statements.
_FUSED_PG = """
WITH cas AS (
    UPDATE grid_field SET value = CAST(:new_value AS TEXT), version = grid_field.version + 1,
           updated_at = :now, updated_by_id = :by_user
    WHERE grid_field.grid_id = :in_grid AND grid_field.name = 'mark'
      AND grid_field.version = :base
      AND EXISTS (SELECT 1 FROM passage
                  WHERE passage.id = :in_passage AND passage.finalized_at IS NULL)
    RETURNING grid_field.version),
bump AS (
    UPDATE passage SET agreed_revision = passage.agreed_revision + 1,
                       live_version = passage.live_version + 1
    WHERE passage.id = :in_passage AND passage.finalized_at IS NULL
      AND EXISTS (SELECT 1 FROM cas)
    RETURNING passage.agreed_revision, passage.live_version),
stored AS (
    INSERT INTO client_operation (op_id, user_id, passage_id, result, created_at)
    SELECT CAST(:op_id AS VARCHAR), :by_user, :in_passage,
           json_build_object('op', CAST(:op_id AS TEXT), 'field', 'mark', 'status', 'ok',
                             'version', cas.version, 'value', CAST(:new_value AS TEXT)),
           :now
    FROM cas
    RETURNING client_operation.id),
cleared AS (
    DELETE FROM validation
    WHERE validation.passage_id = :in_passage AND EXISTS (SELECT 1 FROM bump)
    RETURNING validation.user_id, validation.mark),
audited AS (
    INSERT INTO audit_event (at, actor_id, actor_label, action, object_type, object_id,
                             session_id, reason, before, after, ip)
    SELECT :now, :by_user, CAST(:actor_label AS VARCHAR), event.action, 'passage',
           CAST(:object_id AS VARCHAR), :session_id, event.reason, event.before,
           event.after, NULL
    FROM (
        SELECT 1 AS n, 'validation.cleared' AS action,
               CAST(:cleared_reason AS TEXT) AS reason,
               json_build_object('validated_by', json_agg(cleared.user_id),
                                 'mark', (array_agg(trim_scale(cleared.mark)::text))[1])
                   AS before,
               CAST(NULL AS JSON) AS after
        FROM cleared HAVING count(*) > 0
        UNION ALL
        SELECT 2, 'mark.change', NULL,
               json_build_object('mark', CAST(:mark_before AS TEXT)),
               json_build_object('mark', CAST(:new_value AS TEXT))
        WHERE CAST(:mark_changed AS BOOLEAN) AND EXISTS (SELECT 1 FROM bump)
    ) AS event
    ORDER BY event.n
    RETURNING audit_event.id)
SELECT cas_row.version, bump_row.agreed_revision AS revision, bump_row.live_version,
       (SELECT count(*) FROM stored) AS recorded, (SELECT count(*) FROM cleared) AS cleared,
       (SELECT count(*) FROM audited) AS audited,
       CAST(CASE WHEN cas_row.version IS NOT NULL
                      AND ((SELECT count(*) FROM stored) = 0 OR bump_row.agreed_revision IS NULL)
                 THEN 'partial autosave undone' ELSE '0' END AS INTEGER) AS whole
FROM (SELECT 1) AS one
LEFT JOIN cas AS cas_row ON TRUE
LEFT JOIN bump AS bump_row ON TRUE
"""
assert f"'{WHOLE_FAILURE}'" in _FUSED_PG  # the text PostgreSQL fails to read as an integer


def _mark_context_query() -> sa.Select:
    """``autosave._context_query(login=True)`` with the agreed mark's value and version,
    and whether the commission is a CCF one of an establishment (``ccf.is_ccf``)."""
    mark = GridField.__table__.alias("mark_field")
    ccf = sa.and_(Commission.form == UnitForm.CCF.value, Commission.establishment_id.isnot(None))
    return (autosave._context_query(login=True)  # noqa: SLF001 - the same feature's query
            .add_columns(mark.c.value.label("mark_value"), mark.c.version.label("mark_version"),
                         sa.case((ccf, True), else_=False).label("ccf"))
            .outerjoin(mark, sa.and_(mark.c.grid_id == Grid.id, mark.c.name == "mark")))


class Refused(Exception):  # noqa: N818 - a refusal, answered as the ordinary path answers it
    """The ordinary path's refusal of this save, decided on the same read: a final mark
    (of a ponctuel commission; a CCF one's may be transmitted: the ordinary path says so)."""

    def __init__(self, error: JuryError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class _Statements:
    context: _Compiled
    fused: _Compiled | None  # PostgreSQL
    cas: _Compiled
    insert_op: _Compiled
    bump: _Compiled
    clear: _Compiled
    audit: _Compiled


@functools.cache
def _statements(dialect_name: str) -> _Statements:
    dialect = db.engine.dialect
    assert dialect.name == dialect_name
    lone = autosave_lone._statements(dialect_name)  # noqa: SLF001 - the same statements
    fused = None
    if dialect_name == "postgresql":
        fused = _Compiled(
            sa.text(_FUSED_PG).bindparams(sa.bindparam("now", type_=UTCDateTime()))
            .columns(version=sa.Integer, revision=sa.Integer, live_version=sa.Integer,
                     recorded=sa.Integer, cleared=sa.Integer, audited=sa.Integer,
                     whole=sa.Integer), dialect)
    v = Validation.__table__
    return _Statements(
        context=_Compiled(_mark_context_query(), dialect), fused=fused, cas=lone.cas,
        insert_op=lone.insert_op, bump=lone.bump,
        clear=_Compiled(v.delete().where(v.c.passage_id == sa.bindparam("in_passage"))
                        .returning(v.c.user_id, v.c.mark), dialect),
        audit=_Compiled(AuditEvent.__table__.insert(), dialect, column_keys=[
            "at", "actor_id", "actor_label", "action", "object_type", "object_id",
            "session_id", "reason", "before", "after", "ip"]))


def enabled(config: Mapping) -> bool:
    """On with the fast store (the default), unless ``JURY_MARK_SAVE_PATH`` is reference."""
    return (autosave_lone.enabled(config)
            and config.get("JURY_MARK_SAVE_PATH", "fast") == "fast")


def mark_op(body: Any) -> dict | None:
    """The body's one op when it is this path's kind (one op, a new-looking id, the
    mark, an integer base); None otherwise, nothing read."""
    ops = body.get("ops") if isinstance(body, dict) else None
    if not isinstance(ops, list) or len(ops) != 1 or not isinstance(ops[0], dict):
        return None
    [op] = ops
    op_id, base = str(op.get("op", "")), op.get("base")
    if not op_id or len(op_id) > 64 or op.get("field") != "mark" \
            or not isinstance(base, int) or isinstance(base, bool):
        return None
    return op


def save(*, passage_id: int, user_id: int, token: str,
         op: dict) -> tuple[dict, int | None, int | None] | None:
    """Save the agreed mark's ``op`` (from ``mark_op``) for the login ``user_id``/``token``
    and commit: (the op's result, the agreed revision and the passage's live version
    after it), as ``autosave.save_fields`` answers a new op; None when the ordinary path
    must answer (nothing of this attempt is kept); ``Refused`` for a final mark."""
    dialect_name = db.engine.dialect.name
    compiled = _statements(dialect_name)
    args = {"passage_id": passage_id, "user_id": user_id, "token": token, "op": op}
    if compiled.fused is not None:
        return autosave_lone._save_autocommit(  # noqa: SLF001 - the lone path's connections
            compiled, runner=_save, **args)
    return autosave_lone._save_in_transaction(_save, compiled, args)  # noqa: SLF001


def _save(cursor, compiled: _Statements, *, passage_id: int, user_id: int, token: str,
          op: dict) -> tuple[dict, int | None, int | None]:
    row = compiled.context.run(cursor, {"passage_id": passage_id, "user_id": user_id,
                                        "token": token, "grid_key": AGREED})
    if row is None:
        raise _NotTaken  # no such seat or login: the ordinary path's 401/403/404
    now = utcnow()
    context = autosave.context_from(row, AGREED)
    if context.finalized and not row["ccf"] and context.grid_id is not None:
        # autosave._check_writable's first refusal (``_refuse_final``), on the same read.
        raise Refused(JuryError(autosave.FINAL_AGREED))
    # What autosave._check_writable refuses, and what needs more than this path does.
    if context.finalized or context.attendance == Attendance.ABSENT.value \
            or context.grid_id is None or row["mark_version"] is None \
            or row["mark_version"] != op["base"]:
        raise _NotTaken
    autosave_lone._require_settled_valid(context, now)  # noqa: SLF001
    op_id, previous = str(op["op"]), row["mark_value"]
    value = clean_value(name="mark", value=op.get("value"), unit_code=context.unit_code,
                        mark_step=context.mark_step)  # JuryInvalid: not taken
    actor_label = f"{row['actor_first_name']} {row['actor_last_name']}".strip() or "système"
    params = {"in_grid": context.grid_id, "field_name": "mark", "base": op["base"],
              "new_value": value, "now": now, "by_user": user_id, "in_passage": passage_id}
    if compiled.fused is not None:
        written = compiled.fused.run(cursor, {
            **params, "op_id": op_id, "actor_label": actor_label,
            "object_id": str(passage_id), "session_id": context.session_id,
            "cleared_reason": CLEARED_REASON, "mark_before": previous,
            "mark_changed": previous != value})
        if written["version"] is None:
            raise _NotTaken  # the version moved since the context's read
        cleared = written["cleared"]
        revision, live_version = written["revision"], written["live_version"]
        version = written["version"]
    else:
        written = compiled.cas.run(cursor, params)
        if written is None:
            raise _NotTaken
        version = written["version"]
        compiled.insert_op.run(cursor, {"op_id": op_id, "user_id": user_id,
                                        "passage_id": passage_id,
                                        "result": _result(op_id, version, value),
                                        "created_at": now})
        bumped = compiled.bump.run(cursor, {"in_passage": passage_id})
        if bumped is None:
            raise _NotTaken  # final since the compare-and-set
        revision, live_version = bumped["agreed_revision"], bumped["live_version"]
        rows = compiled.clear.run_all(cursor, {"in_passage": passage_id})
        cleared = len(rows)
        audit = {"at": now, "actor_id": user_id, "actor_label": actor_label,
                 "object_type": "passage", "object_id": str(passage_id),
                 "session_id": context.session_id, "after": None, "reason": None, "ip": None}
        if rows:
            compiled.audit.run(cursor, {
                **audit, "action": "validation.cleared", "reason": CLEARED_REASON,
                "before": {"validated_by": [r["user_id"] for r in rows],
                           "mark": mark_text(rows[0]["mark"])}})
        if previous != value:
            compiled.audit.run(cursor, {**audit, "action": "mark.change",
                                        "before": {"mark": previous}, "after": {"mark": value}})
    # The live version only for a save that changed nothing but the fields and the
    # revision (as ``autosave._agreed_changed``: none when validations were cleared).
    if context.has_validations or cleared:
        live_version = None
    return _result(op_id, version, value), revision, live_version


def _result(op_id: str, version: int, value: str) -> dict:
    """An applied op's result, as ``autosave._Save.apply`` builds it."""
    return {"op": op_id, "field": "mark", "status": "ok", "version": version, "value": value}
