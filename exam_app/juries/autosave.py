"""Autosave of grid fields: per-field compare-and-set, idempotent operation ids.

The database work goes through a field store (``autosave_reference``): the
fast one (``autosave_fast.FastStore``) unless ``JURY_AUTOSAVE_STORE`` is ``reference``,
then the plain ``ReferenceStore``. Same contract as every service:
keyword-only arguments, flush and audit, never commit, never read ``request``;
refusals raise ``JuryError``.

A final mark locks every grid of its passage (agreed and private). The context's
check answers the usual case; a save racing the validation that finalises the
mark is refused by the stores' conditional statements (``finalized_at IS NULL``
in the compare-and-set, and in the revision bump, which PostgreSQL re-checks
under the passage row's lock): nothing of it is kept.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.dossiers import validity
from exam_app.extensions import db
from exam_app.juries.autosave_fast import FastStore
from exam_app.juries.autosave_reference import FieldStore, FieldWrite, ReferenceStore
from exam_app.juries.errors import JuryError, JuryInvalid, JuryNotFound
from exam_app.juries.grids import clean_value
from exam_app.juries.lifecycle import mark_text
from exam_app.juries.models import (
    AGREED,
    Attendance,
    Commission,
    CommissionMember,
    Grid,
    Passage,
    Validation,
)


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
    # The passage's live version after a save whose only change to the passage's state
    # is its fields and the revision (no validation cleared): the saving page then holds
    # that version's state and need not read it again (``jury-passage.js``).
    live_version: int | None = None
    # Who saves, when the query also checked the login (``save_context_for_login``).
    actor: Actor | None = None


@dataclass(frozen=True)
class Actor:
    """The juror of a save as the audit records them (``audit.services.record`` reads
    ``id`` and ``display_name``), read with the context instead of a loaded User."""

    id: int
    display_name: str


@functools.cache
def _context_query(*, login: bool = False) -> sa.Select:
    """The context's one query, built once with bind parameters (labelled columns).

    ``login``: the juror is also the login of the session cookie (user id and
    session token, as Flask-Login's loader checks them) and holds the examinateur
    role (as ``roles_required``), and the query returns their name for the audit."""
    from exam_app.accounts.models import Role, User
    from exam_app.dossiers.models import DepositDeadline, Dossier
    from exam_app.enrolment.models import Candidate, ExamSession
    from exam_app.permissions import login_matches

    query = (
        sa.select(
            Passage.id.label("passage_id"), Commission.session_id.label("session_id"),
            Passage.candidate_id.label("candidate_id"), Passage.unit_code.label("unit_code"),
            Passage.attendance.label("attendance"), Passage.finalized_at.label("finalized_at"),
            ExamSession.mark_step.label("mark_step"), Grid.id.label("grid_id"),
            Grid.revealed_at.label("grid_revealed_at"),
            sa.exists().where(Validation.passage_id == Passage.id).label("has_validations"),
            ExamSession.nv_excludes_interview.label("nv_excludes_interview"),
            Dossier.decision.label("dossier_decision"),
            Dossier.extended_until.label("dossier_extended_until"),
            DepositDeadline.deadline_at.label("deposit_deadline"))
        .select_from(Passage)
        .join(Commission, Commission.id == Passage.commission_id)
        .join(ExamSession, ExamSession.id == Commission.session_id)
        .join(CommissionMember, CommissionMember.commission_id == Passage.commission_id)
        .outerjoin(Grid, sa.and_(Grid.passage_id == Passage.id,
                                 Grid.key == sa.bindparam("grid_key")))
        .outerjoin(Dossier, sa.and_(Dossier.candidate_id == Passage.candidate_id,
                                    Dossier.unit_code == Passage.unit_code))
        .join(Candidate, Candidate.id == Passage.candidate_id)
        # The deadline of the candidate's session, as unit_validity reads it.
        .outerjoin(DepositDeadline, sa.and_(DepositDeadline.session_id == Candidate.session_id,
                                            DepositDeadline.unit_code == Passage.unit_code))
        .where(Passage.id == sa.bindparam("passage_id"),
               CommissionMember.user_id == sa.bindparam("user_id")))
    if login:
        query = (query.add_columns(User.first_name.label("actor_first_name"),
                                   User.last_name.label("actor_last_name"))
                 .join(User, login_matches(CommissionMember.user_id, sa.bindparam("token"),
                                           Role.EXAMINATEUR)))
    return query


def save_context(*, passage_id: int, user_id: int, grid_key: str = AGREED) -> SaveContext | None:
    """The passage and grid, if ``user_id`` sits on its commission, in one query.

    The autosave path is hot (every debounced keystroke of two jurors per
    room), so it reads everything it checks at once.
    """
    row = db.session.connection().execute(
        _context_query(), {"passage_id": passage_id, "user_id": user_id,
                           "grid_key": grid_key}).first()
    return None if row is None else context_from(row._mapping, grid_key)


def save_context_for_login(*, passage_id: int, user_id: int, token: str,
                           grid_key: str) -> SaveContext | None:
    """``save_context`` for the login of a session cookie (``accounts.session_login``),
    checked in the same query: ``user_id``'s session token is ``token`` and they hold
    the examinateur role. None when any check fails (the caller then goes the
    ordinary way, through Flask-Login, for the usual refusal). The context's
    ``actor`` is the juror."""
    row = db.session.connection().execute(
        _context_query(login=True), {"passage_id": passage_id, "user_id": user_id,
                                     "token": token, "grid_key": grid_key}).first()
    if row is None:
        return None
    context = context_from(row._mapping, grid_key)
    context.actor = Actor(id=user_id, display_name=f"{row.actor_first_name} "
                                                   f"{row.actor_last_name}".strip())
    return context


def context_from(columns: Mapping[str, Any], grid_key: str) -> SaveContext:
    """The context from a row of ``_context_query`` (its columns by label)."""
    return SaveContext(
        passage_id=columns["passage_id"], session_id=columns["session_id"],
        candidate_id=columns["candidate_id"], unit_code=columns["unit_code"],
        attendance=columns["attendance"], finalized=columns["finalized_at"] is not None,
        mark_step=columns["mark_step"], grid_key=grid_key, grid_id=columns["grid_id"],
        grid_revealed=columns["grid_revealed_at"] is not None,
        has_validations=bool(columns["has_validations"]),
        nv_excludes_interview=bool(columns["nv_excludes_interview"]),
        dossier_decision=columns["dossier_decision"],
        dossier_extended_until=columns["dossier_extended_until"],
        deposit_deadline=columns["deposit_deadline"])


def field_store() -> FieldStore:
    """The configured store: fast by default (``JURY_AUTOSAVE_STORE``), else the reference."""
    if current_app.config.get("JURY_AUTOSAVE_STORE", "fast") != "reference":
        return FastStore(db.session.connection())
    return ReferenceStore()


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


def _op_ids(ops: list[dict]) -> list[str]:
    """Each op's id, refused unless all are present, unique and at most 64 characters."""
    op_ids = [str(op.get("op", "")) for op in ops]
    if any(not op_id or len(op_id) > 64 for op_id in op_ids) or len(set(op_ids)) != len(op_ids):
        raise JuryInvalid("Chaque modification doit porter un identifiant unique "
                          "(64 caractères au plus).")
    return op_ids


FINAL_AGREED = ("La note est définitive et verrouillée : seule la division des examens peut "
                "la rouvrir.")
FINAL_PRIVATE = ("La note est définitive : votre grille individuelle est verrouillée avec elle.")


def _refuse_final(context: SaveContext) -> JuryError:
    """The refusal of a write to a final passage's grid (agreed or private); a CCF passage
    whose establishment transmitted its marks says so (read only when refusing)."""
    from exam_app.juries.ccf import TRANSMITTED, require_open
    from exam_app.juries.models import Commission

    commission = db.session.scalar(sa.select(Commission).join(
        Passage, Passage.commission_id == Commission.id).where(Passage.id == context.passage_id))
    try:
        require_open(commission)
    except JuryError:
        return JuryError(TRANSMITTED, code="transmitted")
    return JuryError(FINAL_AGREED if context.grid_key == AGREED else FINAL_PRIVATE)


def _passage_final(passage_id: int) -> bool:
    """Whether the passage is final now (after a compare-and-set that wrote nothing)."""
    return db.session.connection().execute(
        sa.select(Passage.finalized_at).where(Passage.id == passage_id)).scalar() is not None


def _check_writable(context: SaveContext, *, pending: bool, now: datetime) -> None:
    """Refuse new writes to a final, absent, NV-blocked or revealed grid (replays pass)."""
    agreed = context.grid_key == AGREED
    if pending:
        if context.finalized:
            raise _refuse_final(context)
        if context.attendance == Attendance.ABSENT.value:
            raise JuryError("Candidat absent (ABS) : ce passage ne peut pas être évalué.")
        if context.nv_excludes_interview and _context_is_nv(context, now):
            raise JuryError("Dossier non valide (NV) : ce candidat ne peut pas être évalué.")
    if context.grid_id is None:
        raise JuryNotFound("Grille introuvable pour ce passage.")
    if pending and context.grid_revealed and not agreed:
        raise JuryError("Votre grille individuelle est dévoilée : elle ne change plus. "
                        "Continuez dans la grille commune.")


@dataclass
class _Save:
    """One call of ``save_fields``: the store, and what its ops accumulate."""

    context: SaveContext
    store: FieldStore
    now: datetime
    user_id: int | None
    alone: bool  # a single new op: the store may fuse its record and revision bump
    unrecorded: list[dict] = field(default_factory=list)
    changed_agreed: bool = False
    bumped: bool = False
    mark_changes: list[tuple[str, str]] = field(default_factory=list)

    def apply(self, op: dict, op_id: str) -> dict:
        """Compare-and-set one field; the op's result (ok, or conflict with the stored value)."""
        context, name, base = self.context, str(op.get("field", "")), op.get("base")
        if not isinstance(base, int) or isinstance(base, bool):
            raise JuryInvalid("Version de base manquante ou invalide.", field=name)
        value = clean_value(name=name, value=op.get("value"), unit_code=context.unit_code,
                            mark_step=context.mark_step)
        agreed = context.grid_key == AGREED
        previous = self.store.current(grid_id=context.grid_id, name=name) \
            if name == "mark" and agreed else None
        written = self.store.write(FieldWrite(
            op_id=op_id, passage_id=context.passage_id, grid_id=context.grid_id, name=name,
            base=base, value=value, now=self.now, user_id=self.user_id, agreed=agreed,
            alone=self.alone))
        if written.final:
            raise _refuse_final(context)
        if written.revision is not None:
            context.revision, self.bumped = written.revision, True
        if written.version is not None:
            result = {"op": op_id, "field": name, "status": "ok", "version": written.version,
                      "value": value}
            if agreed:
                self.changed_agreed = True
                if name == "mark" and previous is not None and previous.value != value:
                    self.mark_changes.append((previous.value, value))
        else:
            result = self._not_written(op_id, name, value)
        if not written.recorded:
            self.unrecorded.append({"op_id": op_id, "user_id": self.user_id,
                                    "passage_id": context.passage_id, "result": result,
                                    "created_at": self.now})
        return result

    def _not_written(self, op_id: str, name: str, value: str) -> dict:
        """A stale base: ok when the field already holds the value, else a conflict
        (refused when the compare-and-set found the passage final)."""
        if _passage_final(self.context.passage_id):
            raise _refuse_final(self.context)
        current = self.store.current(grid_id=self.context.grid_id, name=name)
        if current is None:
            raise JuryInvalid(f"Champ inconnu dans la grille : {name[:40]!r}.", field=name)
        if current.value == value:  # the same edit from both sides: no conflict
            return {"op": op_id, "field": name, "status": "ok", "version": current.version,
                    "value": value}
        # "sent": the op's own value, so that a replay of its id can be compared.
        return {"op": op_id, "field": name, "status": "conflict", "version": current.version,
                "value": current.value, "by": current.updated_by_id, "sent": value}

    def finish(self, actor) -> None:
        """Record the ops, bump the agreed revision and audit mark changes."""
        if self.unrecorded:
            self.store.record_ops(self.unrecorded)
        if self.changed_agreed:
            _agreed_changed(context=self.context, store=self.store, actor=actor, now=self.now,
                            bumped=self.bumped)
        for before, after in self.mark_changes:
            record(actor=actor, action="mark.change", object_type="passage",
                   object_id=self.context.passage_id, session_id=self.context.session_id,
                   now=self.now, before={"mark": before}, after={"mark": after})


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
    op_ids = _op_ids(ops)
    store = field_store()
    done = store.replays(op_ids) if check_replays else {}
    _refuse_changed_replays(context, ops, op_ids, done)
    pending = [op for op, op_id in zip(ops, op_ids, strict=True) if op_id not in done]
    _check_writable(context, pending=bool(pending), now=now)
    save = _Save(context=context, store=store, now=now, user_id=getattr(actor, "id", None),
                 alone=len(pending) == 1)
    results = {op_id: {**done[op_id], "replayed": True} if op_id in done else save.apply(op, op_id)
               for op, op_id in zip(ops, op_ids, strict=True)}
    save.finish(actor)
    return [results[op_id] for op_id in op_ids]


def _replayed_value(stored: dict) -> str | None:
    """The value an operation was stored with (None: an old conflict record, unknown)."""
    if "sent" in stored:
        return stored["sent"]
    return stored.get("value") if stored.get("status") == "ok" else None


def _refuse_changed_replays(context: SaveContext, ops: list[dict], op_ids: list[str],
                            done: dict[str, dict]) -> None:
    """An operation id stands for one value: a replay of a known id with another field
    or value is refused (409), never answered with the old result."""
    for op, op_id in zip(ops, op_ids, strict=True):
        stored = done.get(op_id)
        if stored is None:
            continue
        name, expected = str(op.get("field", "")), _replayed_value(stored)
        try:
            value = clean_value(name=name, value=op.get("value"), unit_code=context.unit_code,
                                mark_step=context.mark_step)
        except JuryInvalid:
            value = None
        if name != stored.get("field") or (expected is not None and value != expected):
            raise JuryError("Cette modification a déjà été enregistrée avec une autre valeur : "
                            "elle n'est pas rejouée. Saisissez de nouveau la valeur voulue.",
                            code="op_reused", field=name or None)


def _agreed_changed(*, context: SaveContext, store: FieldStore, actor, now: datetime,
                    bumped: bool = False) -> None:
    """Bump the agreed revision (unless the save already did); any validation given
    earlier no longer holds."""
    if not bumped:
        context.revision = store.bump_revision(passage_id=context.passage_id)
        if context.revision is None:  # finalised since the save began: nothing is kept
            raise _refuse_final(context)
    if not context.has_validations:
        # The bump's row lock is held until the commit: this is the save's own version.
        context.live_version = db.session.connection().execute(
            sa.select(Passage.live_version).where(Passage.id == context.passage_id)).scalar()
        return
    cleared = db.session.execute(
        sa.delete(Validation).where(Validation.passage_id == context.passage_id)
        .returning(Validation.user_id, Validation.mark)
        .execution_options(synchronize_session=False)).all()
    context.has_validations = False
    if cleared:
        record(actor=actor, action="validation.cleared", object_type="passage",
               object_id=context.passage_id, session_id=context.session_id, now=now,
               before={"validated_by": [row.user_id for row in cleared],
                       "mark": mark_text(cleared[0].mark)},
               reason="grille commune modifiée après validation")
