"""The académie's session dashboard and the chef de centre's home."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from wtforms import Field

from exam_app.accounts.models import Role
from exam_app.e6 import sitting
from exam_app.enrolment import reference
from exam_app.enrolment.centres import candidates_without_centre
from exam_app.enrolment.models import Candidate, Centre, ExamSession
from exam_app.errors import ServiceError
from exam_app.extensions import db
from exam_app.juries import planning
from exam_app.juries.models import Commission
from exam_app.overview import counts_fused, readiness
from exam_app.overview.forms import RemoveRoomForm, RoomForm
from exam_app.permissions import (
    can_view_centre,
    centre_for_room_editor_or_403,
    roles_required,
    session_or_404,
)
from exam_app.units import all_units

DASHBOARD_NAMES = 10  # candidates without centre named on the readiness board

bp = Blueprint("overview", __name__)


@bp.route("/gestion/sessions/<code>/")
@roles_required(Role.GESTIONNAIRE)
def session_dashboard(code: str):
    """The readiness board (what blocks the next step), then counts per unit, centre and
    establishment for one session."""
    session = session_or_404(code)
    fused = current_app.config.get("DASHBOARD_COUNTS_PATH", "fast") == "fast"
    counts, counted = (counts_fused if fused else readiness).session_counts(session)
    board = readiness.blockers(session, counted=counted)
    commissions = dict(
        db.session.execute(
            sa.select(Commission.unit_code, sa.func.count(Commission.id))
            .where(Commission.session_id == session.id)
            .group_by(Commission.unit_code)
        ).all()
    )
    sessions = db.session.scalars(sa.select(ExamSession).order_by(ExamSession.year.desc())).all()
    return render_template(
        "overview/session_dashboard.html",
        session=session,
        sessions=sessions,
        board=board,
        counts=counts,
        without_centre=candidates_without_centre(session, limit=DASHBOARD_NAMES,
                                                 count=counted.without_centre),
        commissions=commissions,
        units=all_units(),
    )


@bp.route("/centre/")
@roles_required(Role.CHEF_CENTRE)
def centre_home():
    """The chef de centre's home: their centre(s), candidates and commissions."""
    centres = db.session.scalars(
        sa.select(Centre).where(Centre.id.in_(current_user.centre_ids())).order_by(Centre.code)
    ).all()
    for centre in centres:
        if not can_view_centre(current_user, centre):
            abort(403)
    # The candidates a page at a time (``page``): the page's cost follows the page, not
    # the centre's size.
    page = max(request.args.get("page", 1, type=int), 1)
    blocks = []
    for centre in centres:
        total = db.session.scalar(sa.select(sa.func.count(Candidate.id))
                                  .where(Candidate.centre_id == centre.id))
        candidates = db.session.scalars(
            sa.select(Candidate).where(Candidate.centre_id == centre.id)
            .options(selectinload(Candidate.unit_forms))
            .order_by(Candidate.search_text, Candidate.id)
            .limit(CENTRE_PAGE).offset((page - 1) * CENTRE_PAGE)
        ).all()
        commissions = db.session.scalars(
            sa.select(Commission).where(Commission.centre_id == centre.id)
            .order_by(Commission.code)
        ).all()
        blocks.append((centre, candidates, commissions, total))
    return render_template("overview/centre_home.html", blocks=blocks, page=page,
                           pages=max([1, *(-(-b[3] // CENTRE_PAGE) for b in blocks)]))


CENTRE_PAGE = 50  # candidates a page of the chef de centre's home lists (as the candidates list)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count > 1 else ''}"


def room_usage(centre_id: int) -> dict[str, str]:
    """What uses each room of the centre, in French: oral passages, the E6 seating."""
    uses: dict[str, str] = {}
    for name, count in planning.room_usage(centre_id).items():
        uses[name] = f"{_plural(count, 'passage')} d'oral y {'sont' if count > 1 else 'est'} prévu" + (
            "s" if count > 1 else "")
    for name, count in sitting.room_allocations(centre_id).items():
        text = f"c'est une salle de l'écrit E6 ({_plural(count, 'candidat')} placé" + (
            "s)" if count > 1 else ")")
        uses[name] = f"{uses[name]} ; {text}" if name in uses else text
    return uses


def _room_forms(centre, posted: RoomForm | None) -> tuple[list, RoomForm]:
    """A form per room (filled with its values, or the one posted), and the new room's."""
    rows = []
    for room in centre.rooms:
        key = f"room-{room.id}-"
        form = (posted if posted is not None and posted._prefix == key
                else RoomForm(formdata=None, prefix=key, name=room.name,
                              capacity=str(room.capacity), workstations=str(room.workstations)))
        rows.append((room, form))
    new = (posted if posted is not None and posted._prefix == "new-"
           else RoomForm(formdata=None, prefix="new-"))
    return rows, new


def _post_room(centre) -> tuple[RoomForm | None, int, str | None]:
    """Run the posted change of a room: (the posted room form, status, success message)."""
    room_id = request.form.get("room", "")
    room_id = int(room_id) if room_id.isdigit() and len(room_id) <= 9 else None
    if request.form.get("action") == "remove":
        form, posted, done = RemoveRoomForm(), None, "Salle supprimée."

        def save():
            reference.remove_room(centre=centre, actor=current_user, usage=room_usage,
                                  room_id=room_id or 0)
    else:
        form = posted = RoomForm(prefix=f"room-{room_id}-" if room_id else "new-")
        done = "Salle enregistrée." if room_id else "Salle ajoutée."

        def save():
            reference.save_room(centre=centre, actor=current_user, usage=room_usage,
                                room_id=room_id, name=form.name.data,
                                capacity=form.capacity.data, workstations=form.workstations.data)
    if not form.validate_on_submit():
        flash("Le formulaire a expiré : rechargez la page et recommencez.", "error")
        return posted, 400, None
    try:
        save()
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        target = getattr(form, error.field, None) if error.field else None
        if isinstance(target, Field):
            target.errors = [*target.errors, error.message]
        else:
            flash(error.message, "error")
        return posted, error.status, None
    except IntegrityError:
        db.session.rollback()
        flash("Une salle de ce nom vient d'être enregistrée par ailleurs : rechargez la page.",
              "error")
        return posted, 409, None
    return posted, 200, done


@bp.route("/centre/<int:centre_id>/salles", methods=["GET", "POST"])
@roles_required(Role.CHEF_CENTRE, Role.GESTIONNAIRE)
def centre_rooms(centre_id: int):
    """The centre's rooms (seats, E5 workstations): add, change or remove one."""
    centre = centre_for_room_editor_or_403(centre_id)
    posted, status = None, 200
    if request.method == "POST":
        posted, status, done = _post_room(centre)
        if done:
            flash(done, "success")
            return redirect(url_for("overview.centre_rooms", centre_id=centre.id))
        centre = centre_for_room_editor_or_403(centre_id)  # after a rollback, read afresh
    rows, new = _room_forms(centre, posted)
    if centre.id in current_user.centre_ids():
        back = url_for("overview.centre_home"), "Mon centre"
    else:
        back = url_for("enrolment.centres", code=centre.session.code), "Centres d'examen"
    return render_template("overview/rooms.html", centre=centre, rows=rows, new=new,
                           remove_form=RemoveRoomForm(), uses=room_usage(centre.id),
                           back_url=back[0], back_label=back[1]), status
