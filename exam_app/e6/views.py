"""E6 pages: the centre's sitting (rooms, attendance, labels), the académie's
barème, lots, harmonisation and levée d'anonymat, and the correcteur's marking.

Correcteur views read copies only through their own lots and never load a
candidate: anonymity is structural, not a template convention.
"""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.clock import PARIS
from exam_app.e6 import documents, plot, services
from exam_app.e6.forms import (
    AdjustForm,
    BaremeForm,
    ConfirmForm,
    CorrectorForm,
    CsrfOnlyForm,
    ReasonForm,
    RoomForm,
)
from exam_app.e6.models import Attendance, E6Copy, E6Corrector, E6Lot, E6Room, E6Sitting
from exam_app.e6.services import E6Error, StaleCopy
from exam_app.enrolment.models import Candidate, Establishment, ExamSession
from exam_app.extensions import db
from exam_app.permissions import can_manage, can_view_centre, centre_or_403, roles_required

bp = Blueprint("e6", __name__)

MAX_SAVE_BYTES = 20_000
CONCURRENT_SAVE = ("Cette copie vient d'être enregistrée ailleurs (autre onglet ?) : rechargez la "
                   "page. Votre saisie n'a pas été enregistrée.")


def _flash_error(exc: E6Error) -> None:
    flash(exc.message + (" " + " · ".join(exc.details) if exc.details else ""), "error")


def _commit() -> bool:
    """Commit; on a race lost to a concurrent request (unique constraint), roll back and say so."""
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        flash("Une autre opération a modifié ces données au même moment : rechargez la page et "
              "vérifiez. Rien n'a été enregistré.", "error")
        return False
    return True


def _session_or_404(code: str) -> ExamSession:
    session = db.session.scalar(sa.select(ExamSession).where(ExamSession.code == code))
    if session is None:
        abort(404)
    return session


def _file_response(data: bytes, mimetype: str, filename: str):
    from flask import Response

    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# ---- centre: rooms, attendance, labels -------------------------------------


def _room_or_403(room_id: int) -> E6Room:
    room = db.session.get(E6Room, room_id)
    if room is None:
        abort(404)
    if not can_view_centre(current_user, room.centre):
        abort(403)
    return room


@bp.route("/centre/<int:centre_id>/e6/")
@roles_required(Role.CHEF_CENTRE, Role.GESTIONNAIRE)
def sitting(centre_id: int):
    """The centre's E6 sitting: rooms, who is seated where, attendance counts."""
    centre = centre_or_403(centre_id)
    rooms = services.centre_rooms(centre.id)
    counts = dict(db.session.execute(
        sa.select(E6Sitting.room_id, sa.func.count(E6Sitting.id))
        .join(Candidate, Candidate.id == E6Sitting.candidate_id)
        .where(Candidate.centre_id == centre.id).group_by(E6Sitting.room_id)).all())
    attendance = dict(db.session.execute(
        sa.select(E6Sitting.attendance, sa.func.count(E6Sitting.id))
        .join(Candidate, Candidate.id == E6Sitting.candidate_id)
        .where(Candidate.centre_id == centre.id).group_by(E6Sitting.attendance)).all())
    total = db.session.scalar(sa.select(sa.func.count(Candidate.id))
                              .where(Candidate.centre_id == centre.id))
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
        starts_at = form.starts_at.data.replace(tzinfo=PARIS).astimezone(UTC)
        try:
            services.add_room(centre=centre, name=form.name.data, starts_at=starts_at,
                              capacity=form.capacity.data, actor=current_user)
        except E6Error as exc:
            db.session.rollback()
            _flash_error(exc)
        else:
            if _commit():
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
        seated = services.distribute_candidates(centre=centre, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        _flash_error(exc)
    else:
        if _commit():
            flash(f"{seated} candidat(s) placé(s) dans les salles.", "success")
    return redirect(url_for("e6.sitting", centre_id=centre.id))


@bp.route("/centre/e6/salles/<int:room_id>", methods=["GET", "POST"])
@roles_required(Role.CHEF_CENTRE, Role.GESTIONNAIRE)
def room(room_id: int):
    """The attendance list of a room: record present / absent; end times with extra time."""
    room = _room_or_403(room_id)
    session = room.centre.session
    form = CsrfOnlyForm()
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
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
        if bad:
            flash("La liste envoyée n'est pas valide : rechargez la page. Rien n'a été "
                  "enregistré.", "error")
            status = 400
        else:
            try:
                changed = services.record_attendance(room=room, statuses=statuses,
                                                     actor=current_user)
            except E6Error as exc:
                db.session.rollback()
                _flash_error(exc)
                status = 409
            else:
                if _commit():
                    flash(f"Présence enregistrée : {changed['present']} présent(s), "
                          f"{changed['absent']} absent(s) modifié(s).", "success")
                return redirect(url_for("e6.room", room_id=room.id))
    roster = services.room_roster(room, session)
    return render_template("e6/room.html", room=room, centre=room.centre, session=session,
                           roster=roster, form=form,
                           released=services.is_released(session.id)), status


@bp.route("/centre/e6/salles/<int:room_id>/emargement.pdf")
@roles_required(Role.CHEF_CENTRE, Role.GESTIONNAIRE)
def attendance_sheet(room_id: int):
    """The room's liste d'émargement (PDF): candidates, end times, signature column."""
    room = _room_or_403(room_id)
    return _file_response(documents.attendance_sheet_pdf(room=room), "application/pdf",
                          f"emargement-e6-{room.centre.code}-{room.id}.pdf")


@bp.route("/centre/<int:centre_id>/e6/etiquettes.pdf")
@roles_required(Role.CHEF_CENTRE, Role.GESTIONNAIRE)
def labels(centre_id: int):
    """The A4 sticker sheets of the centre's anonymous copies (PDF)."""
    centre = centre_or_403(centre_id)
    pdf = documents.labels_pdf(centre=centre, session=centre.session)
    return _file_response(pdf, "application/pdf", f"etiquettes-e6-{centre.code}.pdf")


# ---- académie: barème, correcteurs, lots, harmonisation, levée ---------------


@bp.route("/gestion/sessions/<code>/e6/")
@roles_required(Role.GESTIONNAIRE)
def manage(code: str):
    """The E6 workflow for a session: sitting, barème, correcteurs, lots, levée d'anonymat."""
    session = _session_or_404(code)
    lots = services.session_lots(session.id)
    attendance = dict(db.session.execute(
        sa.select(E6Sitting.attendance, sa.func.count(Candidate.id))
        .select_from(Candidate)
        .outerjoin(E6Sitting, E6Sitting.candidate_id == Candidate.id)
        .where(Candidate.session_id == session.id).group_by(E6Sitting.attendance)).all())
    markers = services.correctors(session.id)
    form = CorrectorForm()
    enrolled = {m.user_id for m in markers}
    form.user_id.choices = [(0, "— choisir —")] + [
        (u.id, f"{u.display_name} ({u.username})") for u in db.session.scalars(
            sa.select(User).join(RoleAssignment).where(RoleAssignment.role == Role.CORRECTEUR.value)
            .order_by(User.last_name, User.first_name)) if u.id not in enrolled]
    form.establishment_id.choices = [(0, "— aucun (professionnel) —")] + [
        (e.id, f"{e.name} ({e.uai})") for e in db.session.scalars(
            sa.select(Establishment).order_by(Establishment.name))]
    return render_template(
        "e6/manage.html", session=session, lots=lots, sizes=services.lot_sizes(session.id),
        attendance=attendance, questions=services.questions(session.id), markers=markers,
        corrector_form=form, form=CsrfOnlyForm(), confirm_form=ConfirmForm(),
        blockers=services.lifting_blockers(session.id), release=services.release_of(session.id),
        marks_entered=services.marks_entered(session.id),
        centres=session.centres)


@bp.route("/gestion/sessions/<code>/e6/bareme", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def bareme(code: str):
    """Define the barème: one question per line, points totalling 20."""
    session = _session_or_404(code)
    form = BaremeForm()
    frozen = services.lots_exist(session.id)
    errors: list[str] = []
    status = 200
    if form.validate_on_submit():
        try:
            services.set_bareme(session=session, text=form.text.data, actor=current_user)
        except E6Error as exc:
            db.session.rollback()
            errors = [exc.message, *exc.details]
            status = 422
        else:
            if _commit():
                flash("Barème enregistré.", "success")
            return redirect(url_for("e6.manage", code=session.code))
    elif request.method == "POST":
        status = 400
    else:
        form.text.data = services.bareme_text(session.id)
    return render_template("e6/bareme.html", session=session, form=form, errors=errors,
                           frozen=frozen, questions=services.questions(session.id)), status


@bp.route("/gestion/sessions/<code>/e6/correcteurs", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def add_corrector(code: str):
    """Enrol a correcteur for the session with their establishment."""
    session = _session_or_404(code)
    form = CorrectorForm()
    form.user_id.choices = [(u.id, u.username) for u in db.session.scalars(
        sa.select(User).join(RoleAssignment).where(RoleAssignment.role == Role.CORRECTEUR.value))]
    form.establishment_id.choices = [(0, "")] + [
        (e.id, e.uai) for e in db.session.scalars(sa.select(Establishment))]
    if form.validate_on_submit():
        user = db.session.get(User, form.user_id.data)
        establishment = db.session.get(Establishment, form.establishment_id.data) \
            if form.establishment_id.data else None
        try:
            services.enroll_corrector(session=session, user=user, establishment=establishment,
                                      actor=current_user)
        except E6Error as exc:
            db.session.rollback()
            _flash_error(exc)
        else:
            if _commit():
                flash(f"{user.display_name} est inscrit comme correcteur.", "success")
    else:
        flash("Choisissez un correcteur dans la liste.", "error")
    return redirect(url_for("e6.manage", code=session.code))


@bp.route("/gestion/e6/correcteurs/<int:corrector_id>/retirer", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def remove_corrector(corrector_id: int):
    """Withdraw a correcteur who has no lot."""
    corrector = db.session.get(E6Corrector, corrector_id) or abort(404)
    session = db.session.get(ExamSession, corrector.session_id)
    if not ConfirmForm().validate_on_submit():
        flash("Cochez la case pour confirmer le retrait.", "error")
        return redirect(url_for("e6.manage", code=session.code))
    try:
        services.remove_corrector(corrector=corrector, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        _flash_error(exc)
    else:
        if _commit():
            flash("Correcteur retiré.", "success")
    return redirect(url_for("e6.manage", code=session.code))


@bp.route("/gestion/sessions/<code>/e6/lots", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def form_lots(code: str):
    """Form the lots (balanced; no correcteur marks their own establishment)."""
    session = _session_or_404(code)
    if not ConfirmForm().validate_on_submit():
        flash("Cochez la case pour confirmer la formation des lots.", "error")
        return redirect(url_for("e6.manage", code=session.code))
    try:
        lots = services.form_lots(session=session, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        _flash_error(exc)
    else:
        if _commit():
            flash(f"{len(lots)} lot(s) formé(s).", "success")
    return redirect(url_for("e6.manage", code=session.code))


@bp.route("/gestion/sessions/<code>/e6/correspondance")
@roles_required(Role.GESTIONNAIRE)
def correspondence(code: str):
    """The anonymous number <-> candidate table, kept by the académie only."""
    session = _session_or_404(code)
    return render_template("e6/correspondence.html", session=session,
                           rows=services.correspondence(session.id))


@bp.route("/gestion/sessions/<code>/e6/harmonisation")
@roles_required(Role.GESTIONNAIRE)
def harmonisation(code: str):
    """Per correcteur: count, mean, standard deviation, distribution against all copies."""
    session = _session_or_404(code)
    rows, everyone = services.harmonisation_stats(session.id)
    lots = services.session_lots(session.id)
    return render_template(
        "e6/harmonisation.html", session=session, rows=rows, everyone=everyone,
        plot=plot.build_plot(rows, everyone, int(services.max_mark())) if rows else None,
        open_lots=[lot for lot in lots if lot.state == "open"],
        adjust_forms={lot.id: AdjustForm(prefix=f"lot{lot.id}") for lot in lots},
        reason_forms={lot.id: ReasonForm(prefix=f"lot{lot.id}") for lot in lots},
        confirm_form=ConfirmForm(),
        copies={lot.id: services.lot_copies(lot) for lot in lots if lot.state != "open"})


def _managed_lot(lot_id: int) -> E6Lot:
    lot = db.session.get(E6Lot, lot_id)
    if lot is None:
        abort(404)
    if not can_manage(current_user):
        abort(403)
    return lot


def _back_to_harmonisation(lot: E6Lot):
    session = db.session.get(ExamSession, lot.session_id)
    return redirect(url_for("e6.harmonisation", code=session.code) + f"#lot-{lot.id}")


@bp.route("/gestion/e6/lots/<int:lot_id>/ajuster", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def adjust_lot(lot_id: int):
    """Adjust a validated lot (coefficient and/or points), with its reason."""
    lot = _managed_lot(lot_id)
    form = AdjustForm(prefix=f"lot{lot.id}")
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(" ".join(errors), "error")
        return _back_to_harmonisation(lot)
    try:
        factor = services.parse_decimal(form.factor.data, what="Coefficient")
        offset = services.parse_decimal(form.offset.data, what="Points ajoutés")
        adjustment = services.adjust_lot(lot=lot, factor=factor, offset_points=offset,
                                         reason=form.reason.data, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        _flash_error(exc)
    else:
        if _commit():
            flash(f"Lot {lot.code} ajusté ({adjustment.description}) : "
                  f"{len(adjustment.changes)} note(s) recalculée(s).", "success")
    return _back_to_harmonisation(lot)


@bp.route("/gestion/e6/lots/<int:lot_id>/definitif", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def finalize_lot(lot_id: int):
    """Make a validated lot's marks final."""
    lot = _managed_lot(lot_id)
    if not ConfirmForm().validate_on_submit():
        flash("Cochez la case pour confirmer.", "error")
        return _back_to_harmonisation(lot)
    try:
        services.finalize_lot(lot=lot, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        _flash_error(exc)
    else:
        if _commit():
            flash(f"Lot {lot.code} définitif.", "success")
    return _back_to_harmonisation(lot)


@bp.route("/gestion/e6/lots/<int:lot_id>/rouvrir", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def reopen_lot(lot_id: int):
    """Send a validated lot back to its correcteur."""
    lot = _managed_lot(lot_id)
    form = ReasonForm(prefix=f"lot{lot.id}")
    if not form.validate_on_submit():
        flash("Indiquez le motif de la réouverture.", "error")
        return _back_to_harmonisation(lot)
    try:
        services.reopen_lot(lot=lot, reason=form.reason.data, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        _flash_error(exc)
    else:
        if _commit():
            flash(f"Lot {lot.code} rouvert : le correcteur peut de nouveau le modifier.", "success")
    return _back_to_harmonisation(lot)


@bp.route("/gestion/sessions/<code>/e6/levee", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def lift(code: str):
    """Lift anonymity once every lot is final; refused with what is missing otherwise."""
    session = _session_or_404(code)
    if not ConfirmForm().validate_on_submit():
        flash("Cochez la case pour confirmer la levée d'anonymat.", "error")
        return redirect(url_for("e6.manage", code=session.code))
    try:
        services.lift_anonymity(session=session, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        _flash_error(exc)
    else:
        if _commit():
            flash("Anonymat levé : le bordereau et l'export des résultats sont disponibles.",
                  "success")
    return redirect(url_for("e6.manage", code=session.code))


def _released_session_or_redirect(code: str) -> ExamSession:
    session = _session_or_404(code)
    if not services.is_released(session.id):
        flash("Disponible après la levée d'anonymat.", "error")
        abort(redirect(url_for("e6.manage", code=session.code)))
    return session


@bp.route("/gestion/sessions/<code>/e6/bordereau.pdf")
@roles_required(Role.GESTIONNAIRE)
def bordereau(code: str):
    """The E6 bordereau de notation (PDF), after the levée d'anonymat."""
    session = _released_session_or_redirect(code)
    return _file_response(documents.bordereau_pdf(session=session), "application/pdf",
                          f"bordereau-e6-{session.code}.pdf")


# ---- correcteur: anonymous copies only -------------------------------------


def _own_lot(lot_id: int) -> E6Lot:
    lot = db.session.scalar(sa.select(E6Lot).where(E6Lot.id == lot_id,
                                                   E6Lot.corrector_id == current_user.id))
    if lot is None:
        abort(403 if db.session.get(E6Lot, lot_id) else 404)
    return lot


@bp.route("/correction/")
@roles_required(Role.CORRECTEUR)
def correcteur_home():
    """The correcteur's home: the lots of anonymous copies assigned to them."""
    lots = services.corrector_lots(current_user.id)
    progress = {}
    for lot in lots:
        question_ids = {q.id for q in services.questions(lot.session_id)}
        copies = services.lot_copies(lot)
        progress[lot.id] = (sum(1 for c in copies if services.copy_is_complete(c, question_ids)),
                            len(copies))
    return render_template("e6/correcteur_home.html", lots=lots, progress=progress)


@bp.route("/correction/lots/<int:lot_id>")
@roles_required(Role.CORRECTEUR)
def lot(lot_id: int):
    """Mark the lot's anonymous copies: points per question, autosaved, totals computed."""
    lot = _own_lot(lot_id)
    session = db.session.get(ExamSession, lot.session_id)
    questions = services.questions(lot.session_id)
    copies = services.lot_copies(lot)
    points = {c.id: {p.question_id: p.points for p in c.points} for c in copies}
    question_ids = {q.id for q in questions}
    complete = sum(1 for c in copies if services.copy_is_complete(c, question_ids))
    return render_template("e6/lot.html", lot=lot, session=session, questions=questions,
                           copies=copies, points=points, complete=complete,
                           form=CsrfOnlyForm(), confirm_form=ConfirmForm(),
                           adjusted={a.id: {m.copy_id: m for m in a.changes}
                                     for a in lot.adjustments})


def _json_error(message: str, status: int, field: str | None = None):
    return {"ok": False, "error": message, "field": field}, status


@bp.route("/correction/lots/<int:lot_id>/copies/<anonymous_number>", methods=["POST"])
@roles_required(Role.CORRECTEUR)
def save_copy(lot_id: int, anonymous_number: str):
    """Autosave one copy's points and comment (JSON; CSRF token in X-CSRFToken)."""
    lot = _own_lot(lot_id)
    copy = db.session.scalar(sa.select(E6Copy).where(
        E6Copy.lot_id == lot.id, E6Copy.anonymous_number == anonymous_number[:20]))
    if copy is None:
        return _json_error("Copie inconnue dans ce lot : rechargez la page.", 404)
    if (request.content_length or 0) > MAX_SAVE_BYTES:
        return _json_error("Saisie trop volumineuse : rien n'a été enregistré.", 413)
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("points"), dict) \
            or not isinstance(data.get("version"), int) or isinstance(data.get("version"), bool) \
            or not isinstance(data.get("comment", ""), str):
        return _json_error("Saisie illisible : rechargez la page. Rien n'a été enregistré.", 400)
    try:
        services.save_copy(copy=copy, points=data["points"], comment=data.get("comment"),
                           version=data["version"], actor=current_user)
    except StaleCopy as exc:
        db.session.rollback()
        return _json_error(exc.message, 409)
    except E6Error as exc:
        db.session.rollback()
        return _json_error(exc.message, 409 if "validé" in exc.message else 422, exc.field)
    except (StaleDataError, sa.exc.IntegrityError):
        # Another save of the same copy won the race (two tabs, a replayed request).
        db.session.rollback()
        return _json_error(CONCURRENT_SAVE, 409)
    try:
        db.session.commit()
    except (StaleDataError, sa.exc.IntegrityError):
        db.session.rollback()
        return _json_error(CONCURRENT_SAVE, 409)
    from exam_app.formatting import decimal_fr, local_datetime

    return {"ok": True, "version": copy.version,
            "total": decimal_fr(copy.raw_total) if copy.raw_total is not None else None,
            "partial": decimal_fr(sum(p.points for p in copy.points)),
            "complete": copy.raw_total is not None,
            "saved_at": local_datetime(copy.updated_at) if copy.updated_at else None}


@bp.route("/correction/lots/<int:lot_id>/valider", methods=["POST"])
@roles_required(Role.CORRECTEUR)
def validate_lot(lot_id: int):
    """The correcteur validates the lot (every copy fully marked)."""
    lot = _own_lot(lot_id)
    if not ConfirmForm().validate_on_submit():
        flash("Cochez la case pour confirmer la validation du lot.", "error")
        return redirect(url_for("e6.lot", lot_id=lot.id))
    try:
        services.validate_lot(lot=lot, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        _flash_error(exc)
    else:
        if _commit():
            flash(f"Lot {lot.code} validé. Merci !", "success")
    return redirect(url_for("e6.lot", lot_id=lot.id))
