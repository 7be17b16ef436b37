"""Setting up a session (issue 13, items 1 and 2): create and edit a session (identity,
time zone, unit dates, rules), establishments and centres by form or CSV. Thin: the
services in ``sessions`` and ``reference`` check and audit; these views commit once."""

from __future__ import annotations

import functools
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from exam_app.accounts.mail import Mailer, MailError, MailSettings
from exam_app.accounts.models import Role
from exam_app.accounts.tokens import duration_label
from exam_app.downloads import attachment
from exam_app.enrolment import activation, people, reference, services, sessions
from exam_app.enrolment.blueprint import bp
from exam_app.enrolment.forms import (
    ActivationLinksForm,
    CentreForm,
    EstablishmentForm,
    IdentityForm,
    PersonForm,
    ReferenceImportForm,
    ReleveForm,
    RulesForm,
    SessionForm,
    UnitDatesForm,
)
from exam_app.enrolment.models import Candidate, Establishment, ExamSession
from exam_app.errors import Conflict, ServiceError
from exam_app.extensions import db
from exam_app.formatting import local_datetime
from exam_app.permissions import roles_required, session_or_404
from exam_app.units import UnitKind, all_units


def _show_error(form, error: ServiceError) -> None:
    """The refusal under its field when the form has it, else as a message."""
    target = getattr(form, error.field, None) if error.field else None
    if target is not None and hasattr(target, "errors"):
        target.errors = [*target.errors, error.message]
    else:
        flash(error.message, "error")


def _save_one(form, save, *, race_message: str) -> tuple[object | None, int]:
    """Run ``save`` for a submitted, valid form and commit: (what it saved, 200); else
    (None, the page's status) with the refusal shown, under its field when it has one.
    A unique violation means the same row was saved at once elsewhere: 409, said so."""
    if not form.validate_on_submit():
        return None, 400 if request.method == "POST" else 200
    try:
        saved = save()
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        _show_error(form, error)
        return None, error.status
    except IntegrityError:
        db.session.rollback()
        flash(race_message, "error")
        return None, 409
    return saved, 200


@bp.route("/gestion/sessions/nouvelle", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def new_session():
    """Create a session: code, label, académie, year and time zone (rules by default)."""
    form = SessionForm()
    session, status = _save_one(form, lambda: sessions.create_session(
        actor=current_user, code=form.code.data, name=form.name.data,
        academie=form.academie.data, year=form.year.data, timezone=form.timezone.data),
        race_message="Une session avec ce code vient d'être créée : choisissez un autre code.")
    if session is not None:
        flash(f"Session {session.code} créée. Fixez maintenant ses dates et ses règles.",
              "success")
        return redirect(url_for("enrolment.session_settings", code=session.code))
    return render_template("enrolment/session_new.html", form=form), status


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    return value.replace(tzinfo=zone) if value else None


def _dates_forms(session) -> list[tuple]:
    """One dates form per unit, filled with its current dates in the session's zone."""
    zone = ZoneInfo(session.timezone)
    rows = []
    for unit in all_units():
        dates = sessions.unit_dates(session)[unit.code]

        def naive(value):
            return value.astimezone(zone).replace(tzinfo=None) if value else None

        form = UnitDatesForm(formdata=None, prefix=f"{unit.code}-",
                             deposit_opens_at=naive(dates.deposit_opens_at),
                             deposit_deadline_at=naive(dates.deposit_deadline_at),
                             orals_start_on=dates.orals_start_on, orals_end_on=dates.orals_end_on,
                             written_at=naive(dates.written_at))
        rows.append((unit, form))
    return rows


@bp.route("/gestion/sessions/<code>/parametres", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def session_settings(code: str):
    """Edit the session: identity and time zone, each unit's dates, the rules."""
    session = session_or_404(code)
    section = request.form.get("section", "") if request.method == "POST" else ""
    identity = IdentityForm(formdata=request.form if section == "identite" else None,
                            obj=session)
    rules = RulesForm(formdata=request.form if section == "regles" else None,
                      data={"mark_step": str(session.mark_step.normalize()),
                            "internship_min_days": session.internship_min_days,
                            "e4_fiche_max_pages": session.e4_fiche_max_pages,
                            "e6_duration_minutes": session.e6_duration_minutes,
                            "nv_excludes_interview": "1" if session.nv_excludes_interview
                            else "0", "ccf_combination": session.ccf_combination})
    zone = ZoneInfo(session.timezone)
    releve = ReleveForm(formdata=request.form if section == "releve" else None,
                        releve_published_at=session.releve_published_at.astimezone(zone)
                        .replace(tzinfo=None) if session.releve_published_at else None)
    dates_rows = _dates_forms(session)
    status = 200
    if request.method == "POST":
        forms = {"identite": identity, "regles": rules, "releve": releve}
        for index, (unit, _) in enumerate(dates_rows):
            if section == f"dates-{unit.code}":
                forms[section] = UnitDatesForm(prefix=f"{unit.code}-")
                dates_rows[index] = (unit, forms[section])
        form = forms.get(section)
        if form is None or not form.validate_on_submit():
            status = 400
            if form is None:
                flash("Formulaire inconnu : rechargez la page.", "error")
        else:
            try:
                message = _save_section(session, section.split("-", 1)[0], form,
                                        unit_code=section.split("-", 1)[-1])
                db.session.commit()
            except ServiceError as error:
                db.session.rollback()
                session = session_or_404(code)
                _show_error(form, error)
                status = error.status
            else:
                flash(message, "success")
                return redirect(url_for("enrolment.session_settings", code=session.code))
    return render_template(
        "enrolment/session_settings.html", session=session, identity=identity, rules=rules,
        dates_rows=dates_rows, in_use=sessions.rules_in_use(session),
        rule_labels=sessions.RULE_LABELS, oral=UnitKind.ORAL, written=UnitKind.WRITTEN,
        releve=releve,
    ), status


def _save_section(session, section: str, form, *, unit_code: str) -> str:
    """Call the service for the posted section; the success message."""
    if section == "identite":
        changed = sessions.update_identity(
            session=session, actor=current_user, name=form.name.data,
            academie=form.academie.data, year=form.year.data, timezone=form.timezone.data)
        return "Session enregistrée." if changed else "Aucun changement."
    if section == "regles":
        changed = sessions.change_rules(
            session=session, actor=current_user, reason=form.reason.data or "",
            mark_step=form.mark_step.data, internship_min_days=form.internship_min_days.data,
            e4_fiche_max_pages=form.e4_fiche_max_pages.data,
            e6_duration_minutes=form.e6_duration_minutes.data,
            nv_excludes_interview=form.nv_excludes_interview.data == "1",
            ccf_combination=form.ccf_combination.data)
        if not changed:
            return "Aucun changement de règle."
        return ("Règles enregistrées : " + ", ".join(sessions.RULE_LABELS[r] for r in changed)
                + ".")
    zone = ZoneInfo(session.timezone)
    if section == "releve":
        at = _local(form.releve_published_at.data, zone)
        if not sessions.set_releve_publication(session=session, actor=current_user,
                                               published_at=at):
            return "Aucun changement."
        return (f"Relevés de notes publiés dans l'espace des candidats à partir du "
                f"{local_datetime(at)}." if at else
                "Relevés de notes retirés de l'espace des candidats (non publiés).")
    sessions.set_unit_dates(
        session=session, actor=current_user, unit_code=unit_code,
        deposit_opens_at=_local(form.deposit_opens_at.data, zone),
        deposit_deadline_at=_local(form.deposit_deadline_at.data, zone),
        orals_start_on=form.orals_start_on.data, orals_end_on=form.orals_end_on.data,
        written_at=_local(form.written_at.data, zone))
    return f"Dates de l'épreuve {unit_code} enregistrées."


# --- reference data -----------------------------------------------------------------

def _read_upload(form) -> bytes | None:
    """The uploaded file's bytes, or None (with a message) when it is too large."""
    limit = current_app.config["IMPORT_MAX_BYTES"]
    data = form.file.data.stream.read(limit + 1)
    if len(data) > limit:
        flash(f"Le fichier dépasse {limit // (1024 * 1024)} Mo : découpez-le. "
              "Rien n'a été importé.", "error")
        return None
    return data


def reference_done_message(report) -> str:
    """What a successful reference import says (establishments, centres, people)."""
    return (f"Import terminé : {report.created} créé(s), {report.updated} mis à jour, "
            f"{report.unchanged} inchangé(s)"
            + (f" ; salles : {report.rooms_created} créée(s), {report.rooms_updated} mise(s) "
               "à jour" if report.rooms_created or report.rooms_updated else "") + ".")


def run_import(form, do_import, *, done: str, message=reference_done_message):
    """Validate the upload form and run a CSV import, all or nothing: (report, status,
    redirect or None). Too large: 413; refused rows: 422 with the report, nothing
    written; a concurrent import of the same rows: 409; imported: committed, ``message``
    flashed and a redirect to ``done``. Every import page of the app goes through it."""
    if not form.validate_on_submit():
        return None, 400 if request.method == "POST" else 200, None
    data = _read_upload(form)
    if data is None:
        return None, 413, None
    try:
        report = do_import(data, form.file.data.filename or "")
    except IntegrityError:
        db.session.rollback()
        flash("Un autre import a enregistré les mêmes lignes au même moment : rien n'a été "
              "importé par celui-ci. Réimportez le fichier.", "error")
        return None, 409, None
    except Conflict as exc:  # e.g. the results are locked by the closed délibération
        db.session.rollback()
        flash(f"{exc.message} Rien n'a été importé.", "error")
        return None, 409, None
    if not report.ok:
        db.session.rollback()
        return report, 422, None
    db.session.commit()
    flash(message(report), "success")
    return report, 302, done


def _import_page(do_import, *, kind: str, session, done: str):
    """The import page of one kind of reference data: the report of a refused file (422,
    nothing written), or a redirect to ``done`` once imported."""
    form = ReferenceImportForm()
    report, status, redirect_to = run_import(
        form, lambda data, name: do_import(data=data, actor=current_user, filename=name,
                                           max_rows=current_app.config["IMPORT_MAX_ROWS"]),
        done=done)
    if redirect_to:
        return redirect(redirect_to)
    return render_template("enrolment/reference_import.html", form=form, report=report,
                           kind=kind, session=session), status


def nav_session() -> ExamSession | None:
    """The session whose sub-menu the académie-wide pages (users, establishments) show: the
    one named by ``?session=`` (the sub-menu's links carry it), else the most recent."""
    code = request.args.get("session")
    query = sa.select(ExamSession)
    if code:
        found = db.session.scalar(query.where(ExamSession.code == code))
        if found is not None:
            return found
    return db.session.scalar(query.order_by(ExamSession.year.desc(), ExamSession.id.desc())
                             .limit(1))


@bp.route("/gestion/etablissements", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def establishments():
    """All establishments known to the académie; add or correct one."""
    form = EstablishmentForm()
    saved, status = _save_one(form, lambda: reference.save_establishment(
        actor=current_user, uai=form.uai.data, name=form.name.data, kind=form.kind.data,
        city=form.city.data or "", ccf=bool(form.ccf.data)),
        race_message="Cet établissement vient d'être enregistré par ailleurs : rechargez la page.")
    if saved is not None:
        flash(f"Établissement {saved.uai} enregistré.", "success")
        return redirect(url_for("enrolment.establishments"))
    rows = sorted(db.session.execute(
        sa.select(Establishment, sa.func.count(Candidate.id))
        .outerjoin(Candidate, Candidate.establishment_id == Establishment.id)
        .group_by(Establishment.id)
    ).all(), key=lambda row: services.by_name(row[0]))
    return render_template("enrolment/establishments.html", rows=rows, form=form,
                           nav_session=nav_session()), status


@bp.route("/gestion/etablissements/import", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def import_establishments():
    """Import establishments from a CSV file: all rows valid, or nothing written."""
    return _import_page(reference.import_establishments, kind="establishments", session=None,
                        done=url_for("enrolment.establishments"))


@bp.route("/gestion/sessions/<code>/centres", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def centres(code: str):
    """The session's exam centres, rooms and candidate counts; add or correct one."""
    session = session_or_404(code)
    form = CentreForm()
    saved, status = _save_one(form, lambda: reference.save_centre(
        session=session, actor=current_user, code=form.code.data, name=form.name.data,
        address=form.address.data or "", postal_code=form.postal_code.data or "",
        city=form.city.data or "", room=form.room.data or "",
        capacity=form.capacity.data or "", workstations=form.workstations.data or ""),
        race_message="Ce centre vient d'être enregistré par ailleurs : rechargez la page.")
    if saved is not None:
        flash(f"Centre {saved.code} enregistré.", "success")
        return redirect(url_for("enrolment.centres", code=session.code))
    session = session_or_404(code)  # after a rollback, read afresh
    counts = services.dashboard_counts(session)
    return render_template("enrolment/centres.html", session=session, counts=counts,
                           form=form), status


@bp.route("/gestion/sessions/<code>/centres/import", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def import_centres(code: str):
    """Import the session's centres and rooms from a CSV file, all or nothing."""
    session = session_or_404(code)
    return _import_page(functools.partial(reference.import_centres, session=session),
                        kind="centres", session=session,
                        done=url_for("enrolment.centres", code=session.code))


@bp.route("/gestion/sessions/<code>/personnes", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def people_page(code: str):
    """The session's jurors, correcteurs, chefs de centre and gestionnaires; add one."""
    session = session_or_404(code)
    form = PersonForm()
    saved, status = _save_one(form, lambda: people.save_person(
        session=session, actor=current_user, last_name=form.last_name.data,
        first_name=form.first_name.data, email=form.email.data, role=form.role.data,
        uai=form.uai.data or "", company=form.company.data or "",
        centre=form.centre.data or ""),
        race_message="Cette personne vient d'être enregistrée par ailleurs : rechargez la page.")
    if saved is not None:
        flash(f"{saved.first_name} {saved.last_name} enregistré(e).", "success")
        return redirect(url_for("enrolment.people_page", code=session.code))
    session = session_or_404(code)  # after a rollback, read afresh
    staff = activation.staff()
    profiles = people.profiles([u.id for u in staff])
    return render_template("enrolment/people.html", session=session, form=form, staff=staff,
                           profiles=profiles, accounts=activation.statuses(staff),
                           links_form=ActivationLinksForm(formdata=None),
                           activation_validity=duration_label(
                               int(current_app.config["ACTIVATION_MAX_AGE"])),
                           mail_enabled=MailSettings.from_config(current_app.config).configured,
                           centre_codes={c.id: c.code for c in session.centres}), status


@bp.route("/gestion/sessions/<code>/personnes/activation", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def activation_links(code: str):
    """New activation links for the people ticked (or all pending): e-mailed, or downloaded
    as a CSV file, or printed as letters. Each replaces the person's previous link."""
    session = session_or_404(code)
    back = redirect(url_for("enrolment.people_page", code=session.code))
    form = ActivationLinksForm()
    action = request.form.get("action", "")
    if not form.validate_on_submit() or action not in ("send", "csv", "letters"):
        flash("Choisissez une action : envoyer les liens, les télécharger ou imprimer les "
              "lettres.", "error")
        return back
    ids = None if form.scope.data == "all" else [
        int(v) for v in request.form.getlist("person") if v.isdigit() and len(v) < 10]
    pending = activation.pending_people(ids)
    if not pending:
        flash("Aucune personne en attente d'activation " + (
            "dans la session." if ids is None else "parmi les personnes cochées (cochez-en, ou "
            "choisissez « Toutes les personnes en attente »)."), "error")
        return back
    max_age = int(current_app.config["ACTIVATION_MAX_AGE"])
    try:
        if action == "send":
            return _send_links(session, pending, max_age, back)
        links = activation.issue_links(session=session, people=pending, actor=current_user,
                                       channel=action, max_age_seconds=max_age)
        if action == "csv":
            data, mimetype, name = (activation.links_csv(links), "text/csv",
                                    f"liens-activation-{session.code}.csv")
        else:
            data, mimetype, name = (activation.letters_pdf(session=session, links=links),
                                    "application/pdf", f"lettres-activation-{session.code}.pdf")
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "error")
        return back
    db.session.commit()
    return attachment(data, mimetype=mimetype, filename=name)


def _send_links(session, pending, max_age: int, back):
    settings = MailSettings.from_config(current_app.config)
    if not settings.configured:
        flash("L'envoi de courriels n'est pas configuré sur ce serveur : téléchargez les liens "
              "(CSV) ou imprimez les lettres d'activation.", "error")
        return back
    try:
        with Mailer(settings) as mailer:
            outcomes = activation.send_links(session=session, people=pending,
                                             actor=current_user, mailer=mailer,
                                             max_age_seconds=max_age)
            db.session.commit()
    except MailError as error:
        db.session.rollback()
        activation.connection_failed(session=session, people=pending, actor=current_user,
                                     error=error.message)
        db.session.commit()
        flash(error.message, "error")
        return back
    sent = [o for o in outcomes if o.ok]
    if sent:
        flash(f"Lien d'activation envoyé à {len(sent)} personne{'s' if len(sent) > 1 else ''} : "
              + ", ".join(f"{o.user.display_name} ({o.user.email})" for o in sent) + ".",
              "success")
    for outcome in outcomes:
        if not outcome.ok:
            flash(f"Non envoyé à {outcome.user.display_name} : {outcome.message} Son lien "
                  "précédent, s'il en avait un, reste valable.", "error")
    return back


@bp.route("/gestion/sessions/<code>/personnes/import", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def import_people(code: str):
    """Import people and their roles from a CSV file, all or nothing."""
    session = session_or_404(code)
    return _import_page(functools.partial(people.import_people, session=session),
                        kind="people", session=session,
                        done=url_for("enrolment.people_page", code=session.code))
