"""The joint validation's lean path: the usual validation (a ponctuel passage, complete
agreed grid with its mark, délibération open) in a few Core statements, answering what
the validation changes, not the whole passage state.

Both jurors validate every passage while racing each other's edits; through the
ORM (``validation.validate``, the reference) a validation that goes through loads
the passage with its commission, members and validations, reads the dossier's
validity twice and the délibération apart, then the view builds the full state
(grids, timer) for the answer: about 40 ms of CPU on SQLite. Here:

1. one read without a lock settles the refusals a committed read settles (final
   mark, older revision), as ``validation._refuse_early`` does; for a session cookie's
   login it is the route's scope check too (``read_for_juror``);
2. the lock (``locking.lock_passage``'s, same order: PostgreSQL ``FOR UPDATE`` then
   the push version's bump; SQLite the bump, which takes the write lock, then the
   read), whose read is one statement: the passage's columns, the session's NV rule,
   the dossier's settling columns and the délibération's ``closed_at`` (``FOR SHARE``
   on PostgreSQL, as ``ensure_results_open`` reads it);
3. the agreed grid's values, and the members with their names and validations, in one
   statement (one round trip);
4. the writes the reference makes (stale validations deleted, the juror's row
   inserted or updated, audit, final mark and its audit).

The statements are built once (bind parameters) and run on the session's connection,
in its transaction, without the ORM's execution layer: building and running them
through the ORM cost more CPU than SQLite takes to run them.

Every decision is the reference's, on rows read under the same lock, in the same
order, with the same messages. It answers the two refusals a validation race
gives (already final, revision changed) itself; anything else (a CCF commission,
a closed délibération, NV, absent, an incomplete grid or no
mark) rolls back what it did and answers None, and the caller goes the reference
way, which answers as it always did. ``tests/juries/test_validation_lean.py``
plays the same scripts through both and compares the answers and the rows.

The answer (``validation.answer``'s shape): the push version, the passage's
finality, final mark and revision, and the validations with the jurors' names;
``jury-passage.js`` merges it into the state it shows, and its push (the version
moved) brings the full state right after.
"""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

import sqlalchemy as sa

from exam_app.accounts.models import Role, User
from exam_app.audit.models import AuditEvent
from exam_app.clock import UTCDateTime, utcnow
from exam_app.deliberation.models import Deliberation
from exam_app.dossiers import validity
from exam_app.enrolment.models import Attendance, ExamSession, UnitForm
from exam_app.extensions import db
from exam_app.juries.errors import JuryError
from exam_app.juries.grids import carries_mark
from exam_app.juries.lifecycle import mark_text
from exam_app.juries.models import (
    AGREED,
    Commission,
    CommissionMember,
    Grid,
    GridField,
    Passage,
    Validation,
)
from exam_app.juries.validation import (
    ALREADY_FINAL,
    REVISION_CHANGED,
    missing_for_validation,
)
from exam_app.permissions import juror_login_conditions


def _run(statement, parameters: dict):
    """On the session's connection, in its transaction, without the ORM's execution
    layer (the statements select columns, not entities; bulk writes, nothing loaded)."""
    return db.session.connection().execute(statement, parameters)


def _sqlite() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


@functools.cache
def _statements(sqlite: bool) -> dict:
    """The path's statements, built once (with bind parameters) for a dialect: building a
    statement costs more CPU than SQLite takes to run it."""
    passage_id = sa.bindparam("p_passage")
    columns = [Passage.finalized_at, Passage.agreed_revision, Passage.attendance,
               Passage.candidate_id, Passage.unit_code, Passage.variant_code,
               Commission.id.label("commission_id"), Commission.session_id,
               Commission.form, Commission.establishment_id,
               ExamSession.nv_excludes_interview,
               *validity.settling_columns(Passage.candidate_id, Passage.unit_code)]
    # The passage's columns a validation decides on, its session's NV rule, its
    # commission's form, the dossier's settling columns.
    early = (sa.select(*columns)
             .join(Commission, Commission.id == Passage.commission_id)
             .join(ExamSession, ExamSession.id == Commission.session_id)
             .where(Passage.id == passage_id))
    # Under the lock: the same, and the délibération's closing.
    closed = sa.select(Deliberation.closed_at).where(
        Deliberation.session_id == Commission.session_id)
    locked = early
    if not sqlite:
        closed = closed.with_for_update(read=True)
        locked = locked.with_for_update(of=Passage)
    locked = locked.add_columns(closed.scalar_subquery().label("closed_at"))
    user_id, revision = sa.bindparam("p_user"), sa.bindparam("p_revision")
    # The route's scope check (permissions.py), with the juror's names for the audit.
    scoped = (early.add_columns(User.first_name, User.last_name)
              .join(User, User.id == user_id)
              .where(*juror_login_conditions(user_id, sa.bindparam("p_token"),
                                             Role.EXAMINATEUR)))
    writes = {} if sqlite else {"writes": _writes_pg()}
    return {
        **writes,
        "early": early, "locked": locked, "scoped": scoped,
        "bump": sa.update(Passage).where(Passage.id == passage_id)
        .values(live_version=Passage.live_version + 1).returning(Passage.live_version),
        "reads": _reads(passage_id),
        "drop_stale": sa.delete(Validation).where(Validation.passage_id == passage_id,
                                                  Validation.revision != revision),
        "again": sa.update(Validation).where(Validation.passage_id == passage_id,
                                             Validation.user_id == user_id)
        .values(mark=sa.bindparam("p_mark"), validated_at=sa.bindparam("p_now")),
        "insert": sa.insert(Validation).values(
            passage_id=passage_id, user_id=user_id, revision=revision,
            mark=sa.bindparam("p_mark"), validated_at=sa.bindparam("p_now")),
        "final": sa.update(Passage).where(Passage.id == passage_id)
        .values(final_mark=sa.bindparam("p_mark"), finalized_at=sa.bindparam("p_now")),
        "audit": sa.insert(AuditEvent),
    }


def _reads(passage_id) -> sa.CompoundSelect:
    """The three reads under the lock (the agreed grid's values, the members with their
    names, the validations) as ONE statement, one round trip (``_split_reads``): rows
    ``(kind, text1, text2, int1, int2, int3)``, kind ``v`` (name, value), ``m`` (first
    and last name, user id), ``x`` (user id, id, revision)."""
    no_text, no_int = sa.cast(sa.null(), sa.Text), sa.cast(sa.null(), sa.Integer)
    return sa.union_all(
        sa.select(sa.literal_column("'v'").label("kind"), GridField.name.label("text1"),
                  GridField.value.label("text2"), no_int.label("int1"),
                  no_int.label("int2"), no_int.label("int3"))
        .join(Grid, Grid.id == GridField.grid_id)
        .where(Grid.passage_id == passage_id, Grid.key == AGREED),
        sa.select(sa.literal_column("'m'"), User.first_name, User.last_name,
                  CommissionMember.user_id, no_int, no_int)
        .join(User, User.id == CommissionMember.user_id)
        .where(CommissionMember.commission_id == sa.bindparam("p_commission")),
        sa.select(sa.literal_column("'x'"), no_text, no_text, Validation.user_id,
                  Validation.id, Validation.revision)
        .where(Validation.passage_id == passage_id))


# PostgreSQL: the validation's writes as ONE statement (one round trip instead of two
# to four): the juror's row updated (``p_again``: it holds one at this revision) or
# inserted, the passage's final mark (``p_final``), and their audit rows in the order
# ``_audit`` writes them (``mark.validate``, then ``mark.final``). Stale validations are
# deleted before it, apart (the juror's own may be among them: its insert must come after).
_WRITES_PG = """
WITH again AS (
    UPDATE validation SET mark = CAST(:p_mark AS NUMERIC), validated_at = :p_now
    WHERE validation.passage_id = :p_passage AND validation.user_id = :p_user
      AND CAST(:p_again AS BOOLEAN)
    RETURNING validation.id),
mine AS (
    INSERT INTO validation (passage_id, user_id, revision, mark, validated_at)
    SELECT :p_passage, :p_user, :p_revision, CAST(:p_mark AS NUMERIC), :p_now
    WHERE NOT CAST(:p_again AS BOOLEAN)
    RETURNING validation.id),
final AS (
    UPDATE passage SET final_mark = CAST(:p_mark AS NUMERIC), finalized_at = :p_now
    WHERE passage.id = :p_passage AND CAST(:p_final AS BOOLEAN)
    RETURNING passage.id)
INSERT INTO audit_event (at, actor_id, actor_label, action, object_type, object_id,
                         session_id, reason, before, after, ip)
SELECT :p_now, :p_actor, CAST(:p_label AS VARCHAR), event.action, 'passage',
       CAST(:p_object AS VARCHAR), :p_session, NULL, event.before, event.after, NULL
FROM (
    SELECT 1 AS n, 'mark.validate' AS action, CAST(NULL AS JSON) AS before,
           CAST(:p_after_validate AS JSON) AS after
    UNION ALL
    SELECT 2, 'mark.final', CAST(:p_before_final AS JSON), CAST(:p_after_final AS JSON)
    WHERE CAST(:p_final AS BOOLEAN)
) AS event
ORDER BY event.n
"""


def _writes_pg() -> sa.TextClause:
    now = UTCDateTime()
    return sa.text(_WRITES_PG).bindparams(
        sa.bindparam("p_now", type_=now), sa.bindparam("p_after_validate", type_=sa.JSON()),
        sa.bindparam("p_before_final", type_=sa.JSON()),
        sa.bindparam("p_after_final", type_=sa.JSON()))


class _Member(NamedTuple):
    user_id: int
    first_name: str | None
    last_name: str | None


class _Validation(NamedTuple):
    id: int
    user_id: int
    revision: int


def _split_reads(rows) -> tuple[dict, list[_Member], list[_Validation]]:
    """``_reads``'s rows as the three reads gave them: the values by name, the members,
    the validations by id."""
    values = {r.text1: r.text2 for r in rows if r.kind == "v"}
    members = [_Member(r.int1, r.text1, r.text2) for r in rows if r.kind == "m"]
    validations = sorted((_Validation(r.int2, r.int1, r.int3) for r in rows if r.kind == "x"),
                         key=lambda v: v.id)
    return values, members, validations


def _settled(row) -> tuple:
    return row.dossier_decision, row.dossier_extended_until, row.dossier_session_deadline


def _nv(row, now: datetime) -> bool:
    """NV, from the read's settling columns (``candidate_validity`` reads the dossier's
    reasons or files only when they do not settle it)."""
    return validity.candidate_validity(
        candidate_id=row.candidate_id, session_id=row.session_id, unit_code=row.unit_code,
        now=now, settled=_settled(row)) == validity.UnitValidity.NV


def _ccf(row) -> bool:
    return row.form == UnitForm.CCF.value and row.establishment_id is not None


def read_for_juror(passage_id: int, user_id: int, token: str):
    """The read without the lock (step 1) of a passage of one of the juror's commissions,
    with the juror's names, for the login of a session cookie (``accounts.session_login``:
    the user's token, enabled, the examinateur role): the route's scope check and the
    read in one statement. None when no row matches (the route then checks the usual way)."""
    return _run(_statements(_sqlite())["scoped"],
                {"p_passage": passage_id, "p_user": user_id, "p_token": token}).one_or_none()


def validate(*, passage_id: int, revision: int, actor, now: datetime | None = None,
             early=None) -> dict | None:
    """Validate as the reference does; the answer, a ``JuryError`` (already final,
    revision changed), or None (nothing done: go the reference way). ``early``: the
    row ``read_for_juror`` gave (else read here)."""
    now = now or utcnow()
    if early is None:
        early = _run(_statements(_sqlite())["early"], {"p_passage": passage_id}).one()
    if _ccf(early):
        return None  # the transmission's lock and refusal: the reference's
    if early.finalized_at is not None:
        raise JuryError(ALREADY_FINAL)
    # An older revision can never match again; absent or NV: the locked decision answers.
    if (revision < early.agreed_revision and early.attendance != Attendance.ABSENT
            and not (early.nv_excludes_interview and _nv(early, now))):
        raise JuryError(REVISION_CHANGED)
    try:
        answer = _decide(passage_id, revision, actor, now)
    except BaseException:
        db.session.rollback()
        raise
    if answer is None:
        db.session.rollback()
    return answer


def _lock(statements: dict, key: dict):
    """``lock_passage``'s lock and bump, the decision's read under it; (row, version)."""
    if _sqlite():
        version = _run(statements["bump"], key).scalar_one()  # the write lock
        row = _run(statements["locked"], key).one()
    else:
        row = _run(statements["locked"], key).one()  # FOR UPDATE, first
        version = _run(statements["bump"], key).scalar_one()
    return row, version


def _audit(statements: dict, *, actor, action: str, passage_id: int, session_id: int,
           now: datetime, before: dict | None, after: dict) -> None:
    """``audit.services.record``'s row, inserted as one statement (its values are JSON
    already: text, numbers, None)."""
    _run(statements["audit"], {
        "at": now, "actor_id": actor.id,
        "actor_label": getattr(actor, "display_name", None) or "système",
        "action": action, "object_type": "passage", "object_id": str(passage_id),
        "session_id": session_id, "before": before, "after": after, "reason": None,
        "ip": None})


def _decide(passage_id: int, revision: int, actor, now: datetime) -> dict | None:
    statements = _statements(_sqlite())
    key = {"p_passage": passage_id}
    row, version = _lock(statements, key)
    if _ccf(row) or row.closed_at is not None:
        return None
    if row.finalized_at is not None:
        raise JuryError(ALREADY_FINAL)
    if row.attendance == Attendance.ABSENT:
        return None
    if row.nv_excludes_interview and _nv(row, now):
        return None
    if revision != row.agreed_revision:
        raise JuryError(REVISION_CHANGED)
    values, members, validations = _split_reads(
        _run(statements["reads"], {**key, "p_commission": row.commission_id}).all())
    mark = None
    if carries_mark(row.unit_code, row.variant_code):
        if not values.get("mark"):
            return None
        mark = Decimal(values["mark"])
    if missing_for_validation(row, values):  # reads the unit and variant codes only
        return None
    # ``members``: with their names; ``validations``: every validation of the passage (a
    # former member's too: the reference keeps it when it is at this revision).
    mine = {**key, "p_user": actor.id, "p_revision": revision, "p_mark": mark, "p_now": now}
    if any(v.revision != revision for v in validations):
        _run(statements["drop_stale"], {**key, "p_revision": revision})
    kept = [v for v in validations if v.revision == revision]
    again = any(v.user_id == actor.id for v in kept)
    validated = [v.user_id for v in kept if v.user_id != actor.id] + [actor.id]
    order = [v.user_id for v in kept] + ([] if again else [actor.id])
    member_ids = {m.user_id for m in members}
    final = bool(member_ids) and member_ids <= set(validated)
    if "writes" in statements:  # PostgreSQL: the writes below in one statement
        _run(statements["writes"], {
            **mine, "p_again": again, "p_final": final, "p_actor": actor.id,
            "p_label": getattr(actor, "display_name", None) or "système",
            "p_object": str(passage_id), "p_session": row.session_id,
            "p_after_validate": {"mark": mark_text(mark), "revision": revision},
            "p_before_final": {"mark": None}, "p_after_final": {"mark": mark_text(mark)}})
    else:
        _run(statements["again" if again else "insert"], mine)
        _audit(statements, actor=actor, action="mark.validate", passage_id=passage_id,
               session_id=row.session_id, now=now, before=None,
               after={"mark": mark_text(mark), "revision": revision})
        if final:
            _run(statements["final"], {**key, "p_mark": mark, "p_now": now})
            _audit(statements, actor=actor, action="mark.final", passage_id=passage_id,
                   session_id=row.session_id, now=now, before={"mark": None},
                   after={"mark": mark_text(mark)})
    names = {m.user_id: f"{m.first_name} {m.last_name}".strip() for m in members}
    return {
        "version": version,
        "passage": {"id": passage_id, "final": final,
                    "final_mark": mark_text(mark) if final else None,
                    "revision": row.agreed_revision, "blocked": False, "absent": False},
        "validations": [{"user_id": uid, "name": names.get(uid, "?"), "revision": revision}
                        for uid in order],
    }
