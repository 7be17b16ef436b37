"""Convocation: one per candidate and unit (one per passage, i.e. per situation).

Once the session's plan has been published (``juries.publication``), a convocation
prints what was published (date, time and room): a passage not yet published, or
changed since the publication, has no convocation to print (``printable``) until the
next publication, which supersedes exactly the convocations whose content changed
(their QR code says so). A session never published prints its passages as they stand."""

from __future__ import annotations

from datetime import datetime

from exam_app.clock import utcnow
from exam_app.documents.changes import ACTIONS, history, withdrawn
from exam_app.extensions import db
from exam_app.juries import timer
from exam_app.juries.models import Passage
from exam_app.juries.publication import last_publication
from exam_app.printing import document, signing, verification
from exam_app.printing.document import centre_facts, session_facts
from exam_app.printing.signing import TokenPayload, content_hash
from exam_app.printing.verification import Status, Verification
from exam_app.units import UnitKind, get_unit

KIND = "convocation"
TEMPLATE = "print/convocation.html"
# Printed field (path prefix in the context) -> the label a verification names it by.
FIELDS = {
    "doc_title": "Épreuve", "unit": "Épreuve", "variant": "Épreuve", "doc_session": "Session",
    "doc_centre": "Centre et adresse", "candidate.last_name": "Nom",
    "candidate.first_name": "Prénom", "candidate.number": "N° candidat",
    "candidate.extra_time": "Temps majoré", "passage.scheduled_at": "Date et heure",
    "passage.room": "Salle", "own_equipment": "Matériel à apporter",
    "duration": "Durée", "conduct": "Règles de l'épreuve",
}
# The référentiel's rule of conduct, printed on every convocation.
CONDUCT = ("Pendant toute la durée de l'épreuve, il est interdit de communiquer avec "
           "quiconque, de quelque manière que ce soit (oralement, par écrit, par téléphone "
           "ou par tout moyen numérique).")


def minutes_label(seconds: int) -> str:
    """'120 minutes', '73 minutes 20 secondes' for a length in seconds."""
    minutes, rest = divmod(seconds, 60)
    label = f"{minutes} minute{'s' if minutes > 1 else ''}"
    return f"{label} {rest} seconde{'s' if rest > 1 else ''}" if rest else label


def duration_label(passage: Passage) -> str:
    """The real length of the passage, extra time included, and how it is made up.

    Computed as the timer will count it (``juries.timer.plan``), so the convocation
    and the jury's timer agree: 90 min with 1/3 extra time prints 120 minutes.
    """
    extra = passage.candidate.extra_time_fraction
    total = sum(s.allowed_seconds for s in timer.plan(passage.unit_code, passage.variant_code,
                                                      extra_time=extra))
    return f"{minutes_label(total)} au plus" + (", temps majoré compris" if extra else "")


def _published(passage: Passage) -> bool:
    return last_publication(passage.commission.session_id) is not None


def printable(passage: Passage) -> str | None:
    """Why this passage's convocation cannot be printed now (None: it can)."""
    if passage.scheduled_at is None:
        return "Le passage n'a pas d'horaire."
    if not _published(passage):
        return None
    if passage.published_scheduled_at is None:
        return ("Le passage n'est pas encore publié : publiez le planning pour imprimer sa "
                "convocation.")
    if (passage.published_scheduled_at, passage.published_room or "") != (
            passage.scheduled_at, passage.room or ""):
        return ("Le passage a changé depuis la publication : publiez le planning pour "
                "imprimer sa nouvelle convocation.")
    return None


def convocation_context(passage: Passage) -> dict:
    """Everything the convocation prints (and so vouches for): who, which unit, when, where
    (as published, once the plan has been)."""
    when, room = passage.scheduled_at, passage.room or ""
    if passage.published_scheduled_at is not None and _published(passage):
        when, room = passage.published_scheduled_at, passage.published_room or ""
    unit = get_unit(passage.unit_code)
    variant = unit.variant(passage.variant_code)
    commission, c = passage.commission, passage.candidate
    return {
        "doc_title": f"Convocation {unit.code}", "doc_session": session_facts(commission.session),
        "doc_centre": centre_facts(commission.centre, address=True),
        "unit": {"code": unit.code, "title": unit.title},
        "variant": {"label": variant.label, "max_minutes": variant.max_minutes},
        "candidate": {"number": c.number, "last_name": c.last_name, "first_name": c.first_name,
                      "extra_time": c.extra_time or ""},
        "passage": {"scheduled_at": when, "room": room},
        "own_equipment": unit.kind == UnitKind.ORAL and unit.has_dossier,
        "duration": duration_label(passage), "conduct": CONDUCT,
    }


def build(passage: Passage, *, now: datetime | None = None) -> document.Printed:
    now = now or utcnow()
    context = convocation_context(passage)
    html = document.printed(TEMPLATE, context, kind=KIND, fields=FIELDS, now=now,
                            ids=[passage.id, signing.stamp(now)])
    return document.Printed(KIND, f"convocation-{passage.unit_code}-{passage.candidate.number}.pdf",
                            html)


def check(payload: TokenPayload) -> Verification:
    if len(payload.ids) != 2:
        return Verification(Status.NOT_AUTHENTIC)
    passage = db.session.get(Passage, payload.ids[0])
    if passage is None:
        return withdrawn(payload.ids[0], "Convocation") or Verification(Status.NOT_AUTHENTIC)
    c = passage.candidate
    facts = (("Session", passage.commission.session.name), ("Épreuve", passage.unit_code),
             ("Candidat", f"{c.number} — {c.last_name} {c.first_name}"))
    context = convocation_context(passage)
    if content_hash(context) == payload.hash:
        return Verification(Status.AUTHENTIC, "Convocation", facts)
    events, updated = history(signing.from_stamp(payload.ids[1]), passages=[passage],
                              commissions=[passage.commission],
                              commission_actions=["passage.schedule"], candidates=[c])
    result = verification.superseded(payload, "Convocation", facts, content=context,
                                     fields=FIELDS, events=events, actions=ACTIONS,
                                     changed_at=updated)
    # The new name is not what was printed: the public page shows the number only.
    return verification.without_changed(result, "Candidat", ("Nom", "Prénom"), c.number)
