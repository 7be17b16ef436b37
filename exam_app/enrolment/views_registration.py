"""The candidate's page for the académie: status and per-unit registration (bénéfice,
dispense), and the registrations CSV. Thin: the services check and audit."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from exam_app.accounts.models import Role
from exam_app.enrolment import registration, results_lock
from exam_app.enrolment.blueprint import bp
from exam_app.enrolment.forms import CandidateImportForm, RegistrationForm, StatusForm
from exam_app.enrolment.models import Candidate, CandidateStatus, ExamSession, RegistrationKind
from exam_app.enrolment.views_setup import run_import
from exam_app.errors import Conflict
from exam_app.extensions import db
from exam_app.formatting import decimal_fr
from exam_app.permissions import roles_required, session_or_404
from exam_app.units import all_units, get_unit


def _candidate_or_404(session: ExamSession, number: str) -> Candidate:
    candidate = db.session.scalar(sa.select(Candidate).where(
        Candidate.session_id == session.id, Candidate.number == number.upper()))
    if candidate is None:
        abort(404)
    return candidate


def _unit_forms(candidate: Candidate, bound: dict | None = None) -> dict[str, RegistrationForm]:
    """One registration form per unit, filled from what is recorded."""
    forms = {}
    for unit in all_units():
        if bound and unit.code in bound:
            forms[unit.code] = bound[unit.code]
            continue
        row = candidate.registration(unit.code)
        data = {"kind": RegistrationKind.SIT.value, "form": ""}
        if row is not None:
            data = {"kind": row.kind.value, "form": row.form.value if row.form else "",
                    "kept_mark": decimal_fr(row.kept_mark),
                    "kept_year": str(row.kept_year or ""), "reason": row.reason}
        forms[unit.code] = RegistrationForm(prefix=unit.code, data=data, formdata=None)
    return forms


def _page(session, candidate, *, status_form=None, bound=None, status=200):
    return render_template(
        "enrolment/candidate.html", session=session, candidate=candidate,
        status_form=status_form or StatusForm(
            formdata=None, data={"status": candidate.status.value if candidate.status else ""}),
        unit_forms=_unit_forms(candidate, bound), units=all_units(),
        default_form=registration.default_form(candidate.status, candidate.establishment),
        locked=results_lock.locked_message(session.id),
    ), status


@bp.route("/gestion/sessions/<code>/candidats/<number>")
@roles_required(Role.GESTIONNAIRE)
def candidate(code: str, number: str):
    """A candidate's status and registration for each unit."""
    session = session_or_404(code)
    return _page(session, _candidate_or_404(session, number))


def _refused(session: ExamSession, candidate: Candidate, error: Conflict):
    """The candidate's page again (409), which says why (the lock's notice); nothing written."""
    db.session.rollback()
    flash("Modification refusée : rien n'a été modifié.", "error")
    return _page(session, candidate, status=409)


@bp.route("/gestion/sessions/<code>/candidats/<number>/statut", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def candidate_status(code: str, number: str):
    """Change the candidate's status (the default form of E5 follows)."""
    session = session_or_404(code)
    candidate = _candidate_or_404(session, number)
    form = StatusForm()
    if not form.validate_on_submit():
        return _page(session, candidate, status_form=form, status=400)
    status = CandidateStatus(form.status.data) if form.status.data else None
    try:
        changed = registration.set_status(candidate=candidate, status=status,
                                          actor=current_user)
    except Conflict as exc:  # the délibération is closed: the results are locked
        return _refused(session, candidate, exc)
    if changed:
        db.session.commit()
        flash("Statut enregistré.", "success")
    return redirect(url_for("enrolment.candidate", code=session.code, number=candidate.number))


@bp.route("/gestion/sessions/<code>/candidats/<number>/inscription/<unit_code>",
          methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def candidate_registration(code: str, number: str, unit_code: str):
    """Record how the candidate is registered for one unit."""
    session = session_or_404(code)
    candidate = _candidate_or_404(session, number)
    try:
        unit = get_unit(unit_code)
    except KeyError:
        abort(404)
    form = RegistrationForm(prefix=unit.code)
    if form.validate_on_submit():
        try:
            value = registration.validate(
                session=session, candidate=candidate, unit_code=unit.code, kind=form.kind.data,
                form=form.form.data or None, kept_mark=form.kept_mark.data,
                kept_year=form.kept_year.data, reason=form.reason.data)
        except registration.RegistrationError as exc:
            for name, message in exc.errors.items():
                getattr(form, name).errors = [*getattr(form, name).errors, message]
        else:
            try:
                changed = registration.set_registration(candidate=candidate,
                                                        registration=value, actor=current_user)
            except Conflict as exc:  # the délibération is closed: the results are locked
                return _refused(session, candidate, exc)
            if changed:
                db.session.commit()
                flash(f"Inscription à l'{unit.code} enregistrée.", "success")
            return redirect(url_for("enrolment.candidate", code=session.code,
                                    number=candidate.number))
    db.session.rollback()
    return _page(session, candidate, bound={unit.code: form}, status=400)


@bp.route("/gestion/sessions/<code>/candidats/inscriptions", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def import_registrations(code: str):
    """Import bénéfices, dispenses and forms per unit from a CSV: all rows or nothing."""
    session = session_or_404(code)
    form = CandidateImportForm()
    report, status, done = run_import(
        form, lambda data, name: registration.import_registrations(
            session=session, data=data, actor=current_user, filename=name,
            max_rows=current_app.config["IMPORT_MAX_ROWS"]),
        done=url_for("enrolment.candidates", code=session.code),
        message=lambda r: (f"Import terminé : {r.changed} inscription(s) modifiée(s), "
                           f"{r.unchanged} inchangée(s)."))
    if done:
        return redirect(done)
    return render_template("enrolment/registrations_import.html", session=session, form=form,
                           report=report), status
