"""E6 printed documents: label sheets (anonymous number + QR) and the bordereau,
and the checks that let ``/verifier/<token>`` vouch for them.

Each document's template context is built by one function and is what the QR code
signs (``printing.document.printed``). A verification page never shows a name:
an E6 document is superseded by *fields* ("Prénom", "Notes"...), never by values.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import render_template

from exam_app.audit.models import AuditEvent
from exam_app.clock import utcnow, zone
from exam_app.e6.definition import E6
from exam_app.e6.models import E6Copy, E6Room, E6Sitting
from exam_app.e6.sitting import centre_label_copies, room_roster
from exam_app.enrolment.models import Candidate, Centre, ExamSession
from exam_app.extensions import db
from exam_app.printing import verification
from exam_app.printing.document import printed
from exam_app.printing.qr import qr_svg
from exam_app.printing.signing import app_token as _token
from exam_app.printing.signing import content_hash, from_stamp, stamp
from exam_app.printing.signing import verify_url as _verify_url
from exam_app.printing.verification import Status, Verification

COPY_KIND = "e6-copie"
SHEET_KIND = "e6-emargement"
LABELS_PER_SHEET = 24  # A4, 3 columns x 8 rows of 70 x 37 mm stickers

LABEL_FIELDS = {"number": "Numéro anonyme", "session": "Session", "centre": "Centre",
                "room": "Salle"}
SHEET_FIELDS = {
    "session": "Session et durée", "centre": "Centre", "room": "Salle et heure de début",
    "roster[*].candidate.number": "N° candidat", "roster[*].candidate.last_name": "Nom",
    "roster[*].candidate.first_name": "Prénom", "roster[*].ends_at": "Heures de fin",
    "roster[*].candidate.extra_time": "Temps majoré", "roster[*].has_extra_time": "Temps majoré",
}
# Audited E6 actions a verification page names, with their recorded reason.
ACTIONS = {
    "e6.attendance": "Présence modifiée",
    "e6.room.distribute": "Répartition des salles modifiée",
    "e6.copy.save": "Copie corrigée",
    "e6.lot.validate": "Lot validé",
    "e6.lot.adjust": "Notes d'un lot harmonisées",
    "e6.lot.finalize": "Lot arrêté",
    "e6.lot.reopen": "Lot rouvert",
    "e6.anonymity.lift": "Anonymat levé",
    "candidate.import": "Liste des candidats mise à jour par import",
}


def _session_actions(session_id: int, since: datetime | None, actions) -> list[AuditEvent]:
    if since is None:
        return []
    return list(db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.session_id == session_id, AuditEvent.action.in_(list(actions)),
        AuditEvent.at > since).order_by(AuditEvent.at, AuditEvent.id)))


# ---- labels (one verifiable document per label) -----------------------------

def label_content(copy: E6Copy, room: E6Room | None, session: ExamSession, centre) -> dict:
    """What a label prints (and so vouches for): its number, session, centre and room."""
    return {"number": copy.anonymous_number, "session": session.code,
            "centre": centre.code if centre else "", "room": room.name if room else ""}


def copy_token(copy: E6Copy, room: E6Room | None, session: ExamSession, centre, *,
               now: datetime | None = None) -> str:
    """The label's token: the anonymous number (never the candidate or the copy's row id)
    and the print time."""
    return _token(COPY_KIND, [session.id, copy.anonymous_number, stamp(now or utcnow())],
                  label_content(copy, room, session, centre), LABEL_FIELDS)


def labels_pdf(*, centre: Centre, session: ExamSession) -> bytes:
    """The centre's sticker sheets, in attendance-list order; a label names no one."""
    labels, now = [], utcnow()
    for room, copy in centre_label_copies(centre.id):
        # The anonymous number, not the row id: ids follow the attendance order.
        content = label_content(copy, room, session, centre)
        labels.append({**content, "qr": qr_svg(_verify_url(
            copy_token(copy, room, session, centre, now=now)))})
    sheets = [labels[i:i + LABELS_PER_SHEET] for i in range(0, len(labels), LABELS_PER_SHEET)]
    with zone(session.timezone):
        html = render_template("print/e6_labels.html", centre={"name": centre.name},
                               sheets=sheets)
    from exam_app.printing.pdf import render_pdf  # WeasyPrint: on the first render

    return render_pdf(html)


def check_copy(payload) -> Verification:
    """A label: authentic while its copy has that number, in that room; superseded when the
    copy was given a new number (new label) or withdrawn; never says whose copy it is."""
    session = db.session.get(ExamSession, payload.ids[0]) if len(payload.ids) in (2, 3) else None
    if session is None:
        return Verification(Status.NOT_AUTHENTIC)
    number = str(payload.ids[1])
    title = f"Étiquette de copie anonyme {E6.code}"
    facts = (("Session", session.name), ("Copie", number))
    row = db.session.execute(
        sa.select(E6Copy, E6Room, Centre)
        .join(E6Sitting, E6Sitting.candidate_id == E6Copy.candidate_id)
        .join(Candidate, Candidate.id == E6Copy.candidate_id)
        .outerjoin(Centre, Centre.id == Candidate.centre_id)
        .outerjoin(E6Room, E6Room.id == E6Sitting.room_id)
        .where(E6Copy.session_id == session.id, E6Copy.anonymous_number == number)).first()
    if row is None:
        # The signature proves this label was issued; its number is no longer a copy's.
        withdrawn = [e for e in db.session.scalars(sa.select(AuditEvent).where(
            AuditEvent.session_id == session.id, AuditEvent.action == "e6.attendance")
            .order_by(AuditEvent.at)) if (e.before or {}).get("anonymous_number") == number]
        return Verification(
            Status.SUPERSEDED, title, facts,
            changed_at=withdrawn[0].at if withdrawn else None, changes=("Numéro anonyme",),
            reasons=("Ce numéro n'est plus celui d'une copie : la copie a reçu une nouvelle "
                     "étiquette, ou le candidat a été déclaré absent. Seule la nouvelle "
                     "étiquette vaut.",))
    copy, room, centre = row
    content = label_content(copy, room, session, centre)
    # Labels printed before they signed their room stay on their copies: they vouched
    # for the number only, and still do.
    legacy = payload.fields is None and content_hash({"n": number}) == payload.hash
    if legacy or content_hash(content) == payload.hash:
        return Verification(Status.AUTHENTIC, title, facts)
    since = from_stamp(payload.ids[2]) if len(payload.ids) == 3 else None
    return verification.superseded(payload, title, facts, content=content, fields=LABEL_FIELDS,
                                   events=_session_actions(session.id, since,
                                                           ["e6.room.distribute"]),
                                   actions=ACTIONS)


# ---- liste d'émargement of a room --------------------------------------------

def sheet_context(room: E6Room) -> dict:
    """Everything the room's sheet prints (and so vouches for)."""
    session = room.centre.session
    return {
        "session": {"name": session.name, "academie": session.academie or "",
                    "timezone": session.timezone,
                    "e6_duration_minutes": session.e6_duration_minutes},
        "centre": {"name": room.centre.name},
        "room": {"name": room.name, "starts_at": room.starts_at},
        "roster": [{"candidate": {"number": line.candidate.number,
                                  "last_name": line.candidate.last_name,
                                  "first_name": line.candidate.first_name,
                                  "extra_time": line.candidate.extra_time or ""},
                    "ends_at": line.ends_at, "has_extra_time": line.has_extra_time}
                   for line in room_roster(room, session)],
    }


def attendance_sheet_pdf(*, room: E6Room, now: datetime | None = None) -> bytes:
    """The room's liste d'émargement: candidates alphabetically, end time, signature."""
    now = now or utcnow()
    html = printed("print/e6_emargement.html", sheet_context(room), kind=SHEET_KIND,
                   ids=[room.id, stamp(now)], fields=SHEET_FIELDS, now=now)
    from exam_app.printing.pdf import render_pdf  # WeasyPrint: on the first render

    return render_pdf(html)


def check_sheet(payload) -> Verification:
    room = db.session.get(E6Room, payload.ids[0]) if payload.ids else None
    if room is None:
        return Verification(Status.NOT_AUTHENTIC)
    facts = (("Session", room.centre.session.name), ("Centre", room.centre.name),
             ("Salle", room.name))
    title = f"Liste d'émargement {E6.code}"
    context = sheet_context(room)
    if content_hash(context) == payload.hash:
        return Verification(Status.AUTHENTIC, title, facts)
    since = from_stamp(payload.ids[1]) if len(payload.ids) == 2 else None
    session_id = room.centre.session_id
    candidates = db.session.scalars(sa.select(Candidate).join(
        E6Sitting, E6Sitting.candidate_id == Candidate.id).where(E6Sitting.room_id == room.id))
    updated = [c.updated_at for c in candidates if since and c.updated_at > since]
    events = _session_actions(session_id, since, ["e6.attendance", "e6.room.distribute"]
                              + (["candidate.import"] if updated else []))
    return verification.superseded(payload, title, facts, content=context, fields=SHEET_FIELDS,
                                   events=events, actions=ACTIONS,
                                   changed_at=min(updated, default=None))
