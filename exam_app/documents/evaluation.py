"""Fiche d'évaluation: one per passage — the agreed grid with levels, the
appraisal, the mark, the actual phase durations and both jurors.

Same PROVISOIRE policy as the bordereau: while the passage's result is not
final (ABS, NV or a mark validated by both jurors), the fiche is watermarked
"PROVISOIRE" and carries no QR code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from exam_app.clock import utcnow
from exam_app.documents.bordereau import juror_roles, jurors, place_facts
from exam_app.documents.changes import ACTIONS, dossier_ids, history, withdrawn
from exam_app.dossiers.conformity import recorded_missing_elements
from exam_app.dossiers.validity import UnitValidity, nv_candidate_ids, unit_validity
from exam_app.enrolment import sessions
from exam_app.extensions import db
from exam_app.juries.grids import carries_mark
from exam_app.juries.lifecycle import planned_segments, result_label
from exam_app.juries.models import AGREED, Grid, Passage
from exam_app.printing import document, signing, verification
from exam_app.printing.document import session_facts
from exam_app.printing.signing import TokenPayload, content_hash
from exam_app.printing.verification import Status, Verification
from exam_app.units import get_unit

KIND = "fiche"


def _agreed_values(passage: Passage) -> dict[str, str]:
    grid = db.session.scalar(sa.select(Grid).where(Grid.passage_id == passage.id,
                                                   Grid.key == AGREED))
    return {f.name: f.value for f in grid.fields} if grid else {}


def _durations(passage: Passage) -> list[dict]:
    """Each planned segment with its allowed and actual length (minutes, seconds)."""
    ran = {s.index: s for s in passage.segments}
    rows = []
    for index, planned in enumerate(planned_segments(passage)):
        segment = ran.get(index)
        actual = None
        if segment is not None and segment.ended_at is not None:
            actual = int((segment.ended_at - segment.started_at).total_seconds())
            actual -= sum(int((p.ended_at - p.started_at).total_seconds())
                          for p in passage.pauses
                          if p.segment_index == index and p.ended_at is not None)
        label = planned.phase_label if planned.step_code == planned.phase_code else (
            f"{planned.phase_label} — {planned.step_label}")
        rows.append({"label": label, "allowed": planned.allowed_seconds,
                     "actual": actual})
    return rows


def start_exception_line(passage: Passage) -> str | None:
    """'Dérogation accordée par … le … : motif' when the passage started by exception."""
    from exam_app.formatting import local_datetime

    if passage.start_exception_at is None:
        return None
    by = passage.start_exception_by.display_name if passage.start_exception_by else "—"
    return (f"Dérogation accordée par {by} le {local_datetime(passage.start_exception_at)} : "
            f"{passage.start_exception_reason}")


TEMPLATE = "print/evaluation.html"
FIELDS = {
    "doc_title": "Épreuve", "unit": "Épreuve", "variant": "Épreuve", "levels": "Épreuve",
    "doc_session": "Session", "doc_centre": "Centre", "commission": "Commission",
    "candidate.last_name": "Nom", "candidate.first_name": "Prénom",
    "candidate.number": "N° candidat", "passage": "Date, heure et salle",
    "exception": "Dérogation de démarrage", "sections": "Grille d'évaluation",
    "appreciation": "Appréciation", "result": "Note", "carries_mark": "Note",
    "durations": "Durées des phases", "jurors": "Examinateurs", "juror_roles": "Examinateurs",
    "replacement_reason": "Examinateurs",
    "rules": "Règles de la session",
    "evidence": "Grille d'évaluation",
    "dossier_missing": "Éléments manquants du dossier",
}


def fiche_context(passage: Passage, *, nv: bool | None = None,
                  values: dict[str, str] | None = None) -> dict:
    """Everything the fiche prints (and so vouches for); ``nv`` and ``values`` (the agreed
    grid) when already known."""
    unit = get_unit(passage.unit_code)
    variant = unit.variant(passage.variant_code)
    values = _agreed_values(passage) if values is None else values
    sections = []
    for section in unit.grid.sections:
        if variant.grid_sections and section.code not in variant.grid_sections:
            continue
        sections.append({"label": section.label, "comment": values.get(f"s:{section.code}", ""),
                         "records": [{"label": r.label, "value": values.get(f"r:{r.code}", "")}
                                     for r in unit.grid.records_of(section.code)],
                         "criteria": [{"label": c.label, "level": values.get(f"c:{c.code}", "")}
                                      for c in section.criteria]})
    if nv is None:
        nv = unit_validity(candidate_id=passage.candidate_id,
                           unit_code=passage.unit_code) == UnitValidity.NV
    commission, c = passage.commission, passage.candidate
    return {
        "doc_title": f"Fiche d'évaluation {unit.code}",
        "doc_session": session_facts(commission.session), "doc_centre": place_facts(commission),
        "unit": {"code": unit.code, "title": unit.title, "max_mark": unit.max_mark},
        "variant": {"label": variant.label}, "commission": {"code": commission.code},
        "candidate": {"number": c.number, "last_name": c.last_name, "first_name": c.first_name},
        "passage": {"scheduled_at": passage.scheduled_at, "room": passage.room or ""},
        "levels": [{"code": lv.code, "label": lv.label} for lv in unit.grid.levels],
        "exception": start_exception_line(passage), "sections": sections,
        "evidence": list(unit.grid.evidence),
        "dossier_missing": recorded_missing_elements(candidate_id=passage.candidate_id,
                                                     unit_code=passage.unit_code),
        "appreciation": values.get("appreciation", ""),
        "result": result_label(passage, nv=nv),
        "carries_mark": carries_mark(passage.unit_code, passage.variant_code),
        "durations": _durations(passage), "jurors": jurors(commission),
        **juror_roles(commission),
        # The session's rules this document depends on, once changed from their default
        # (enrolment.sessions): changing one supersedes it.
        "rules": sessions.rules_content(commission.session, "mark_step",
                                        "nv_excludes_interview"),
    }


def is_final(passage: Passage, context: dict) -> bool:
    if context["result"] in ("ABS", "NV"):
        return True
    return passage.is_final


def build(passage: Passage, *, now: datetime | None = None, nv: bool | None = None,
          values: dict[str, str] | None = None) -> document.Printed:
    now = now or utcnow()
    context = fiche_context(passage, nv=nv, values=values)
    html = document.printed(TEMPLATE, context, kind=KIND, fields=FIELDS, now=now,
                            ids=[passage.id, signing.stamp(now)],
                            provisional=not is_final(passage, context))
    return document.Printed(KIND, f"fiche-{passage.unit_code}-{passage.candidate.number}.pdf",
                            html)


BATCH = 500  # passages per IN (...) query


def build_many(passages: Iterable[Passage], *, now: datetime | None = None
               ) -> Iterator[document.Printed]:
    """The fiches of many passages, in order, with a few queries per batch (print packs).

    One query for the agreed grids and one NV set per session and unit,
    instead of both per fiche; the result is the same as ``build`` per passage.
    """
    now = now or utcnow()
    passages = list(passages)
    for start in range(0, len(passages), BATCH):
        batch = passages[start:start + BATCH]
        ids = [p.id for p in batch]
        agreed: dict[int, dict[str, str]] = {p.id: {} for p in batch}
        for grid in db.session.scalars(sa.select(Grid).where(
                Grid.passage_id.in_(ids), Grid.key == AGREED).options(selectinload(Grid.fields))):
            agreed[grid.passage_id] = {f.name: f.value for f in grid.fields}
        nv_sets: dict[tuple[int, str], set[int]] = {}
        for p in batch:
            key = (p.candidate.session_id, p.unit_code)
            if key not in nv_sets:
                nv_sets[key] = nv_candidate_ids(
                    session_id=key[0], unit_code=key[1],
                    candidate_ids={q.candidate_id for q in batch if q.unit_code == key[1]})
        for p in batch:
            nv = p.candidate_id in nv_sets[(p.candidate.session_id, p.unit_code)]
            yield build(p, now=now, nv=nv, values=agreed[p.id])


def check(payload: TokenPayload) -> Verification:
    if len(payload.ids) != 2:
        return Verification(Status.NOT_AUTHENTIC)
    passage = db.session.get(Passage, payload.ids[0])
    if passage is None:
        return withdrawn(payload.ids[0], "Fiche d'évaluation") or Verification(Status.NOT_AUTHENTIC)
    context = fiche_context(passage)
    c = passage.candidate
    facts = (("Session", passage.commission.session.name), ("Épreuve", passage.unit_code),
             ("Candidat", f"{c.number} — {c.last_name} {c.first_name}"))
    title = "Fiche d'évaluation"
    if content_hash(context) == payload.hash:
        return Verification(Status.AUTHENTIC, title, facts)
    events, updated = history(
        signing.from_stamp(payload.ids[1]), passages=[passage], candidates=[c],
        dossier_ids=dossier_ids([c.id], passage.unit_code))
    result = verification.superseded(payload, title, facts, content=context, fields=FIELDS,
                                     events=events, actions=ACTIONS, changed_at=updated)
    # The new name is not what was printed: the public page shows the number only.
    return verification.without_changed(result, "Candidat", ("Nom", "Prénom"), c.number)
