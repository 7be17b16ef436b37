"""E6 pages of the académie: the session's E6 workflow, barème, correcteurs, lots
and the correspondence table."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.e6 import bareme as bareme_service
from exam_app.e6 import lots as lots_service
from exam_app.e6 import release as release_service
from exam_app.e6.blueprint import bp, commit, flash_error
from exam_app.e6.common import E6Error
from exam_app.e6.definition import E6
from exam_app.e6.forms import BaremeForm, ConfirmForm, CorrectorForm, CsrfOnlyForm
from exam_app.e6.models import E6Corrector, E6Sitting
from exam_app.enrolment.models import Candidate, Establishment, ExamSession
from exam_app.extensions import db
from exam_app.formatting import french_sort_key
from exam_app.permissions import lot_copy_for_manager_or_404, roles_required, session_or_404


@bp.route("/gestion/sessions/<code>/e6/")
@roles_required(Role.GESTIONNAIRE)
def manage(code: str):
    """The E6 workflow for a session: sitting, barème, correcteurs, lots, levée d'anonymat."""
    session = session_or_404(code)
    lots = lots_service.session_lots(session.id)
    attendance = dict(db.session.execute(
        sa.select(E6Sitting.attendance, sa.func.count(Candidate.id))
        .select_from(Candidate)
        .outerjoin(E6Sitting, E6Sitting.candidate_id == Candidate.id)
        .where(Candidate.session_id == session.id, Candidate.sits_in(E6.code))
        .group_by(E6Sitting.attendance)).all())
    markers = lots_service.correctors(session.id)
    form = CorrectorForm()
    enrolled = {m.user_id for m in markers}
    form.user_id.choices = [(0, "— choisir —")] + [
        (u.id, f"{u.display_name} ({u.username})") for u in sorted(db.session.scalars(
            sa.select(User).join(RoleAssignment).where(RoleAssignment.role == Role.CORRECTEUR.value)),
            key=lambda u: (french_sort_key(u.last_name, u.first_name), u.id))
        if u.id not in enrolled]
    form.establishment_id.choices = [(0, "— aucun (professionnel) —")] + [
        (e.id, f"{e.name} ({e.uai})") for e in db.session.scalars(
            sa.select(Establishment).order_by(Establishment.name))]
    return render_template(
        "e6/manage.html", session=session, lots=lots, sizes=lots_service.lot_sizes(session.id),
        attendance=attendance, questions=bareme_service.questions(session.id), markers=markers,
        corrector_form=form, form=CsrfOnlyForm(), confirm_form=ConfirmForm(),
        blockers=release_service.lifting_blockers(session.id),
        release=release_service.release_of(session.id),
        marks_entered=lots_service.marks_entered(session.id),
        conflicts=lots_service.lot_conflicts(session.id) if lots else [],
        centres=session.centres)


@bp.route("/gestion/sessions/<code>/e6/bareme", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def bareme(code: str):
    """Define the barème: one question per line, points totalling 20."""
    session = session_or_404(code)
    form = BaremeForm()
    frozen = bareme_service.lots_exist(session.id)
    errors: list[str] = []
    status = 200
    if form.validate_on_submit():
        try:
            bareme_service.set_bareme(session=session, text=form.text.data, actor=current_user)
        except E6Error as exc:
            db.session.rollback()
            errors = [exc.message, *exc.details]
            status = 422
        else:
            if commit():
                flash("Barème enregistré.", "success")
            return redirect(url_for("e6.manage", code=session.code))
    elif request.method == "POST":
        status = 400
    else:
        form.text.data = bareme_service.bareme_text(session.id)
    return render_template("e6/bareme.html", session=session, form=form, errors=errors,
                           frozen=frozen, questions=bareme_service.questions(session.id)), status


@bp.route("/gestion/sessions/<code>/e6/correcteurs", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def add_corrector(code: str):
    """Enrol a correcteur for the session with their establishment."""
    session = session_or_404(code)
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
            lots_service.enroll_corrector(session=session, user=user, establishment=establishment,
                                          actor=current_user)
        except E6Error as exc:
            db.session.rollback()
            flash_error(exc)
        else:
            if commit():
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
        lots_service.remove_corrector(corrector=corrector, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        flash_error(exc)
    else:
        if commit():
            flash("Correcteur retiré.", "success")
    return redirect(url_for("e6.manage", code=session.code))


@bp.route("/gestion/sessions/<code>/e6/lots", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def form_lots(code: str):
    """Form the lots (balanced; no correcteur marks their own establishment)."""
    session = session_or_404(code)
    if not ConfirmForm().validate_on_submit():
        flash("Cochez la case pour confirmer la formation des lots.", "error")
        return redirect(url_for("e6.manage", code=session.code))
    try:
        lots = lots_service.form_lots(session=session, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        flash_error(exc)
    else:
        if commit():
            flash(f"{len(lots)} lot(s) formé(s).", "success")
    return redirect(url_for("e6.manage", code=session.code))


@bp.route("/gestion/e6/lots/<int:lot_id>/copies/<anonymous_number>/reattribuer",
          methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def move_copy(lot_id: int, anonymous_number: str):
    """Move a copy out of the lot of a correcteur from its candidate's establishment."""
    copy = lot_copy_for_manager_or_404(lot_id, anonymous_number)
    session = db.session.get(ExamSession, copy.session_id)
    back = redirect(url_for("e6.manage", code=session.code) + "#lot-conflicts")
    if not ConfirmForm().validate_on_submit():
        flash("Cochez la case pour confirmer le changement de lot.", "error")
        return back
    number = copy.anonymous_number
    try:
        target = lots_service.move_conflicting_copy(copy=copy, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        flash_error(exc)
    else:
        if commit():
            flash(f"Copie {number} placée dans le lot {target.code} "
                  f"({target.corrector.display_name}).", "success")
    return back


@bp.route("/gestion/sessions/<code>/e6/correspondance")
@roles_required(Role.GESTIONNAIRE)
def correspondence(code: str):
    """The anonymous number <-> candidate table, kept by the académie only."""
    session = session_or_404(code)
    page = max(request.args.get("page", 1, type=int), 1)
    search = (request.args.get("q") or "")[:50]
    # A page of the table at a time: its cost follows the page, not the session.
    rows, total = release_service.correspondence(session.id, page=page,
                                                 per_page=CORRESPONDENCE_PAGE, search=search)
    pages = max(1, -(-total // CORRESPONDENCE_PAGE))
    return render_template("e6/correspondence.html", session=session, rows=rows, total=total,
                           page=page, pages=pages, search=search)


CORRESPONDENCE_PAGE = 200  # rows a page of the correspondence table shows
