"""Jury-day operations: planning, attendance, timer, grids, joint validation.

Every function takes keyword-only arguments, flushes and audits, never commits
and never reads ``request``. Refusals raise :class:`JuryError` with a French
message the view shows as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import PARIS, utcnow
from exam_app.dossiers import validity
from exam_app.extensions import db
from exam_app.juries import timer
from exam_app.juries.models import (
    AGREED,
    Attendance,
    ClientOperation,
    Commission,
    CommissionMember,
    Grid,
    GridField,
    Passage,
    PassageSegment,
    TimerPause,
    Validation,
)
from exam_app.units import get_unit


class JuryError(Exception):
    """A refused operation; ``str(error)`` is the French message for the user."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


# ---- grid fields from the unit definition ----------------------------------


def carries_mark(unit_code: str, variant_code: str) -> bool:
    """Whether this situation's passage sets the unit's mark.

    A form with several situations (E5 CCF: A then B) gets one global mark,
    agreed at the last situation in definition order with every situation's
    grid shown (DOMAIN.md default); earlier situations record their grid only.
    """
    unit = get_unit(unit_code)
    variant = unit.variant(variant_code)
    return unit.variants_for(variant.form)[-1].code == variant.code


def earlier_situations(unit_code: str, variant_code: str) -> list[str]:
    """Codes of the situations before this one in the same form (definition order)."""
    unit = get_unit(unit_code)
    variant = unit.variant(variant_code)
    codes = [v.code for v in unit.variants_for(variant.form)]
    return codes[:codes.index(variant.code)]


def field_names(unit_code: str, variant_code: str) -> list[str]:
    """The fields of a grid, from the unit definition: levels, comments, appreciation, mark."""
    unit = get_unit(unit_code)
    wanted = unit.variant(variant_code).grid_sections
    names = []
    for section in unit.grid.sections:
        if wanted and section.code not in wanted:
            continue
        names.extend(f"c:{c.code}" for c in section.criteria)
        names.append(f"s:{section.code}")
    return [*names, "appreciation", *(["mark"] if carries_mark(unit_code, variant_code) else [])]


def plan_for(passage: Passage, seconds_per_minute: int = 60) -> list[timer.PlannedSegment]:
    return timer.plan(passage.unit_code, passage.variant_code,
                      extra_time=passage.candidate.extra_time_fraction,
                      seconds_per_minute=seconds_per_minute)


# ---- the examinateur's side --------------------------------------------------


def is_member(passage_or_commission_id: int, user_id: int) -> bool:
    return db.session.scalar(sa.select(CommissionMember.id).where(
        CommissionMember.commission_id == passage_or_commission_id,
        CommissionMember.user_id == user_id)) is not None


def is_nv(passage: Passage) -> bool:
    return validity.unit_validity(candidate_id=passage.candidate_id,
                                  unit_code=passage.unit_code) == validity.UnitValidity.NV


def status(passage: Passage, *, nv: bool) -> str:
    """à venir, en cours, terminé, absent or NV."""
    if nv:
        return "nv"
    if passage.is_absent:
        return "absent"
    if passage.is_final or passage.ended_at is not None:
        return "finished"
    if passage.started_at is not None:
        return "running"
    return "upcoming"


STATUS_LABELS = {"upcoming": "À venir", "running": "En cours", "finished": "Terminé",
                 "absent": "Absent", "nv": "NV"}


def result_label(passage: Passage, *, nv: bool) -> str | None:
    """What the bordereau shows: NV, ABS, the final mark, or None while pending."""
    if nv:
        return "NV"
    if passage.is_absent:
        return "ABS"
    if passage.final_mark is not None:
        return mark_text(passage.final_mark)
    return None


def unit_results(*, session_id: int, unit_code: str) -> dict[int, str]:
    """Each candidate's result for a unit, as printed: 'NV', 'ABS' or the final mark ('14,5').

    Candidates still pending are left out. NV comes from the dossier validity
    and wins over everything; absence from any situation of the unit gives
    ABS; otherwise the mark of the passage that carries the unit's mark, once
    both jurors have validated it.
    """
    from exam_app.formatting import decimal_fr

    nv = validity.nv_candidate_ids(session_id=session_id, unit_code=unit_code)
    results = dict.fromkeys(nv, "NV")
    rows = db.session.execute(
        sa.select(Passage.candidate_id, Passage.variant_code, Passage.attendance,
                  Passage.final_mark, Passage.finalized_at)
        .join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session_id, Passage.unit_code == unit_code)
    ).all()
    for candidate_id, _, attendance, _, _ in rows:
        if candidate_id not in nv and attendance == Attendance.ABSENT.value:
            results[candidate_id] = "ABS"
    for candidate_id, variant_code, _, mark, finalized_at in rows:
        if candidate_id in results or finalized_at is None or mark is None:
            continue
        if carries_mark(unit_code, variant_code):
            results[candidate_id] = decimal_fr(mark)
    return results


def mark_text(mark: Decimal | None) -> str | None:
    """'14.5', '15': a mark without trailing zeros (the database gives 15.00)."""
    if mark is None:
        return None
    return str(mark.normalize()) if mark % 1 else str(int(mark))


def interview_blocked(passage: Passage) -> bool:
    """NV, and the session keeps NV candidates from being interviewed (the default).

    When the session allows it, an NV candidate is interviewed and scored, and
    the result still reads NV.
    """
    return passage.commission.session.nv_excludes_interview and is_nv(passage)


def _require_scorable(passage: Passage) -> None:
    if interview_blocked(passage):
        raise JuryError("Dossier non valide (NV) : ce candidat ne peut pas être évalué.")
    if passage.is_absent:
        raise JuryError("Candidat absent (ABS) : ce passage ne peut pas être évalué.")


def set_attendance(*, passage: Passage, attendance: Attendance, actor,
                   now: datetime | None = None) -> None:
    """Mark the candidate present or absent (ABS)."""
    now = now or utcnow()
    if passage.is_final:
        raise JuryError("La note est définitive : la présence ne peut plus changer.")
    if attendance is Attendance.ABSENT and passage.started_at is not None:
        raise JuryError("Le passage a commencé : le candidat ne peut plus être déclaré absent.")
    if attendance is Attendance.PRESENT and interview_blocked(passage):
        raise JuryError("Dossier non valide (NV) : ce candidat n'est pas interrogé.")
    before = passage.attendance
    if before == attendance.value:
        return
    passage.attendance = attendance.value
    passage.attendance_at = now
    db.session.flush()
    record(actor=actor, action="passage.attendance", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now,
           before={"attendance": before}, after={"attendance": attendance.value})


def timer_state(passage: Passage, now: datetime | None = None) -> timer.TimerState:
    now = now or utcnow()
    return timer.compute(
        planned_segments(passage),
        [timer.SegmentRun(s.index, s.allowed_seconds, s.started_at, s.ended_at)
         for s in passage.segments],
        [timer.PauseRun(p.segment_index, p.started_at, p.ended_at, p.reason)
         for p in passage.pauses],
        now,
    )


def planned_segments(passage: Passage) -> list[timer.PlannedSegment]:
    from flask import current_app

    return plan_for(passage, current_app.config.get("JURY_SECONDS_PER_MINUTE", 60))


def _open_segment(passage: Passage) -> PassageSegment | None:
    return next((s for s in passage.segments if s.ended_at is None), None)


def _open_pause(passage: Passage) -> TimerPause | None:
    return next((p for p in passage.pauses if p.ended_at is None), None)


def _start_segment(passage: Passage, index: int, actor, now: datetime) -> None:
    planned = planned_segments(passage)[index]
    passage.segments.append(PassageSegment(
        index=index, phase_code=planned.phase_code, step_code=planned.step_code,
        allowed_seconds=planned.allowed_seconds, started_at=now,
        started_by_id=getattr(actor, "id", None)))


def start_passage(*, passage: Passage, actor, now: datetime | None = None) -> None:
    """Start the first phase; the candidate is then present. Idempotent."""
    now = now or utcnow()
    if passage.started_at is not None:
        return
    _require_scorable(passage)
    if passage.attendance != Attendance.PRESENT.value:
        set_attendance(passage=passage, attendance=Attendance.PRESENT, actor=actor, now=now)
    passage.started_at = now
    _start_segment(passage, 0, actor, now)
    db.session.flush()
    record(actor=actor, action="timer.start", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now)


def advance(*, passage: Passage, from_index: int, actor, now: datetime | None = None) -> None:
    """End segment ``from_index`` and start the next (or end the passage).

    Naming the segment makes a double press, or both jurors pressing at once,
    advance once only.
    """
    now = now or utcnow()
    current = _open_segment(passage)
    if current is None or current.index != from_index:
        return
    pause = _open_pause(passage)
    if pause is not None:
        pause.ended_at = now
    current.ended_at = now
    planned = planned_segments(passage)
    if from_index + 1 < len(planned):
        _start_segment(passage, from_index + 1, actor, now)
    else:
        passage.ended_at = now
    db.session.flush()
    record(actor=actor, action="timer.advance", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now,
           after={"ended": f"{current.phase_code}/{current.step_code}",
                  "seconds": round((now - current.started_at).total_seconds())})


def pause(*, passage: Passage, reason: str, actor, now: datetime | None = None) -> None:
    """Pause the timer for an incident; the reason is required and recorded."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise JuryError("Indiquez le motif de la pause (par exemple : panne de matériel).", 400)
    if len(reason) > 300:
        raise JuryError("Le motif de la pause ne doit pas dépasser 300 caractères.", 400)
    current = _open_segment(passage)
    if current is None:
        raise JuryError("Le minuteur ne tourne pas : rien à mettre en pause.")
    if _open_pause(passage) is not None:
        return
    passage.pauses.append(TimerPause(segment_index=current.index, reason=reason, started_at=now,
                                     by_id=getattr(actor, "id", None)))
    db.session.flush()
    record(actor=actor, action="timer.pause", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now, reason=reason)


def resume(*, passage: Passage, actor, now: datetime | None = None) -> None:
    """End the open incident pause."""
    now = now or utcnow()
    open_pause = _open_pause(passage)
    if open_pause is None:
        return
    open_pause.ended_at = now
    db.session.flush()
    record(actor=actor, action="timer.resume", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now,
           after={"paused_seconds": round((now - open_pause.started_at).total_seconds())})


# ---- grids -------------------------------------------------------------------


def grid_key_for(user_id: int) -> str:
    return f"juror:{user_id}"


def clean_value(*, name: str, value, unit_code: str, mark_step: Decimal) -> str:
    """The stored text of a field value, or JuryError(400) with the reason."""
    if not isinstance(value, str):
        raise JuryError("Valeur invalide : texte attendu.", 400)
    value = value.strip() if name.startswith("c:") or name == "mark" else value
    if name.startswith("c:"):
        if value and value not in get_unit(unit_code).grid.level_codes():
            raise JuryError(f"Niveau inconnu : {value[:10]!r}.", 400)
        return value
    if name == "mark":
        return clean_mark(value, mark_step) if value else ""
    limit = 4000 if name == "appreciation" else 2000
    if len(value) > limit:
        raise JuryError(f"Texte trop long ({len(value)} caractères, {limit} au plus).", 400)
    return value


def clean_mark(value: str, step: Decimal) -> str:
    try:
        mark = Decimal(value.replace(",", "."))
    except InvalidOperation:
        raise JuryError(f"Note invalide : « {value[:10]} » n'est pas un nombre.", 400) from None
    if not mark.is_finite() or mark < 0 or mark > 20:
        raise JuryError("La note doit être comprise entre 0 et 20.", 400)
    if mark % step != 0:
        raise JuryError(f"La note doit être un multiple de {str(step.normalize()).replace('.', ',')}.",
                        400)
    return str(mark.normalize()) if mark % 1 else str(int(mark))


class _HotStatements:
    """The autosave path's statements, built once with bind parameters and run on the
    session's connection: building SQL expressions and the ORM bulk layer cost more
    than the queries themselves on this path."""

    def __init__(self) -> None:
        from exam_app.dossiers.models import DepositDeadline, Dossier
        from exam_app.enrolment.models import Candidate, ExamSession

        p, c, m, g = (Passage.__table__, Commission.__table__, CommissionMember.__table__,
                      Grid.__table__)
        f, v, o = GridField.__table__, Validation.__table__, ClientOperation.__table__
        s, d, dl = ExamSession.__table__, Dossier.__table__, DepositDeadline.__table__
        k = Candidate.__table__
        self.context = (
            sa.select(p.c.id, c.c.session_id, p.c.candidate_id, p.c.unit_code, p.c.attendance,
                      p.c.finalized_at, s.c.mark_step, g.c.id, g.c.revealed_at,
                      sa.exists().where(v.c.passage_id == p.c.id), s.c.nv_excludes_interview,
                      d.c.decision, d.c.extended_until, dl.c.deadline_at)
            .select_from(p.join(c, c.c.id == p.c.commission_id)
                         .join(s, s.c.id == c.c.session_id)
                         .join(m, m.c.commission_id == p.c.commission_id)
                         .outerjoin(g, sa.and_(g.c.passage_id == p.c.id,
                                               g.c.key == sa.bindparam("grid_key")))
                         .outerjoin(d, sa.and_(d.c.candidate_id == p.c.candidate_id,
                                               d.c.unit_code == p.c.unit_code))
                         .join(k, k.c.id == p.c.candidate_id)
                         # The deadline of the candidate's session, as unit_validity reads it.
                         .outerjoin(dl, sa.and_(dl.c.session_id == k.c.session_id,
                                                dl.c.unit_code == p.c.unit_code)))
            .where(p.c.id == sa.bindparam("passage_id"), m.c.user_id == sa.bindparam("user_id")))
        self.field = sa.select(f.c.value, f.c.version, f.c.updated_by_id).where(
            f.c.grid_id == sa.bindparam("in_grid"), f.c.name == sa.bindparam("field_name"))
        self.cas = (
            f.update()
            .where(f.c.grid_id == sa.bindparam("in_grid"), f.c.name == sa.bindparam("field_name"),
                   f.c.version == sa.bindparam("base"))
            .values(value=sa.bindparam("new_value"), version=f.c.version + 1,
                    updated_at=sa.bindparam("now"), updated_by_id=sa.bindparam("by_user"))
            .returning(f.c.version))
        self.bump = (p.update().where(p.c.id == sa.bindparam("in_passage"))
                     .values(agreed_revision=p.c.agreed_revision + 1)
                     .returning(p.c.agreed_revision))
        self.insert_op = o.insert()
        self.fused_pg = self._fused_pg(p, f, o)
        self.replays = sa.select(o.c.op_id, o.c.result).where(
            o.c.op_id.in_(sa.bindparam("op_ids", expanding=True)))


    @staticmethod
    def _fused_pg(p, f, o):
        """PostgreSQL only: one op's compare-and-set, the agreed revision bump and the
        op's record in one statement (data-modifying CTEs), i.e. one round trip
        instead of three. Returns (new version or NULL, new revision or NULL, rows
        stored); on a conflict nothing is written and the caller goes the long way."""
        cas = (f.update()
               .where(f.c.grid_id == sa.bindparam("in_grid"),
                      f.c.name == sa.bindparam("field_name"),
                      f.c.version == sa.bindparam("base"))
               .values(value=sa.bindparam("new_value"), version=f.c.version + 1,
                       updated_at=sa.bindparam("now"), updated_by_id=sa.bindparam("by_user"))
               .returning(f.c.version).cte("cas"))
        bump = (p.update()
                .where(p.c.id == sa.bindparam("in_passage"),
                       sa.bindparam("is_agreed", type_=sa.Boolean),
                       sa.exists(sa.select(cas.c.version)))
                .values(agreed_revision=p.c.agreed_revision + 1)
                .returning(p.c.agreed_revision).cte("bump"))
        text = sa.Text()
        result = sa.func.json_build_object(
            "op", sa.cast(sa.bindparam("op_id"), text),
            "field", sa.cast(sa.bindparam("field_name"), text), "status", "ok",
            "version", cas.c.version, "value", sa.cast(sa.bindparam("new_value"), text),
            type_=o.c.result.type)
        stored = (o.insert()
                  .from_select(["op_id", "user_id", "passage_id", "result", "created_at"],
                               sa.select(sa.cast(sa.bindparam("op_id"), o.c.op_id.type),
                                         sa.cast(sa.bindparam("by_user"), o.c.user_id.type),
                                         sa.cast(sa.bindparam("in_passage"),
                                                 o.c.passage_id.type),
                                         result,
                                         sa.bindparam("now", type_=o.c.created_at.type))
                               .select_from(cas))
                  .returning(o.c.id).cte("stored"))
        return sa.select(sa.select(cas.c.version).scalar_subquery(),
                         sa.select(bump.c.agreed_revision).scalar_subquery(),
                         sa.select(sa.func.count()).select_from(stored).scalar_subquery())


_hot: _HotStatements | None = None


def _statements() -> _HotStatements:
    global _hot
    if _hot is None:
        _hot = _HotStatements()
    return _hot


@dataclass
class SaveContext:
    """What an autosave needs about a passage, read in one query."""

    passage_id: int
    session_id: int
    candidate_id: int
    unit_code: str
    attendance: str
    finalized: bool
    mark_step: Decimal
    grid_key: str
    grid_id: int | None
    grid_revealed: bool
    has_validations: bool
    nv_excludes_interview: bool
    # The dossier row's decision and extension, and the session's deposit deadline:
    # enough to settle the unit's validity without loading files in the usual cases.
    dossier_decision: str | None = None
    dossier_extended_until: datetime | None = None
    deposit_deadline: datetime | None = None
    # The agreed grid's revision after a save that changed it.
    revision: int | None = None


def save_context(*, passage_id: int, user_id: int, grid_key: str = AGREED) -> SaveContext | None:
    """The passage and grid, if ``user_id`` sits on its commission, in one query.

    The autosave path is hot (every debounced keystroke of two jurors per
    room), so it reads everything it checks at once.
    """
    row = db.session.connection().execute(
        _statements().context, {"passage_id": passage_id, "user_id": user_id,
                                "grid_key": grid_key}).first()
    if row is None:
        return None
    return SaveContext(row[0], row[1], row[2], row[3], row[4], row[5] is not None, row[6],
                       grid_key, row[7], row[8] is not None, bool(row[9]), bool(row[10]),
                       row[11], row[12], row[13])


def _context_is_nv(context: SaveContext, now: datetime) -> bool:
    """Whether the passage's unit is NV: from the context's columns when they settle
    it (decided conforme, or deadline not passed), else the full dossier check."""
    settled = validity.settled_without_files(
        decision=context.dossier_decision, extended_until=context.dossier_extended_until,
        session_deadline=context.deposit_deadline, now=now)
    if settled is not None:
        return settled == validity.UnitValidity.NV
    return validity.unit_validity(candidate_id=context.candidate_id, unit_code=context.unit_code,
                                  now=now) == validity.UnitValidity.NV


def save_fields(*, context: SaveContext, ops: list[dict], actor, now: datetime | None = None,
                check_replays: bool = True) -> list[dict]:
    """Apply autosave operations with compare-and-set per field; replays answer as before.

    Each op is ``{"op": id, "field": name, "value": text, "base": version}``.
    A stale ``base`` is a conflict, reported with the current value; it never
    overwrites. Returns one result per op. With ``check_replays=False`` the
    caller expects new operations: a replayed id then fails on the unique
    ``op_id`` at flush (IntegrityError), and the caller retries with the check.
    """
    now = now or utcnow()
    grid_key = context.grid_key
    op_ids = [str(op.get("op", "")) for op in ops]
    if any(not op_id or len(op_id) > 64 for op_id in op_ids) or len(set(op_ids)) != len(op_ids):
        raise JuryError("Chaque modification doit porter un identifiant unique "
                        "(64 caractères au plus).", 400)
    hot = _statements()
    connection = db.session.connection()
    done = dict(connection.execute(hot.replays, {"op_ids": op_ids}).all()) \
        if check_replays else {}
    pending = [op for op, op_id in zip(ops, op_ids, strict=True) if op_id not in done]
    if pending:
        if context.finalized and grid_key == AGREED:
            raise JuryError("La note est définitive et verrouillée : seule la division des "
                            "examens peut la rouvrir.")
        if context.attendance == Attendance.ABSENT.value:
            raise JuryError("Candidat absent (ABS) : ce passage ne peut pas être évalué.")
        if context.nv_excludes_interview and _context_is_nv(context, now):
            raise JuryError("Dossier non valide (NV) : ce candidat ne peut pas être évalué.")
    if context.grid_id is None:
        raise JuryError("Grille introuvable pour ce passage.", 404)
    if pending and context.grid_revealed and grid_key != AGREED:
        raise JuryError("Votre grille individuelle est dévoilée : elle ne change plus. "
                        "Continuez dans la grille commune.")
    grid_id = context.grid_id
    results: dict[str, dict] = {}
    stored_ops = []
    changed_agreed = False
    mark_changes = []
    user_id = getattr(actor, "id", None)
    # The usual autosave (one field) on PostgreSQL: one statement does it all.
    fused = len(pending) == 1 and connection.dialect.name == "postgresql"
    bumped = False
    for op, op_id in zip(ops, op_ids, strict=True):
        if op_id in done:
            results[op_id] = {**done[op_id], "replayed": True}
            continue
        name = str(op.get("field", ""))
        base = op.get("base")
        if not isinstance(base, int) or isinstance(base, bool):
            raise JuryError("Version de base manquante ou invalide.", 400)
        value = clean_value(name=name, value=op.get("value"), unit_code=context.unit_code,
                            mark_step=context.mark_step)
        where = {"in_grid": grid_id, "field_name": name}
        previous = connection.execute(hot.field, where).first() \
            if name == "mark" and grid_key == AGREED else None
        params = {**where, "base": base, "new_value": value, "now": now, "by_user": user_id}
        stored = False
        if fused:
            new_version, revision, stored_rows = connection.execute(hot.fused_pg, {
                **params, "op_id": op_id, "in_passage": context.passage_id,
                "is_agreed": grid_key == AGREED}).one()
            stored = bool(stored_rows)
            if revision is not None:
                context.revision, bumped = revision, True
        else:
            new_version = connection.execute(hot.cas, params).scalar()
        if new_version is not None:
            result = {"op": op_id, "field": name, "status": "ok", "version": new_version,
                      "value": value}
            if grid_key == AGREED:
                changed_agreed = True
                if name == "mark" and previous is not None and previous[0] != value:
                    mark_changes.append((previous[0], value))
        else:
            current = connection.execute(hot.field, where).first()
            if current is None:
                raise JuryError(f"Champ inconnu dans la grille : {name[:40]!r}.", 400)
            if current[0] == value:  # the same edit from both sides: no conflict
                result = {"op": op_id, "field": name, "status": "ok", "version": current[1],
                          "value": value}
            else:
                result = {"op": op_id, "field": name, "status": "conflict", "version": current[1],
                          "value": current[0], "by": current[2]}
        results[op_id] = result
        if stored:
            continue
        stored_ops.append({"op_id": op_id, "user_id": user_id, "passage_id": context.passage_id,
                           "result": result, "created_at": now})
    if stored_ops:
        connection.execute(hot.insert_op, stored_ops)
    if changed_agreed:
        _agreed_changed(context=context, actor=actor, now=now, bumped=bumped)
    for before, after in mark_changes:
        record(actor=actor, action="mark.change", object_type="passage",
               object_id=context.passage_id, session_id=context.session_id, now=now,
               before={"mark": before}, after={"mark": after})
    return [results[op_id] for op_id in op_ids]


def _agreed_changed(*, context: SaveContext, actor, now: datetime, bumped: bool = False) -> None:
    """Bump the agreed revision (unless the save already did); any validation given
    earlier no longer holds."""
    if not bumped:
        context.revision = db.session.connection().execute(
            _statements().bump, {"in_passage": context.passage_id}).scalar()
    if not context.has_validations:
        return
    cleared = db.session.execute(
        sa.delete(Validation).where(Validation.passage_id == context.passage_id)
        .returning(Validation.user_id, Validation.mark)
        .execution_options(synchronize_session=False)).all()
    context.has_validations = False
    if cleared:
        record(actor=actor, action="validation.cleared", object_type="passage",
               object_id=context.passage_id, session_id=context.session_id, now=now,
               before={"validated_by": [row[0] for row in cleared],
                       "mark": mark_text(cleared[0][1])},
               reason="grille commune modifiée après validation")


def reveal(*, passage: Passage, actor, now: datetime | None = None) -> None:
    """Reveal one's independent grid; the other's shows once both have."""
    now = now or utcnow()
    grid = db.session.scalar(sa.select(Grid).where(Grid.passage_id == passage.id,
                                                   Grid.key == grid_key_for(actor.id)))
    if grid is None:
        raise JuryError("Vous n'avez pas de grille individuelle pour ce passage.", 404)
    if grid.revealed_at is None:
        grid.revealed_at = now
        db.session.flush()
        record(actor=actor, action="grid.reveal", object_type="passage", object_id=passage.id,
               session_id=passage.commission.session_id, now=now)


def grids_view(passage: Passage, user_id: int) -> dict:
    """The grids a juror may see: the agreed one, their own, the other's once both revealed."""
    grids = list(db.session.scalars(sa.select(Grid).where(Grid.passage_id == passage.id)))
    own = next((g for g in grids if g.key == grid_key_for(user_id)), None)
    others = [g for g in grids if g.key not in (AGREED, grid_key_for(user_id))]
    both_revealed = own is not None and own.revealed_at is not None and bool(others) and all(
        g.revealed_at is not None for g in others)

    def fields(grid):
        return {f.name: {"value": f.value, "version": f.version} for f in grid.fields}

    agreed = next(g for g in grids if g.key == AGREED)
    return {
        "agreed": fields(agreed),
        "own": fields(own) if own else None,
        "own_revealed": own is not None and own.revealed_at is not None,
        "other": fields(others[0]) if both_revealed else None,
        "other_revealed": bool(others) and others[0].revealed_at is not None,
    }


def validate(*, passage: Passage, revision: int, actor, now: datetime | None = None) -> bool:
    """A juror validates the agreed grid as of ``revision``; True when the mark becomes final."""
    now = now or utcnow()
    if passage.is_final:
        raise JuryError("La note est déjà définitive.")
    _require_scorable(passage)
    if revision != passage.agreed_revision:
        raise JuryError("La grille commune a changé depuis votre lecture : relisez-la puis "
                        "validez de nouveau.")
    mark = None
    if carries_mark(passage.unit_code, passage.variant_code):
        stored_mark = db.session.scalar(
            sa.select(GridField.value).join(Grid, Grid.id == GridField.grid_id)
            .where(Grid.passage_id == passage.id, Grid.key == AGREED, GridField.name == "mark"))
        if not stored_mark:
            raise JuryError("Saisissez la note proposée dans la grille commune avant de valider.",
                            400)
        mark = Decimal(stored_mark)
    existing = next((v for v in passage.validations if v.user_id == actor.id), None)
    if existing is None:
        passage.validations.append(Validation(user_id=actor.id, revision=revision, mark=mark,
                                              validated_at=now))
    else:
        existing.revision, existing.mark, existing.validated_at = revision, mark, now
    db.session.flush()
    record(actor=actor, action="mark.validate", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now,
           after={"mark": mark_text(mark), "revision": revision})
    members = {m.user_id for m in passage.commission.members}
    validated = {v.user_id for v in passage.validations if v.revision == revision}
    if members and members <= validated:
        passage.final_mark = mark
        passage.finalized_at = now
        db.session.flush()
        record(actor=actor, action="mark.final", object_type="passage", object_id=passage.id,
               session_id=passage.commission.session_id, now=now,
               before={"mark": None}, after={"mark": mark_text(mark)})
        return True
    return False


def reopen(*, passage: Passage, reason: str, actor, now: datetime | None = None) -> None:
    """The gestionnaire reopens a final mark, with a reason; audited before/after."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not passage.is_final:
        raise JuryError("Cette note n'est pas définitive : rien à rouvrir.")
    if len(reason) < 5:
        raise JuryError("Indiquez le motif de la réouverture (5 caractères au moins).", 400)
    before = {"mark": mark_text(passage.final_mark), "finalized_at": passage.finalized_at,
              "validated_by": sorted(v.user_id for v in passage.validations)}
    passage.final_mark = None
    passage.finalized_at = None
    passage.validations.clear()
    db.session.flush()
    record(actor=actor, action="mark.reopen", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now, reason=reason[:1000],
           before=before, after={"mark": None, "finalized_at": None})


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """UTC bounds of a Europe/Paris day."""
    start = datetime.combine(day, time(0, 0), PARIS)
    return start, start + timedelta(days=1)


def extra_label(fraction: Fraction) -> str:
    return "" if not fraction else f"+{fraction.numerator}/{fraction.denominator}"
