"""The délibération pages: the jury's (its sessions, the candidates and their results, the
distributions, a candidate's record with the change form, the closing, the procès-verbal)
and the gestionnaire's (composition, reopening, other units and their marks' import)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from exam_app.accounts.models import Role
from exam_app.deliberation import other_units as others
from exam_app.deliberation import services
from exam_app.downloads import attachment
from exam_app.errors import ServiceError
from exam_app.extensions import db
from exam_app.permissions import (
    can_read_deliberation_pv,
    candidate_for_jury_or_404,
    deliberation_for_member_or_403,
    roles_required,
    session_or_404,
)
from exam_app.results import deliberation as pages
from exam_app.results.compute import candidate_results
from exam_app.results.forms_deliberation import (
    ChangeResultForm,
    ConfirmForm,
    JuryForm,
    MarksImportForm,
    OtherUnitForm,
    ReasonForm,
)
from exam_app.units import all_units

bp = Blueprint("deliberation", __name__)


def _page_arg() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def _refused(error: ServiceError, form=None) -> None:
    """Show a refusal on the form's field when it names one, else as a message."""
    target = getattr(form, error.field, None) if form is not None and error.field else None
    if target is not None:
        target.errors = [*target.errors, error.message]
    else:
        flash(error.message, "error")


# ---- the jury ------------------------------------------------------------------------------


@bp.route("/deliberation")
@roles_required(Role.JURY_DELIBERATION)
def home():
    """The sessions whose jury de délibération names the user."""
    return render_template("deliberation/home.html",
                           deliberations=services.member_sessions(current_user.id))


@bp.route("/deliberation/<code>")
@roles_required(Role.JURY_DELIBERATION)
def candidates(code: str):
    """The session's candidates with their results (search, filter, pages)."""
    session, deliberation = deliberation_for_member_or_403(code)
    q = request.args.get("q", "")[:100]
    only = request.args.get("filtre", "")
    if only not in pages.FILTERS:
        only = ""
    found, rows = pages.candidates_page(session, q=q, only=only, page=_page_arg(),
                                        per_page=current_app.config["CANDIDATES_PER_PAGE"])
    return render_template("deliberation/candidates.html", session=session,
                           deliberation=deliberation, page=found, rows=rows, q=q, only=only,
                           filters=pages.FILTERS, units=all_units(),
                           other_units=others.other_units(session.id),
                           members=pages.jury_members(deliberation),
                           close_form=ConfirmForm(prefix="close"))


@bp.route("/deliberation/<code>/repartition")
@roles_required(Role.JURY_DELIBERATION)
def distributions(code: str):
    """The marks' distributions per commission (E4, E5) and per correcteur (E6)."""
    session, deliberation = deliberation_for_member_or_403(code)
    return render_template("deliberation/distributions.html", session=session,
                           deliberation=deliberation, blocks=pages.distributions(session.id))


@bp.route("/deliberation/<code>/candidats/<int:candidate_id>", methods=["GET", "POST"])
@roles_required(Role.JURY_DELIBERATION)
def candidate(code: str, candidate_id: int):
    """A candidate's results with their provenance and the jury's changes; change one."""
    session, deliberation = deliberation_for_member_or_403(code)
    person = candidate_for_jury_or_404(session, candidate_id)
    forms = {u.code: ChangeResultForm(prefix=u.code, formdata=None) for u in all_units()}
    status = 200
    if request.method == "POST":
        unit_code = request.form.get("unit", "")
        if unit_code not in forms:
            abort(400)
        form = forms[unit_code] = ChangeResultForm(prefix=unit_code)
        if form.validate_on_submit():
            try:
                version = int(form.version.data or "0")
            except ValueError:
                abort(400)
            # What the result is now, as every reader prints it (kept with the change).
            before = candidate_results(person)[unit_code].printed
            try:
                services.change_result(session_id=session.id, candidate_id=person.id,
                                       unit_code=unit_code, value=form.result.data,
                                       reason=form.reason.data, version=version,
                                       before=before, actor=current_user)
            except ServiceError as error:
                db.session.rollback()
                _refused(error, form)
                status = error.status if error.status != 422 else 400
            else:
                db.session.commit()
                flash(f"Résultat {unit_code} modifié : la modification et son motif figurent "
                      "au dossier du candidat.", "success")
                return redirect(url_for(".candidate", code=code, candidate_id=person.id))
        else:
            status = 400
    record = pages.candidate_record(session, person)
    for unit_code, form in forms.items():
        if request.method == "GET" or form.version.data is None:
            form.version.data = str(record["versions"][unit_code])
    return render_template("deliberation/candidate.html", session=session,
                           deliberation=deliberation, candidate=person, forms=forms,
                           units=all_units(), **record), status


@bp.route("/deliberation/<code>/cloture", methods=["POST"])
@roles_required(Role.JURY_DELIBERATION)
def close(code: str):
    """The president closes the délibération: results locked, procès-verbal available."""
    session, deliberation = deliberation_for_member_or_403(code)
    form = ConfirmForm(prefix="close")
    if not form.validate_on_submit():
        flash("Cochez la case pour confirmer la clôture.", "error")
        return redirect(url_for(".candidates", code=code))
    try:
        pages.close(session=session, actor=current_user)
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for(".candidates", code=code))
    db.session.commit()
    flash("Délibération close : les résultats sont verrouillés. Le procès-verbal est "
          "disponible.", "success")
    return redirect(url_for(".candidates", code=code))


@bp.route("/deliberation/<code>/proces-verbal.pdf")
@roles_required(Role.JURY_DELIBERATION, Role.GESTIONNAIRE)
def pv(code: str):
    """The procès-verbal de délibération (PDF, signed QR), once closed."""
    session = session_or_404(code)
    deliberation = services.deliberation_of(session.id)
    if not can_read_deliberation_pv(current_user, deliberation):
        abort(403)
    if deliberation is None or not deliberation.is_closed:
        flash("Le procès-verbal est disponible une fois la délibération close.", "error")
        if current_user.has_role(Role.GESTIONNAIRE):
            return redirect(url_for(".manage", code=code))
        return redirect(url_for(".candidates", code=code))
    return attachment(pages.pv_pdf(session=session, deliberation=deliberation),
                      mimetype="application/pdf", filename=f"pv-deliberation-{session.code}.pdf")


# ---- the gestionnaire ----------------------------------------------------------------------


@bp.route("/gestion/sessions/<code>/deliberation", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def manage(code: str):
    """The jury's composition, its state (reopen when closed), the other units."""
    session = session_or_404(code)
    deliberation = services.deliberation_of(session.id)
    people = services.jury_candidates()
    form = JuryForm()
    form.president.choices = [(0, "— choisir —")] + [(u.id, u.display_name) for u in people]
    form.members.choices = [(u.id, u.display_name) for u in people]
    status = 200
    if request.method == "GET" and deliberation is not None:
        form.president.data = deliberation.president_id or 0
        form.members.data = [m.user_id for m in deliberation.members]
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                services.set_jury(session=session, president_id=form.president.data or None,
                                  member_ids=form.members.data or [], actor=current_user)
                db.session.flush()
            except ServiceError as error:
                db.session.rollback()
                _refused(error, form)
                status = 400
            except IntegrityError:  # the first composition, saved by another at the same time
                db.session.rollback()
                flash("La composition vient d'être enregistrée par ailleurs : rechargez la page.",
                      "error")
                status = 409
            else:
                db.session.commit()
                flash("Composition du jury de délibération enregistrée.", "success")
                return redirect(url_for(".manage", code=code))
        else:
            status = 400
    return render_template("deliberation/manage.html", session=session,
                           deliberation=deliberation, form=form, people=people,
                           reopen_form=ReasonForm(prefix="reopen", formdata=None),
                           other_units=others.other_units(session.id)), status


@bp.route("/gestion/sessions/<code>/deliberation/reouverture", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def reopen(code: str):
    """Reopen a closed délibération, with a reason (audited)."""
    session = session_or_404(code)
    form = ReasonForm(prefix="reopen")
    return _confirmed(
        form, lambda: services.reopen(session_id=session.id, reason=form.reason.data,
                                      actor=current_user),
        unconfirmed="Indiquez le motif et cochez la case pour confirmer la réouverture.",
        done="Délibération rouverte : les résultats sont de nouveau modifiables.",
        back=url_for(".manage", code=code))


def _confirmed(form, act, *, unconfirmed: str, done: str, back: str):
    """A confirmed action of the gestionnaire: refused without the confirmation, the
    service's refusal flashed, else committed; back to ``back`` in every case."""
    if not form.validate_on_submit():
        flash(unconfirmed, "error")
        return redirect(back)
    try:
        act()
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(back)
    db.session.commit()
    flash(done, "success")
    return redirect(back)


@bp.route("/gestion/sessions/<code>/deliberation/epreuves", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def units(code: str):
    """The diploma's other units and their coefficients (session data, no default)."""
    session = session_or_404(code)
    form = OtherUnitForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                others.save_other_unit(session=session, code=form.code.data,
                                       label=form.label.data, coefficient=form.coefficient.data,
                                       actor=current_user)
            except ServiceError as error:
                db.session.rollback()
                _refused(error, form)
                status = 400
            else:
                db.session.commit()
                flash(f"Épreuve {form.code.data.strip().upper()} enregistrée.", "success")
                return redirect(url_for(".units", code=code))
        else:
            status = 400
    return render_template("deliberation/units.html", session=session, form=form,
                           other_units=others.other_units(session.id),
                           delete_form=ConfirmForm(prefix="delete", formdata=None)), status


@bp.route("/gestion/sessions/<code>/deliberation/epreuves/<int:unit_id>/suppression",
          methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def delete_unit(code: str, unit_id: int):
    """Remove another unit and its imported marks (confirmed)."""
    session = session_or_404(code)
    return _confirmed(
        ConfirmForm(prefix="delete"),
        lambda: others.delete_other_unit(session=session, unit_id=unit_id, actor=current_user),
        unconfirmed="Cochez la case pour confirmer la suppression.",
        done="Épreuve supprimée, avec ses notes importées.",
        back=url_for(".units", code=code))


@bp.route("/gestion/sessions/<code>/deliberation/notes", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def import_marks(code: str):
    """Import the other units' marks (CSV), all or nothing."""
    from exam_app.enrolment.views_setup import run_import

    session = session_or_404(code)
    units = others.other_units(session.id)
    form = MarksImportForm()
    try:
        report, status, done = run_import(
            form, lambda data, name: others.import_other_marks(
                session=session, data=data, actor=current_user, filename=name,
                max_rows=current_app.config["IMPORT_MAX_ROWS"]),
            done=url_for(".units", code=code),
            message=lambda r: f"{r.marks} résultat(s) importé(s) pour {r.rows} candidat(s).")
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
        report, status, done = None, 409 if error.status == 409 else 400, None
    if done:
        return redirect(done)
    return render_template("deliberation/import.html", session=session, form=form,
                           report=report, other_units=units), status
