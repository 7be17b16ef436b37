"""E6 printed documents: label sheets (anonymous number + QR) and the bordereau,
and the checks that let ``/verifier/<token>`` vouch for them."""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template

from exam_app.clock import zone
from exam_app.e6.definition import E6
from exam_app.e6.models import E6Copy
from exam_app.e6.release import release_of
from exam_app.e6.results import e6_results
from exam_app.e6.sitting import centre_label_copies, room_roster
from exam_app.enrolment import sessions
from exam_app.enrolment.models import Candidate, Centre, ExamSession
from exam_app.extensions import db
from exam_app.printing.pdf import render_pdf
from exam_app.printing.qr import qr_svg
from exam_app.printing.signing import app_token as _token
from exam_app.printing.signing import content_hash
from exam_app.printing.signing import verify_url as _verify_url
from exam_app.printing.verification import Status, Verification

COPY_KIND = "e6-copie"
BORDEREAU_KIND = "e6-bordereau"
SHEET_KIND = "e6-emargement"
LABELS_PER_SHEET = 24  # A4, 3 columns x 8 rows of 70 x 37 mm stickers


def labels_pdf(*, centre: Centre, session: ExamSession) -> bytes:
    """The centre's sticker sheets, in attendance-list order; a label names no one."""
    labels = []
    for room, copy in centre_label_copies(centre.id):
        # The anonymous number, not the row id: ids follow the attendance order.
        token = _token(COPY_KIND, [session.id, copy.anonymous_number],
                       {"n": copy.anonymous_number})
        labels.append({"number": copy.anonymous_number, "room": room.name if room else "",
                       "qr": qr_svg(_verify_url(token))})
    sheets = [labels[i:i + LABELS_PER_SHEET] for i in range(0, len(labels), LABELS_PER_SHEET)]
    with zone(session.timezone):
        html = render_template("print/e6_labels.html", centre=centre, session=session,
                               sheets=sheets)
    return render_pdf(html)


def sheet_content(room) -> list:
    content = [line.candidate.number for line in room_roster(room, room.centre.session)]
    rules = sessions.rules_content(room.centre.session, "e6_duration_minutes")
    return content + [rules] if rules else content


def attendance_sheet_pdf(*, room) -> bytes:
    """The room's liste d'émargement: candidates alphabetically, end time, signature."""
    session = room.centre.session
    roster = room_roster(room, session)
    token = _token(SHEET_KIND, [room.id], [line.candidate.number for line in roster])
    with zone(session.timezone):
        html = render_template("print/e6_emargement.html", room=room, centre=room.centre,
                               session=session, roster=roster, qr=qr_svg(_verify_url(token)))
    return render_pdf(html)


def check_sheet(payload) -> Verification:
    from exam_app.e6.models import E6Room

    room = db.session.get(E6Room, payload.ids[0]) if payload.ids else None
    if room is None:
        return Verification(Status.NOT_AUTHENTIC)
    facts = (("Session", room.centre.session.name), ("Centre", room.centre.name),
             ("Salle", room.name))
    status = Status.AUTHENTIC if content_hash(sheet_content(room)) == payload.hash \
        else Status.SUPERSEDED
    return Verification(status, f"Liste d'émargement {E6.code}", facts)


def bordereau_rows(session_id: int) -> list[tuple[Centre | None, list[tuple[Candidate, str]]]]:
    results = e6_results(session_id)
    candidates = db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session_id)
        .order_by(Candidate.number)).all()
    by_centre: dict = {}
    for candidate in candidates:
        by_centre.setdefault(candidate.centre, []).append((candidate, results[candidate.id]))
    return sorted(by_centre.items(), key=lambda item: item[0].code if item[0] else "~")


def bordereau_content(session_id: int) -> list:
    content = [[c.number, r] for _, rows in bordereau_rows(session_id) for c, r in rows]
    rules = sessions.rules_content(db.session.get(ExamSession, session_id), "mark_step")
    return content + [rules] if rules else content


def bordereau_pdf(*, session: ExamSession) -> bytes:
    """The E6 bordereau de notation (after the levée d'anonymat), one section per centre."""
    token = _token(BORDEREAU_KIND, [session.id], bordereau_content(session.id))
    blocks = []
    for centre, rows in bordereau_rows(session.id):
        marks = [r for _, r in rows if r not in ("", "ABS", "NV")]
        blocks.append({
            "centre": centre, "rows": rows,
            "present": len(marks),
            "absent": sum(1 for _, r in rows if r == "ABS"),
            "nv": sum(1 for _, r in rows if r == "NV"),
        })
    with zone(session.timezone):
        html = render_template("print/e6_bordereau.html", session=session, blocks=blocks,
                               release=release_of(session.id),
                               qr=qr_svg(_verify_url(token)))
    return render_pdf(html)


def check_copy(payload) -> Verification:
    """A label: authentic while its copy exists with the same anonymous number."""
    copy = None
    if len(payload.ids) == 2:
        copy = db.session.scalar(sa.select(E6Copy).where(
            E6Copy.session_id == payload.ids[0], E6Copy.anonymous_number == str(payload.ids[1])))
    if copy is None or content_hash({"n": copy.anonymous_number}) != payload.hash:
        return Verification(Status.NOT_AUTHENTIC)
    session = db.session.get(ExamSession, copy.session_id)
    return Verification(Status.AUTHENTIC, f"Étiquette de copie anonyme {E6.code}",
                        (("Session", session.name), ("Copie", copy.anonymous_number)))


def check_bordereau(payload) -> Verification:
    session = db.session.get(ExamSession, payload.ids[0]) if payload.ids else None
    if session is None:
        return Verification(Status.NOT_AUTHENTIC)
    current = content_hash(bordereau_content(session.id))
    facts = (("Session", session.name), ("Épreuve", f"{E6.code} — bordereau de notation"))
    if current != payload.hash:
        return Verification(Status.SUPERSEDED, f"Bordereau {E6.code}", facts)
    return Verification(Status.AUTHENTIC, f"Bordereau {E6.code}", facts)
