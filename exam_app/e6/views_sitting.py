"""E6 pages of the centre: rooms, seating, attendance lists, labels."""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from exam_app.accounts.models import Role
from exam_app.clock import local_zone
from exam_app.downloads import attachment
from exam_app.e6 import documents
from exam_app.e6 import release as release_service
from exam_app.e6 import sitting as sitting_service
from exam_app.e6.blueprint import bp, commit, flash_error
from exam_app.e6.common import E6Error
from exam_app.e6.definition import E6
from exam_app.e6.forms import CsrfOnlyForm, RoomForm
from exam_app.e6.models import Attendance, E6Sitting
from exam_app.enrolment.models import Candidate
from exam_app.extensions import db
from exam_app.permissions import centre_or_403, e6_room_for_centre_staff_or_403, roles_required


@bp.route("/centre/<int:centre_id>/e6/")
@roles_required(Role.CHEF_CENTRE, Role.GESTIONNAIRE)
def sitting(centre_id: int):
    """The centre's E6 sitting: rooms, who is seated where, attendance counts."""
    centre = centre_or_403(centre_id)
    rooms = sitting_service.centre_rooms(centre.id)
    counts = dict(db.session.execute(
        sa.select(E6Sitting.room_id, sa.func.count(E6Sitting.id))
        .join(Candidate, Candidate.id == E6Sitting.candidate_id)
        .where(Candidate.centre_id == centre.id, Candidate.sits_in(E6.code))
        .group_by(E6Sitting.room_id)).all())
    attendance = dict(db.session.execute(
        sa.select(E6Sitting.attendance, sa.func.count(E6Sitting.id))
        .join(Candidate, Candidate.id == E6Sitting.candidate_id)
        .where(Candidate.centre_id == centre.id, Candidate.sits_in(E6.code))
        .group_by(E6Sitting.attendance)).all())
    total = db.session.scalar(sa.select(sa.func.count(Candidate.id))
                              .where(Candidate.centre_id == centre.id, Candidate.sits_in(E6.code)))
    unseated = total - sum(v for k, v in counts.items() if k is not None)
    return render_template("e6/sitting.html", centre=centre, session=centre.session,
                           rooms=rooms, counts=counts, attendance=attendance, total=total,
                           unseated=unseated, room_form=RoomForm(), form=CsrfOnlyForm())


@bp.route("/centre/<int:centre_id>/e6/salles", methods=["POST"])
@roles_required(Role.CHEF_CENTRE, Role.GESTIONNAIRE)
def add_room(centre_id: int):
    """Add a room to the centre's E6 sitting."""
    centre = centre_or_403(centre_id)
    form = RoomForm()
    if form.validate_on_submit():
        starts_at = form.starts_at.data.replace(tzinfo=local_zone()).astimezone(UTC)
        try:
            sitting_service.add_room(centre=centre, name=form.name.data, starts_at=starts_at,
                                     capacity=form.capacity.data, actor=current_user)
        except E6Error as exc:
            db.session.rollback()
            flash_error(exc)
        else:
            if commit():
                flash(f"Salle « {form.name.data.strip()} » ajoutée.", "success")
    else:
        for errors in form.errors.values():
            flash(" ".join(errors), "error")
    return redirect(url_for("e6.sitting", centre_id=centre.id))


@bp.route("/centre/<int:centre_id>/e6/repartir", methods=["POST"])
@roles_required(Role.CHEF_CENTRE, Role.GESTIONNAIRE)
def distribute(centre_id: int):
    """Seat the candidates without a room, alphabetically."""
    centre = centre_or_403(centre_id)
    if not CsrfOnlyForm().validate_on_submit():
        abort(400)
    try:
        seated = sitting_service.distribute_candidates(centre=centre, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        flash_error(exc)
    else:
        if commit():
            flash(f"{seated} candidat(s) placé(s) dans les salles.", "success")
    return redirect(url_for("e6.sitting", centre_id=centre.id))


def _posted_statuses() -> dict[int, Attendance] | None:
    """The attendance posted for the room, by candidate id; None when the list is not valid."""
    statuses = {}
    bad = False
    for key, value in request.form.items():
        if not key.startswith("presence-"):
            continue
        candidate_id = key.removeprefix("presence-")
        if not candidate_id.isdigit() or value not in {a.value for a in Attendance}:
            bad = True
            continue
        statuses[int(candidate_id)] = Attendance(value)
    return None if bad else statuses


@bp.route("/centre/e6/salles/<int:room_id>", methods=["GET", "POST"])
@roles_required(Role.CHEF_CENTRE, Role.GESTIONNAIRE)
def room(room_id: int):
    """The attendance list of a room: record present / absent; end times with extra time."""
    room = e6_room_for_centre_staff_or_403(room_id)
    session = room.centre.session
    form = CsrfOnlyForm()
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        statuses = _posted_statuses()
        if statuses is None:
            flash("La liste envoyée n'est pas valide : rechargez la page. Rien n'a été "
                  "enregistré.", "error")
            status = 400
        else:
            try:
                changed = sitting_service.record_attendance(room=room, statuses=statuses,
                                                            actor=current_user)
            except E6Error as exc:
                db.session.rollback()
                flash_error(exc)
                status = 409
            else:
                if commit():
                    flash(f"Présence enregistrée : {changed['present']} présent(s), "
                          f"{changed['absent']} absent(s) modifié(s).", "success")
                return redirect(url_for("e6.room", room_id=room.id))
    roster = sitting_service.room_roster(room, session)
    return render_template("e6/room.html", room=room, centre=room.centre, session=session,
                           roster=roster, form=form,
                           released=release_service.is_released(session.id)), status


@bp.route("/centre/e6/salles/<int:room_id>/emargement.pdf")
@roles_required(Role.CHEF_CENTRE, Role.GESTIONNAIRE)
def attendance_sheet(room_id: int):
    """The room's liste d'émargement (PDF): candidates, end times, signature column."""
    room = e6_room_for_centre_staff_or_403(room_id)
    return attachment(documents.attendance_sheet_pdf(room=room), mimetype="application/pdf",
                    filename=f"emargement-{E6.code.lower()}-{room.centre.code}-{room.id}.pdf")


@bp.route("/centre/<int:centre_id>/e6/etiquettes.pdf")
@roles_required(Role.CHEF_CENTRE, Role.GESTIONNAIRE)
def labels(centre_id: int):
    """The A4 sticker sheets of the centre's anonymous copies (PDF)."""
    centre = centre_or_403(centre_id)
    pdf = documents.labels_pdf(centre=centre, session=centre.session)
    return attachment(pdf, mimetype="application/pdf",
                    filename=f"etiquettes-{E6.code.lower()}-{centre.code}.pdf")
