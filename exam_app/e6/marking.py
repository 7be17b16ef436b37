"""The correcteur's marking: points per question on anonymous copies, autosaved,
then the lot validated. Nothing here ever joins a copy to its candidate."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.e6.bareme import questions
from exam_app.e6.common import (
    E6Error,
    E6Locked,
    StaleCopy,
    is_multiple,
    parse_decimal,
    require_results_open,
)
from exam_app.e6.models import E6Copy, E6Lot, E6Points, E6Question
from exam_app.enrolment.models import ExamSession
from exam_app.extensions import db
from exam_app.formatting import decimal_fr


def corrector_lots(user_id: int) -> list[E6Lot]:
    """A correcteur's lots, newest first."""
    return list(db.session.scalars(
        sa.select(E6Lot).where(E6Lot.corrector_id == user_id)
        .order_by(E6Lot.created_at.desc(), E6Lot.code)))


def lot_copies(lot: E6Lot) -> list[E6Copy]:
    """The lot's copies by anonymous number (an order that says nothing about candidates)."""
    return list(db.session.scalars(
        sa.select(E6Copy).where(E6Copy.lot_id == lot.id).order_by(E6Copy.anonymous_number)))


def copy_is_complete(copy: E6Copy, question_ids: set[int]) -> bool:
    """Whether the copy has points for every question."""
    return {p.question_id for p in copy.points} >= question_ids


def _checked_points(points: dict, by_id: dict[int, E6Question], step: Decimal
                    ) -> dict[int, Decimal | None]:
    """The client's points by question id, each within the barème and the session's step
    (None clears a question); the first wrong one is refused with its field."""
    cleaned: dict[int, Decimal | None] = {}
    for key, value in points.items():
        question_id = int(key) if str(key).isdigit() else None
        question = by_id.get(question_id)
        if question is None:
            raise E6Error("Question inconnue dans le barème : rechargez la page.")
        what = f"Question « {question.label} »"
        if value is None or (isinstance(value, str) and not value.strip()):
            cleaned[question.id] = None
            continue
        number = parse_decimal(value, what=what)
        if number < 0 or number > question.max_points:
            raise E6Error(f"{what} : {decimal_fr(number)} hors barème (entre 0 et "
                          f"{decimal_fr(question.max_points)}).", field=str(question.id))
        if not is_multiple(number, step):
            raise E6Error(f"{what} : les points vont par pas de {decimal_fr(step)}.",
                          field=str(question.id))
        cleaned[question.id] = number
    return cleaned


def _apply_points(copy: E6Copy, current: dict[int, E6Points],
                  cleaned: dict[int, Decimal | None]) -> None:
    for question_id, number in cleaned.items():
        existing = current.get(question_id)
        if number is None and existing is not None:
            copy.points.remove(existing)
        elif number is not None and existing is None:
            copy.points.append(E6Points(question_id=question_id, points=number))
        elif number is not None:
            existing.points = number


def save_copy(*, copy: E6Copy, points: dict, comment: str | None, version: int, actor,
              now: datetime | None = None) -> E6Copy:
    """Save a correcteur's points for one copy (autosave): bounds checked, total computed.

    ``points`` maps question id -> value ('' or None clears it); ``version`` is the copy
    version the client started from: an older one is refused (StaleCopy)."""
    now = now or utcnow()
    require_results_open(copy.session_id)
    lot = copy.lot
    if lot is None or lot.state != "open":
        raise E6Locked("Ce lot est validé : les notes ne peuvent plus être modifiées.")
    if version != copy.version:
        raise StaleCopy("Cette copie a été modifiée entre-temps (autre onglet ?) : rechargez "
                        "la page pour voir la dernière version. Votre saisie n'a pas été "
                        "enregistrée.")
    session = db.session.get(ExamSession, copy.session_id)
    by_id = {q.id: q for q in questions(copy.session_id)}
    current = {p.question_id: p for p in copy.points}
    cleaned = _checked_points(points, by_id, session.mark_step)
    if comment is not None and len(comment) > 2000:
        raise E6Error("Le commentaire est trop long (2000 caractères au plus).", field="comment")
    before = {str(q): p.points for q, p in current.items()}
    _apply_points(copy, current, cleaned)
    after = {str(p.question_id): p.points for p in copy.points}
    comment_changed = comment is not None and comment != copy.comment
    if after == before and not comment_changed:
        return copy
    if comment_changed:
        copy.comment = comment
    complete = set(after) >= {str(q) for q in by_id}
    copy.raw_total = (sum((p.points for p in copy.points), Decimal(0)).quantize(Decimal("0.01"))
                      if complete else None)
    copy.mark = copy.raw_total
    copy.updated_at = now
    db.session.flush()
    record(actor=actor, action="e6.copy.save", object_type="e6_copy", object_id=copy.id,
           session_id=copy.session_id, now=now, before={"points": before},
           after={"points": after, "total": copy.raw_total,
                  "comment_changed": comment_changed})
    return copy


def validate_lot(*, lot: E6Lot, actor, now: datetime | None = None) -> E6Lot:
    """The correcteur validates their lot: every copy fully marked, then nothing changes."""
    now = now or utcnow()
    require_results_open(lot.session_id)
    if lot.state != "open":
        raise E6Locked("Ce lot est déjà validé.")
    question_ids = {q.id for q in questions(lot.session_id)}
    incomplete = [c.anonymous_number for c in lot_copies(lot)
                  if not copy_is_complete(c, question_ids)]
    if incomplete:
        raise E6Error("Le lot ne peut pas être validé : des copies ne sont pas entièrement "
                      "notées.", details=[f"Copie {n}" for n in incomplete])
    lot.validated_at = now
    db.session.flush()
    record(actor=actor, action="e6.lot.validate", object_type="e6_lot", object_id=lot.id,
           session_id=lot.session_id, now=now, after={"lot": lot.code})
    return lot
