"""The gestionnaire's exception to the conformity rule: a passage may start
although the candidate's dossier has no conformity decision, when the exam
office authorises it with a reason (audited, printed on the fiche).

Same contract as every service: keyword-only arguments, flush and audit,
never commit, never read ``request``.
"""

from __future__ import annotations

from datetime import datetime

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.dossiers import validity
from exam_app.extensions import db
from exam_app.juries.errors import JuryError, JuryInvalid
from exam_app.juries.models import Passage


def needs_exception(passage: Passage) -> bool:
    """Whether the passage cannot start until the conformity is decided or an exception granted."""
    return (passage.started_at is None and passage.start_exception_at is None
            and not validity.conformity_decided(candidate_id=passage.candidate_id,
                                                unit_code=passage.unit_code))


def grant_start_exception(*, passage: Passage, reason: str, actor,
                          now: datetime | None = None) -> Passage:
    """Authorise the passage to start without a conformity decision, with a reason (audited)."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise JuryInvalid("Indiquez le motif de la dérogation.", field="reason")
    if len(reason) > 1000:
        raise JuryInvalid("Le motif ne doit pas dépasser 1000 caractères.", field="reason")
    if passage.started_at is not None:
        raise JuryError("Le passage a déjà commencé : une dérogation n'a plus d'objet.")
    if validity.conformity_decided(candidate_id=passage.candidate_id,
                                   unit_code=passage.unit_code):
        raise JuryError("La conformité du dossier est déjà décidée : aucune dérogation n'est "
                        "nécessaire pour commencer ce passage.")
    before = None
    if passage.start_exception_at is not None:
        before = {"reason": passage.start_exception_reason,
                  "by": passage.start_exception_by_id, "at": passage.start_exception_at}
    passage.start_exception_reason = reason
    passage.start_exception_at = now
    passage.start_exception_by_id = getattr(actor, "id", None)
    db.session.flush()
    record(actor=actor, action="passage.start_exception", object_type="passage",
           object_id=passage.id, session_id=passage.commission.session_id, now=now,
           before=before, after={"unit": passage.unit_code, "candidate": passage.candidate_id,
                                 "reason": reason}, reason=reason)
    return passage
