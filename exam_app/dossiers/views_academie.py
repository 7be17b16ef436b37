"""The académie's side of the dossiers: deposit deadlines and extensions, the
deposit dashboard and its CSV, and the conformity control (queue, reasons,
one dossier's checklist and decision)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import (
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from wtforms import SelectChoice

from exam_app.accounts.models import Role
from exam_app.clock import local_zone, to_local
from exam_app.db_types import database_int
from exam_app.dossiers import conformity, dashboards, dashboards_sql, filerules, pdfcheck, state
from exam_app.dossiers import deadlines as deadline_services
from exam_app.dossiers.blueprint import bp, error_json, error_response
from exam_app.dossiers.common import DepositError, units_with_dossier
from exam_app.dossiers.forms import (
    ConfirmForm,
    DeadlineForm,
    DecisionForm,
    ExtensionForm,
    FileRulesForm,
)
from exam_app.dossiers.internships import internship_days, internships
from exam_app.dossiers.models import Decision
from exam_app.dossiers.validity import unit_validity
from exam_app.downloads import attachment_stream
from exam_app.enrolment.models import Candidate, ExamSession
from exam_app.errors import Invalid, ServiceError
from exam_app.extensions import begin_read_snapshot, db
from exam_app.permissions import (
    dossier_for_reader_or_403,
    dossier_unit_or_404,
    establishment_in_session_or_404,
    roles_required,
    session_or_404,
)

# ---- deadlines, extensions ------------------------------------------------------------


def _paris_to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=local_zone()).astimezone(UTC)


@bp.route("/gestion/sessions/<code>/dossiers/echeances", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def deadlines(code: str):
    """Set the deposit deadline of each unit with a dossier."""
    session = session_or_404(code)
    units = units_with_dossier()
    status = 200
    form = DeadlineForm()
    if request.method == "POST":
        if form.validate_on_submit() and form.unit.data in {u.code for u in units}:
            try:
                deadline_services.set_deadline(session=session, unit_code=form.unit.data,
                                               deadline_at=_paris_to_utc(form.deadline.data),
                                               actor=current_user)
            except ServiceError as error:
                db.session.rollback()
                flash(error.message, "error")
                status = error.status
            else:
                db.session.commit()
                flash(f"Date limite de l'épreuve {form.unit.data} enregistrée.", "success")
                return redirect(url_for("dossiers.deadlines", code=session.code))
        else:
            flash("Date invalide : utilisez le sélecteur de date et d'heure.", "error")
            status = 400
    return _deadlines_page(session, status)


def _deadlines_page(session, status: int = 200, rules_form: FileRulesForm | None = None):
    """The deadlines page, with the session's rules for deposited files."""
    rows = []
    for unit in units_with_dossier():
        deadline = deadline_services.session_deadline(session_id=session.id, unit_code=unit.code)
        unit_form = DeadlineForm(formdata=None, unit=unit.code,
                                 deadline=to_local(deadline).replace(tzinfo=None)
                                 if deadline else None)
        rows.append((unit, deadline, unit_form))
    rules = filerules.file_rules(session)
    rules_form = rules_form or FileRulesForm(formdata=None, max_pages=rules["max_pages"])
    return render_template("dossiers/deadlines.html", session=session, rows=rows,
                           rules=rules, rules_form=rules_form,
                           kinds=pdfcheck.ACTIVE_KINDS.values()), status


@bp.route("/gestion/sessions/<code>/dossiers/regles-fichiers", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def file_rules(code: str):
    """Set the session's page cap and active-content policy for deposited files."""
    session = session_or_404(code)
    form = FileRulesForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(message, "error")
        return _deadlines_page(session, 400, form)
    policy = {code_: request.form.get(f"policy-{code_}", kind.default)
              for code_, kind in pdfcheck.ACTIVE_KINDS.items()}
    try:
        filerules.set_file_rules(session=session, max_pages=form.max_pages.data, policy=policy,
                                 actor=current_user)
    except DepositError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _deadlines_page(session, error.status, form)
    db.session.commit()
    flash("Règles des fichiers déposés enregistrées (pour les prochains dépôts).", "success")
    return redirect(url_for("dossiers.deadlines", code=session.code) + "#regles-fichiers")


@bp.route("/gestion/dossiers/<int:candidate_id>/<unit_code>/derogation", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def extension(candidate_id: int, unit_code: str):
    """Grant (or withdraw) an individual extension of the deadline, with a reason."""
    candidate, _ = dossier_for_reader_or_403(candidate_id, unit_code)
    form = ExtensionForm()
    status = 200
    if form.validate_on_submit():
        until = _paris_to_utc(form.until.data) if form.until.data else None
        try:
            deadline_services.grant_extension(candidate=candidate, unit_code=unit_code,
                                              until=until, reason=form.reason.data,
                                              actor=current_user)
        except DepositError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            flash("Dérogation enregistrée." if until else "Dérogation retirée.", "success")
            return redirect(url_for("dossiers.check", candidate_id=candidate.id,
                                    unit_code=unit_code))
    elif request.method == "POST":
        status = 400
    view = state.dossier_view(candidate=candidate, unit_code=unit_code)
    return render_template("dossiers/extension.html", view=view, form=form), status


# ---- deposit dashboard and CSV ------------------------------------------------------------

@bp.route("/gestion/sessions/<code>/dossiers/")
@roles_required(Role.GESTIONNAIRE)
def dashboard(code: str):
    """Per unit and establishment: deposited / incomplete / missing (counted in SQL), and
    a page of DEPOSIT_PAGE candidates of one state or establishment (``statut``,
    ``etablissement``, ``page``): its cost follows the page, not the session."""
    session = session_or_404(code)
    units = units_with_dossier()
    unit_code = request.args.get("unite") or units[0].code
    dossier_unit_or_404(unit_code)
    labels = dashboards.STATUS_LABELS
    status = request.args.get("statut") or None
    if status is not None and status not in labels:
        raise Invalid("État de dépôt inconnu : choisissez Déposé, Incomplet ou Absent.",
                      status=400)
    page = _page_number(request.args.get("page"))
    # Not an id, or beyond the database's range: ignored (tests/test_bad_input.py).
    establishment_id = request.args.get("etablissement", type=database_int)
    establishment = (establishment_in_session_or_404(session, establishment_id)
                     if establishment_id is not None else None)
    paths = dashboards_sql if current_app.config.get(
        "DEPOSIT_DASHBOARD_PATH", "fast") == "fast" else dashboards
    rows = paths.establishment_rows(session=session, unit_code=unit_code)
    listing = paths.deposit_list(session=session, unit_code=unit_code, status=status,
                                 establishment_id=establishment_id, page=page,
                                 size=DEPOSIT_PAGE, rows=rows) if status or establishment else None
    totals = {k: sum(r[k] for r in rows) for k in labels}
    return render_template(
        "dossiers/dashboard.html", session=session, units=units, unit_code=unit_code, rows=rows,
        totals=totals, listing=listing, status=status, establishment=establishment,
        labels=labels,
        deadline=deadline_services.session_deadline(session_id=session.id, unit_code=unit_code))


DEPOSIT_PAGE = 100  # candidates a page of the deposit dashboard's list shows


def _page_number(value: str | None) -> int:
    """The ``page`` query argument: 1 when absent, a 400 unless a whole number from 1."""
    if value is None or value == "":
        return 1
    if not value.isascii() or not value.isdigit() or len(value) > 9 or int(value) < 1:
        raise Invalid("Numéro de page invalide : un nombre entier à partir de 1.", status=400)
    return int(value)


@bp.route("/gestion/sessions/<code>/dossiers/depots.csv")
@roles_required(Role.GESTIONNAIRE)
def dashboard_csv(code: str):
    """The deposit state of every candidate for a unit, as CSV (Excel-friendly), streamed a
    batch of candidates at a time from one snapshot of the database."""
    session = session_or_404(code)
    unit_code = request.args.get("unite") or units_with_dossier()[0].code
    dossier_unit_or_404(unit_code)
    session_id, filename = session.id, f"depots-{session.code}-{unit_code}.csv"
    db.session.rollback()  # the snapshot is the transaction's first read

    def body():
        begin_read_snapshot()
        yield from dashboards.stream_deposits_csv(
            session=db.session.get(ExamSession, session_id), unit_code=unit_code)

    return attachment_stream(stream_with_context(body()), mimetype="text/csv",
                             filename=filename)


# ---- conformity control ---------------------------------------------------------------------

@bp.route("/gestion/sessions/<code>/conformite/<unit_code>")
@roles_required(Role.GESTIONNAIRE)
def queue(code: str, unit_code: str):
    """The conformity queue: the unit's candidates by name, driven by the keyboard, a page
    of QUEUE_PAGE at a time (``apres``: the last candidate of the previous page), so that
    its cost follows the page and not the session."""
    session = session_or_404(code)
    dossier_unit_or_404(unit_code)
    pending_only = request.args.get("tous") is None
    page = dashboards.queue_page(session=session, unit_code=unit_code, pending_only=pending_only,
                                 after=request.args.get("apres", type=database_int),
                                 size=QUEUE_PAGE)
    return render_template("dossiers/queue.html", session=session, unit_code=unit_code,
                           views=page.views, total=page.total, decided=page.decided,
                           next_after=page.next_after, first_page=page.first_page,
                           pending_only=pending_only, units=units_with_dossier(),
                           labels=dashboards.STATUS_LABELS, Decision=Decision)


QUEUE_PAGE = 100  # candidates a page of the conformity queue lists


def _submitted_reasons(current: list[conformity.Reason]) -> list[conformity.Reason]:
    """The reason list as the form submits it: kept, relabelled, NV effect, one new."""
    updated = []
    for reason in current:
        if request.form.get(f"remove-{reason.code}"):
            continue
        label = (request.form.get(f"label-{reason.code}") or reason.label).strip()
        updated.append(conformity.Reason(reason.code, label[:200],
                                         bool(request.form.get(f"nv-{reason.code}"))))
    new_label = (request.form.get("new_label") or "").strip()
    if new_label:
        updated.append(conformity.Reason(conformity.reason_code(new_label), new_label[:200],
                                         bool(request.form.get("new_nv"))))
    return updated


@bp.route("/gestion/sessions/<code>/conformite/motifs", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def reasons(code: str):
    """Configure the non-conformity reasons and which ones make the unit NV."""
    session = session_or_404(code)
    current = conformity.reasons_for(session.id)
    form = ConfirmForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                conformity.configure_reasons(session=session, reasons=_submitted_reasons(current),
                                             actor=current_user)
            except DepositError as error:
                db.session.rollback()
                flash(error.message, "error")
                status = 400
            else:
                db.session.commit()
                flash("Motifs de non-conformité enregistrés.", "success")
                return redirect(url_for("dossiers.reasons", code=session.code))
        else:
            status = 400
    return render_template("dossiers/reasons.html", session=session, reasons=current, form=form), status


def _decision_form(candidate: Candidate) -> DecisionForm:
    form = DecisionForm()
    form.reasons.choices = [SelectChoice(r.code, r.label + ("" if r.makes_nv else " (sans effet NV)"))
                            for r in conformity.reasons_for(candidate.session_id)]
    return form


@bp.route("/gestion/conformite/<int:candidate_id>/<unit_code>", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def check(candidate_id: int, unit_code: str):
    """One dossier's checklist and decision (full page, or ``?fragment=1`` for the queue)."""
    candidate, _ = dossier_for_reader_or_403(candidate_id, unit_code)
    form = _decision_form(candidate)
    wants_json = request.accept_mimetypes.best == "application/json"
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                conformity.decide(candidate=candidate, unit_code=unit_code,
                                  decision=Decision(form.decision.data),
                                  reasons=form.reasons.data or [], comment=form.comment.data or "",
                                  revision_reason=form.revision_reason.data,
                                  confirm_missing=form.confirm_missing.data,
                                  confirm_early=form.confirm_early.data,
                                  missing_elements=(form.missing_elements.data or "").splitlines(),
                                  actor=current_user)
            except DepositError as error:
                db.session.rollback()
                if wants_json:
                    return error_response(error)
                flash(error.message, "error")
                status = error.status
            else:
                db.session.commit()
                validity = unit_validity(candidate_id=candidate.id, unit_code=unit_code)
                if wants_json:
                    return jsonify({"decision": form.decision.data, "validity": validity.value,
                                    "label": validity.label})
                flash(f"Décision enregistrée pour {candidate.full_name} : {validity.label}.",
                      "success")
                return redirect(url_for("dossiers.check", candidate_id=candidate.id,
                                        unit_code=unit_code))
        else:
            status = 400
            if wants_json:
                messages = [m for errors in form.errors.values() for m in errors]
                return error_json("invalid", " ".join(messages) or "Formulaire invalide.", 400)
    return _check_page(candidate, unit_code, form), status


def _check_page(candidate: Candidate, unit_code: str, form: DecisionForm) -> str:
    """The checklist page (or its fragment, for the queue)."""
    view = state.dossier_view(candidate=candidate, unit_code=unit_code)
    periods = internships(candidate.id)
    context = {
        "view": view, "form": form, "checks": conformity.automatic_checks(view),
        "missing": conformity.missing_pieces(view),
        "validity": unit_validity(candidate_id=candidate.id, unit_code=unit_code),
        "reasons": {r.code: r.label for r in conformity.reasons_for(candidate.session_id)},
        "periods": periods, "Decision": Decision, "days": internship_days(periods),
    }
    template = "dossiers/_check.html" if request.args.get("fragment") else "dossiers/check.html"
    return render_template(template, **context)
