"""What changed a centre document after it was printed, and why: the audit trail of
its passages, commissions and dossiers, and the candidate list's imports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.extensions import db
from exam_app.printing.verification import events_since

# The audited actions a verification page names (with their recorded reason).
ACTIONS = {
    "passage.assign": "Candidats affectés à la commission",
    "passage.schedule": "Planning de la commission établi",
    "passage.move": "Passage déplacé",
    "passage.swap": "Passages échangés",
    "passage.attendance": "Présence enregistrée",
    "passage.start_exception": "Dérogation de démarrage accordée",
    "mark.final": "Note validée par les deux examinateurs",
    "mark.reopen": "Note rouverte",
    "validation.cleared": "Validation annulée",
    "dossier.conformity_decided": "Décision de conformité du dossier",
    "dossier.conformity_revised": "Décision de conformité du dossier révisée",
    "dossier.extension": "Délai de dépôt prolongé",
    "dossier.deadline_set": "Date limite de dépôt modifiée",
    "candidate.import": "Liste des candidats mise à jour par import",
    "candidate.move": "Candidat changé de centre d'examen",
    "passage.withdraw": "Passage retiré : le candidat a changé de centre d'examen",
}

# Audited once per decision for the whole session, like an import: what changed the
# candidate records a printed document shows.
CANDIDATE_ACTIONS = ("candidate.import", "candidate.move")


def history(since: datetime | None, *, passages: Iterable = (), commissions: Iterable = (),
            commission_actions: Iterable[str] | None = None, candidates: Iterable = (),
            dossier_ids: Iterable[int] = ()) -> tuple[list[AuditEvent], datetime | None]:
    """(audited events after ``since``, the first candidate update after it).

    A commission's events (assignments, schedules) concern all its passages; for one
    passage's document, ``commission_actions`` keeps those that may have changed it.

    Candidate records change only by import or move (of centre), each audited once for
    the whole session: one counts when one of these candidates was updated after ``since``.
    """
    candidates = list(candidates)
    events = events_since(since, {"passage": [p.id for p in passages],
                                  "commission": [c.id for c in commissions],
                                  "dossier": list(dossier_ids)})
    if commission_actions is not None:
        keep = set(commission_actions)
        events = [e for e in events if e.object_type != "commission" or e.action in keep]
    updated = [c.updated_at for c in candidates
               if since is not None and c.updated_at is not None and c.updated_at > since]
    if updated:
        events += db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action.in_(CANDIDATE_ACTIONS), AuditEvent.object_type == "exam_session",
            AuditEvent.object_id.in_({str(c.session_id) for c in candidates}),
            AuditEvent.at > since)).all()
    return events, min(updated, default=None)


def dossier_ids(candidate_ids: Iterable[int], unit_code: str) -> list[int]:
    """The ids of these candidates' dossiers for the unit (their conformity decides NV)."""
    from exam_app.dossiers.models import Dossier

    ids = list(candidate_ids)
    if not ids:
        return []
    return list(db.session.scalars(sa.select(Dossier.id).where(
        Dossier.candidate_id.in_(ids), Dossier.unit_code == unit_code)))


def withdrawn(passage_id: int, title: str):
    """The verification of a document of a passage that no longer exists: superseded when
    the passage was withdrawn (its candidate moved to another centre), else None."""
    from exam_app.printing.verification import Status, Verification, explain

    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "passage.withdraw", AuditEvent.object_type == "passage",
        AuditEvent.object_id == str(passage_id)).order_by(AuditEvent.at)).all()
    if not events:
        return None
    before = events[0].before or {}
    facts = (("Épreuve", before.get("unit_code", "")),
             ("Candidat", before.get("candidate_number", "")))
    return Verification(Status.SUPERSEDED, title, facts, changed_at=events[0].at,
                        changes=("Centre et adresse",), reasons=explain(events, ACTIONS))
