"""The E6 barème: one question per line with its points, totalling the unit's
maximum mark; frozen once the lots are formed."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.e6.common import E6Error, E6Locked, is_multiple, max_mark, parse_decimal
from exam_app.e6.models import E6Lot, E6Question
from exam_app.enrolment.models import ExamSession
from exam_app.extensions import db
from exam_app.formatting import decimal_fr


def parse_bareme(text: str, *, step: Decimal) -> list[tuple[str, Decimal]]:
    """One question per line, 'label ; points'. Errors name the line."""
    lines = []
    errors = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        label, sep, points = raw.rpartition(";")
        if not sep or not label.strip():
            errors.append(f"Ligne {number} : écrivez « intitulé ; points ».")
            continue
        label = label.strip()
        if len(label) > 200:
            errors.append(f"Ligne {number} : intitulé trop long (200 caractères au plus).")
            continue
        try:
            value = parse_decimal(points, what=f"Ligne {number}")
        except E6Error as exc:
            errors.append(exc.message)
            continue
        if value <= 0:
            errors.append(f"Ligne {number} : les points doivent être positifs.")
        elif not is_multiple(value, step):
            errors.append(f"Ligne {number} : les points doivent être un multiple de "
                          f"{decimal_fr(step)} (pas de notation de la session).")
        else:
            lines.append((label, value))
    if len(lines) > 40:
        errors.append("40 questions au plus.")
    if errors:
        raise E6Error("Le barème n'est pas valide.", details=errors)
    if not lines:
        raise E6Error("Le barème est vide : saisissez au moins une question.")
    total = sum(points for _, points in lines)
    if total != max_mark():
        raise E6Error(f"Le total du barème est {decimal_fr(total)} points : il doit être de "
                      f"{decimal_fr(max_mark())} exactement.")
    return lines


def questions(session_id: int) -> list[E6Question]:
    """The session's barème questions, in order."""
    return list(db.session.scalars(
        sa.select(E6Question).where(E6Question.session_id == session_id)
        .order_by(E6Question.position)))


def lots_exist(session_id: int) -> bool:
    """Whether the session's lots are formed (which freezes the barème)."""
    return db.session.scalar(sa.select(E6Lot.id).where(E6Lot.session_id == session_id)
                             .limit(1)) is not None


def set_bareme(*, session: ExamSession, text: str, actor, now: datetime | None = None
               ) -> list[E6Question]:
    """Replace the session's barème (frozen once lots are formed)."""
    if lots_exist(session.id):
        raise E6Locked("Les lots sont formés : le barème ne peut plus être modifié.")
    lines = parse_bareme(text, step=session.mark_step)
    old = questions(session.id)
    before = [{"label": q.label, "points": q.max_points} for q in old]
    for question in old:
        db.session.delete(question)
    db.session.flush()
    new = [E6Question(session_id=session.id, position=i, label=label, max_points=points)
           for i, (label, points) in enumerate(lines, start=1)]
    db.session.add_all(new)
    db.session.flush()
    record(actor=actor, action="e6.bareme.set", object_type="exam_session", object_id=session.id,
           session_id=session.id, now=now, before={"questions": before},
           after={"questions": [{"label": q.label, "points": q.max_points} for q in new]})
    return new


def bareme_text(session_id: int) -> str:
    """The barème as the form shows it: one 'label ; points' per line."""
    return "\n".join(f"{q.label} ; {decimal_fr(q.max_points)}" for q in questions(session_id))
