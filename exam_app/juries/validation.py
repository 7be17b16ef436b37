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
from exam_app.deliberation.services import ResultsLocked, ensure_results_open
from exam_app.dossiers import validity
from exam_app.enrolment.models import Attendance, ExamSession
from exam_app.extensions import db
from exam_app.juries.errors import JuryError, JuryInvalid
from exam_app.juries.grids import carries_mark
from exam_app.juries.lifecycle import mark_text, require_scorable
from exam_app.juries.locking import lock_passage
from exam_app.juries.models import (
    AGREED,
    Commission,
    Grid,
    GridField,
    Passage,
    Validation,
)
from exam_app.units import NOT_EVALUATED, get_unit


def validate(*, passage: Passage | int, revision: int, actor,
             now: datetime | None = None) -> bool:
    """A juror validates the agreed grid as of ``revision``; True when the mark becomes final.

    One serialised decision under the passage's lock: the revision, the grid and
    the other juror's validation are read after taking it, so two jurors
    validating at once end final, and an edit racing a validation either lands
    before it (the revision no longer matches) or is refused after it. ``passage``
    may be its id: it is then loaded once, under the lock.
    """
    now = now or utcnow()
    _refuse_early(passage if isinstance(passage, int) else passage.id, revision)
    passage = lock_passage(passage, timer=False)
    require_results_open(passage.commission.session_id)
    if passage.is_final:
        raise JuryError(ALREADY_FINAL)
    require_scorable(passage)
    if revision != passage.agreed_revision:
        raise JuryError(REVISION_CHANGED)
    values = _agreed_values(passage)
    mark = _agreed_mark(passage, values)
    require_complete(passage, values)
    # A validation given at another revision no longer holds (an edit raced its clearing).
    for stale in [v for v in passage.validations if v.revision != revision]:
        passage.validations.remove(stale)
    # Deleted now: the unit of work would insert the juror's new row before deleting
    # its stale one, against the unique (passage, user).
    db.session.flush()
    existing = next((v for v in passage.validations if v.user_id == actor.id), None)
    if existing is None:
        passage.validations.append(Validation(user_id=actor.id, revision=revision, mark=mark,
                                              validated_at=now))
    else:
        existing.mark, existing.validated_at = mark, now
    db.session.flush()
    record(actor=actor, action="mark.validate", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now,
           after={"mark": mark_text(mark), "revision": revision})
    members = {m.user_id for m in passage.commission.members}
    validated = {v.user_id for v in passage.validations}
    if members and members <= validated:
        passage.final_mark = mark
        passage.finalized_at = now
        db.session.flush()
        record(actor=actor, action="mark.final", object_type="passage", object_id=passage.id,
               session_id=passage.commission.session_id, now=now,
               before={"mark": None}, after={"mark": mark_text(mark)})
        return True
    return False


def answer(passage: Passage) -> dict:
    """What the validation route answers (the reference's, built from the passage as the
    decision left it): the push version, the passage's finality, final mark and revision,
    the validations with the jurors' names. The screen merges it into its state; the
    push (the version moved) brings the rest. ``validation_lean`` builds the same."""
    names = {m.user_id: m.user.display_name for m in passage.commission.members}
    return {
        "version": passage.live_version,
        "passage": {"id": passage.id, "final": passage.is_final,
                    "final_mark": mark_text(passage.final_mark),
                    "revision": passage.agreed_revision, "blocked": False, "absent": False},
        "validations": [{"user_id": v.user_id, "name": names.get(v.user_id, "?"),
                         "revision": v.revision}
                        for v in sorted(passage.validations, key=lambda v: v.id or 0)],
    }


def require_results_open(session_id: int) -> None:
    """Refused once the session's délibération is closed: the results are locked."""
    try:
        ensure_results_open(session_id)
    except ResultsLocked as exc:
        raise JuryError(exc.message) from None


ALREADY_FINAL = "La note est déjà définitive."
REVISION_CHANGED = ("La grille commune a changé depuis votre lecture : relisez-la puis "
                    "validez de nouveau.")


def _refuse_early(passage_id: int, revision: int) -> None:
    """Give, without taking the lock, the refusal the locked decision would give when one
    committed read already settles it: the mark is final, or (scorable) the revision is
    older than the stored one (revisions only grow, so it can never match again).

    A refusal changes nothing, so it needs no lock: it holds as of this read, like
    a refusal under the lock holds as of the lock. Anything else (including a
    revision that matches) goes on to the serialised decision, which re-reads all.
    On SQLite this also keeps refused validations off the database's write lock.
    """
    row = db.session.execute(
        sa.select(Passage.finalized_at, Passage.agreed_revision, Passage.attendance,
                  Passage.candidate_id, Passage.unit_code, Commission.session_id,
                  ExamSession.nv_excludes_interview)
        .join(Commission, Commission.id == Passage.commission_id)
        .join(ExamSession, ExamSession.id == Commission.session_id)
        .where(Passage.id == passage_id)).one()
    if row.finalized_at is not None:
        # A CCF mark transmitted to the académie says so (read only when refusing).
        from exam_app.juries.ccf import require_open

        require_open(db.session.get(Passage, passage_id).commission)
        raise JuryError(ALREADY_FINAL)
    if revision >= row.agreed_revision or row.attendance == Attendance.ABSENT.value:
        return  # absent: the locked decision answers (its message comes first)
    if row.nv_excludes_interview and validity.candidate_validity(
            candidate_id=row.candidate_id, session_id=row.session_id,
            unit_code=row.unit_code) == validity.UnitValidity.NV:
        return  # NV: likewise
    raise JuryError(REVISION_CHANGED)


def _agreed_values(passage: Passage) -> dict[str, str]:
    """The agreed grid's stored values by field name, read now (under the lock)."""
    return dict(db.session.execute(
        sa.select(GridField.name, GridField.value).join(Grid, Grid.id == GridField.grid_id)
        .where(Grid.passage_id == passage.id, Grid.key == AGREED)).all())


def missing_for_validation(passage: Passage, values: dict[str, str]) -> list[tuple[str, str]]:
    """(field, French reason) for what the agreed grid lacks before a joint validation:
    every criterion of the variant assessed ("non évalué" with the reason in its
    section's comment) and the appréciation."""
    unit = get_unit(passage.unit_code)
    wanted = unit.variant(passage.variant_code).grid_sections
    missing = []
    for section in unit.grid.sections:
        if wanted and section.code not in wanted:
            continue
        for criterion in section.criteria:
            level = (values.get(f"c:{criterion.code}") or "").strip()
            if not level:
                missing.append((f"c:{criterion.code}",
                                f"Critère « {criterion.label} » : niveau non renseigné."))
            elif level == NOT_EVALUATED.code and not (values.get(f"s:{section.code}")
                                                      or "").strip():
                missing.append((f"s:{section.code}",
                                f"Critère « {criterion.label} » non évalué : indiquez le motif "
                                f"dans le commentaire de « {section.label} »."))
    if not (values.get("appreciation") or "").strip():
        missing.append(("appreciation", "L'appréciation est vide."))
    return missing


def require_complete(passage: Passage, values: dict[str, str]) -> None:
    """Refuse a joint validation of an incomplete agreed grid, naming what is missing."""
    missing = missing_for_validation(passage, values)
    if missing:
        count = len(missing)
        raise JuryError(
            f"Grille commune incomplète ({count} élément{'s' if count > 1 else ''} "
            f"manquant{'s' if count > 1 else ''}) : complétez-la avant de valider.",
            field=missing[0][0], details=[reason for _, reason in missing])


def _agreed_mark(passage: Passage, values: dict[str, str]) -> Decimal | None:
    """The proposed mark of the agreed grid, required where the passage carries the mark."""
    if not carries_mark(passage.unit_code, passage.variant_code):
        return None
    stored_mark = values.get("mark")
    if not stored_mark:
        raise JuryInvalid("Saisissez la note proposée dans la grille commune avant de valider.",
                          field="mark")
    return Decimal(stored_mark)


def reopen(*, passage: Passage, reason: str, actor, now: datetime | None = None) -> None:
    """The gestionnaire reopens a final mark, with a reason; audited before/after."""
    now = now or utcnow()
    reason = (reason or "").strip()
    passage = lock_passage(passage)
    require_results_open(passage.commission.session_id)
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
