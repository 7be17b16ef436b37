"""The gestionnaire's commission pages (issue 13, item 5): form and edit a commission,
import commissions from a CSV file, declare jurors' availability. Thin: ``juries.commissions``
checks and audits; these views fill the lists, show a refusal under its field, and commit
once."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from wtforms import SelectChoice

from exam_app.accounts.models import Role
from exam_app.enrolment.forms import ReferenceImportForm
from exam_app.enrolment.models import Centre, Establishment, ExamSession
from exam_app.enrolment.views_setup import run_import
from exam_app.errors import ServiceError
from exam_app.extensions import db
from exam_app.juries import commissions as service
from exam_app.juries.blueprint import bp
from exam_app.juries.forms import AvailabilityForm, CommissionForm, set_juror_choices
from exam_app.juries.models import Commission, MemberRole, Passage
from exam_app.permissions import commission_for_manager_or_403, roles_required, session_or_404

RACE = ("Une autre personne vient d'enregistrer une commission avec les mêmes données : "
        "rechargez la page.")


def _choices(form: CommissionForm, session: ExamSession) -> None:
    """The form's lists: oral units, the session's centres, establishments, and the jurors
    filtered by profile (teachers; professionals, then teachers who may replace one)."""
    form.unit_code.choices = [SelectChoice(u.code, f"{u.code} — {u.title}")
                              for u in service.oral_units()]
    form.centre_id.choices = [SelectChoice(0, "— aucun —")] + [
        SelectChoice(c.id, f"{c.code} — {c.name}") for c in db.session.scalars(
            sa.select(Centre).where(Centre.session_id == session.id).order_by(Centre.code))]
    form.establishment_id.choices = [SelectChoice(0, "— aucun —")] + [
        SelectChoice(e.id, f"{e.uai} — {e.name}") for e in db.session.scalars(
            sa.select(Establishment).order_by(Establishment.name))]
    teachers, pros = service.juror_choices()
    set_juror_choices(form, teachers, pros,
                      replacing="Enseignants (remplacement du professionnel, motif obligatoire)")


def _fill(form: CommissionForm, commission: Commission) -> None:
    form.code.data, form.unit_code.data, form.form.data = (commission.code, commission.unit_code,
                                                           commission.form)
    form.centre_id.data = commission.centre_id or 0
    form.establishment_id.data = commission.establishment_id or 0
    form.days.data = commission.day_list
    teacher = commission.member(MemberRole.TEACHER)
    second = commission.member(MemberRole.PROFESSIONAL)
    form.teacher_id.data = teacher.user_id if teacher else 0
    form.professional_id.data = second.user_id if second else 0
    form.replacement_reason.data = (second.replacement_reason or "") if second else ""
    form.version.data = commission.version


def _jurors(form: CommissionForm) -> service.Jurors:
    return service.Jurors(form.teacher_id.data or None, form.professional_id.data or None,
                          form.replacement_reason.data or "")


def _save(form, save) -> tuple[object | None, int]:
    """Run ``save`` on a valid submitted form and commit; else the refusal on its field."""
    if not form.validate_on_submit():
        return None, 400 if request.method == "POST" else 200
    try:
        saved = save()
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        target = getattr(form, error.field, None) if error.field else None
        if target is not None and hasattr(target, "errors"):
            target.errors = [*target.errors, error.message]
        else:
            flash(error.message, "error")
        return None, error.status
    except IntegrityError:
        db.session.rollback()
        flash(RACE, "error")
        return None, 409
    return saved, 200


def _warn(commission: Commission) -> None:
    for warning in service.formation_warnings(commission):
        flash(f"À affecter ailleurs : {warning}", "info")


@bp.route("/gestion/sessions/<code>/commissions/nouvelle", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def new_commission(code: str):
    """Form a commission: unit, form, place, days, teacher and professional."""
    session = session_or_404(code)
    form = CommissionForm()
    _choices(form, session)
    saved, status = _save(form, lambda: service.create_commission(
        session=session, actor=current_user, code=form.code.data, unit_code=form.unit_code.data,
        form=form.form.data, days=form.days.data or [], jurors=_jurors(form),
        centre_id=form.centre_id.data or None,
        establishment_id=form.establishment_id.data or None))
    if saved is not None:
        flash(f"Commission {saved.code} formée.", "success")
        _warn(saved)
        return redirect(url_for("juries.commissions", code=session.code))
    return render_template("juries/commission_form.html", session=session, form=form,
                           commission=None, passages=0), status


@bp.route("/gestion/commissions/<int:commission_id>/modifier", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def edit_commission(commission_id: int):
    """Edit a commission as shown (a concurrent edit is refused); removing a juror from a
    commission with passages asks for a confirmation."""
    commission = commission_for_manager_or_403(commission_id)
    session = session_or_404(commission.session.code)
    form = CommissionForm()
    _choices(form, session)
    if request.method == "GET":
        _fill(form, commission)
    form.unit_code.data, form.form.data = commission.unit_code, commission.form
    saved, status = _save(form, lambda: service.update_commission(
        commission=commission, actor=current_user, version=form.version.data or 0,
        code=form.code.data, days=form.days.data or [], jurors=_jurors(form),
        centre_id=form.centre_id.data or None,
        establishment_id=form.establishment_id.data or None,
        confirm_removal=form.confirm_removal.data))
    if saved is not None:
        flash(f"Commission {saved.code} enregistrée.", "success")
        _warn(saved)
        return redirect(url_for("juries.commissions", code=session.code))
    passages = db.session.scalar(sa.select(sa.func.count(Passage.id)).where(
        Passage.commission_id == commission.id))
    return render_template("juries/commission_form.html", session=session, form=form,
                           commission=commission, passages=passages), status


@bp.route("/gestion/sessions/<code>/disponibilites", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def availability(code: str):
    """The jurors' declared availabilities; declare one or several days."""
    session = session_or_404(code)
    form = AvailabilityForm()
    teachers, pros = service.juror_choices()
    people = {u.id: u for u in [*teachers, *pros]}
    form.user_id.choices = [SelectChoice(0, "— choisir —")] + [
        SelectChoice(u.id, f"{u.last_name} {u.first_name}") for u in sorted(
            people.values(), key=lambda u: (u.last_name, u.first_name, u.id))]

    def save():
        if not form.days.data:
            raise service.Invalid("Indiquez au moins un jour.", field="days")
        return sorted({c for day in form.days.data for c in service.set_availability(
            session=session, actor=current_user, user_id=form.user_id.data, day=day,
            available=form.available.data == "1", note=form.note.data or "")})

    booked, status = _save(form, save)
    if booked is not None:
        flash("Disponibilités enregistrées.", "success")
        if booked:
            flash("Ce juré siège ces jours-là dans " + ", ".join(booked)
                  + " : modifiez la commission pour le remplacer.", "error")
        return redirect(url_for("juries.availability", code=session.code))
    return render_template("juries/availability.html", session=session, form=form,
                           rows=service.availabilities(session.id)), status


@bp.route("/gestion/sessions/<code>/commissions/import", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def import_commissions(code: str):
    """Form commissions from a CSV file, all or nothing (errors by line and column)."""
    session = session_or_404(code)
    form = ReferenceImportForm()
    report, status, done = run_import(
        form, lambda data, name: service.import_commissions(
            session=session, data=data, actor=current_user, filename=name,
            max_rows=current_app.config["IMPORT_MAX_ROWS"]),
        done=url_for("juries.commissions", code=session.code),
        message=lambda r: (f"Import terminé : {r.created} créée(s), {r.updated} mise(s) "
                           f"à jour, {r.unchanged} inchangée(s)."))
    if done:
        return redirect(done)
    return render_template("juries/commission_import.html", session=session, form=form,
                           report=report), status
