"""Joint validation of the agreed grid (the mark becomes final when both jurors
validate the same revision) and the gestionnaire's reopening of a final mark.

Same contract as every service: keyword-only arguments, flush and audit,
never commit, never read ``request``; refusals raise ``JuryError``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.extensions import db
from exam_app.juries.errors import JuryError, JuryInvalid
from exam_app.juries.grids import carries_mark
from exam_app.juries.lifecycle import mark_text, require_scorable
from exam_app.juries.models import AGREED, Grid, GridField, Passage, Validation


def validate(*, passage: Passage, revision: int, actor, now: datetime | None = None) -> bool:
    """A juror validates the agreed grid as of ``revision``; True when the mark becomes final."""
    now = now or utcnow()
    if passage.is_final:
        raise JuryError("La note est déjà définitive.")
    require_scorable(passage)
    if revision != passage.agreed_revision:
        raise JuryError("La grille commune a changé depuis votre lecture : relisez-la puis "
                        "validez de nouveau.")
    mark = _agreed_mark(passage)
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


def _agreed_mark(passage: Passage) -> Decimal | None:
    """The proposed mark of the agreed grid, required where the passage carries the mark."""
    if not carries_mark(passage.unit_code, passage.variant_code):
        return None
    stored_mark = db.session.scalar(
        sa.select(GridField.value).join(Grid, Grid.id == GridField.grid_id)
        .where(Grid.passage_id == passage.id, Grid.key == AGREED, GridField.name == "mark"))
    if not stored_mark:
        raise JuryInvalid("Saisissez la note proposée dans la grille commune avant de valider.",
                          field="mark")
    return Decimal(stored_mark)


def reopen(*, passage: Passage, reason: str, actor, now: datetime | None = None) -> None:
    """The gestionnaire reopens a final mark, with a reason; audited before/after."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not passage.is_final:
        raise JuryError("Cette note n'est pas définitive : rien à rouvrir.")
    if len(reason) < 5:
        raise JuryInvalid("Indiquez le motif de la réouverture (5 caractères au moins).",
                          field="reason")
    before = {"mark": mark_text(passage.final_mark), "finalized_at": passage.finalized_at,
              "validated_by": sorted(v.user_id for v in passage.validations)}
    passage.final_mark = None
    passage.finalized_at = None
    passage.validations.clear()
    db.session.flush()
    record(actor=actor, action="mark.reopen", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now, reason=reason[:1000],
           before=before, after={"mark": None, "finalized_at": None})
