"""Académie pages (sessions, candidates, import, centres, establishments, users) and
the candidate's home. The session dashboard and the chef de centre's home, which
also show commissions, are in ``overview``."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError

from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.enrolment import services, views_registration, views_setup
from exam_app.enrolment.blueprint import bp
from exam_app.enrolment.forms import CandidateImportForm
from exam_app.enrolment.models import Candidate, Centre, Establishment, ExamSession
from exam_app.errors import Conflict
from exam_app.extensions import db
from exam_app.permissions import roles_required, session_or_404
from exam_app.units import UnitForm, all_units

__all__ = ["bp", "views_registration", "views_setup"]


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    # Nine digits at most: a longer number overflows the database's integers (a 500).
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


@bp.route("/gestion/")
@roles_required(Role.GESTIONNAIRE)
def dashboard():
    """Open the most recent session's dashboard (or the list when there is none)."""
    sessions = db.session.scalars(
        sa.select(ExamSession).order_by(ExamSession.year.desc(), ExamSession.id.desc())
    ).all()
    if len(sessions) == 1 or (sessions and not request.args.get("toutes")):
        return redirect(url_for("overview.session_dashboard", code=sessions[0].code))
    return render_template("enrolment/sessions.html", sessions=sessions)


def candidate_filters() -> services.CandidateFilters:
    """The candidates list's filters from the query string (``centre=aucun``: without one)."""
    return services.CandidateFilters(
        q=request.args.get("q", "")[:100],
        establishment_id=_int_arg("etablissement"),
        centre_id=_int_arg("centre"),
        without_centre=request.args.get("centre") == "aucun",
        form=request.args.get("forme") or None,
    )


@bp.route("/gestion/sessions/<code>/candidats")
@roles_required(Role.GESTIONNAIRE)
def candidates(code: str):
    """Search, filter and page through the session's candidates."""
    session = session_or_404(code)
    filters = candidate_filters()
    page = services.paginate(
        services.candidate_query(session, filters),
        page=_int_arg("page") or 1,
        per_page=current_app.config["CANDIDATES_PER_PAGE"],
    )
    establishments = sorted(db.session.scalars(
        sa.select(Establishment)
        .where(Establishment.id.in_(
            sa.select(Candidate.establishment_id).where(Candidate.session_id == session.id)
        ))
    ).all(), key=services.by_name)
    return render_template(
        "enrolment/candidates.html",
        session=session,
        page=page,
        filters=filters,
        establishments=establishments,
        centres=session.centres,
        forms=list(UnitForm),
        move_form=FlaskForm(),
        empty_filters=services.CandidateFilters(),
    )


@bp.route("/gestion/sessions/<code>/candidats/import", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def import_candidates(code: str):
    """Import candidates from a CSV file: all rows valid, or nothing written."""
    session = session_or_404(code)
    form = CandidateImportForm()
    report = None
    status = 200
    if form.validate_on_submit():
        limit = current_app.config["IMPORT_MAX_BYTES"]
        data = form.file.data.stream.read(limit + 1)
        if len(data) > limit:
            flash(
                f"Le fichier dépasse {limit // (1024 * 1024)} Mo : découpez-le. "
                "Rien n'a été importé.",
                "error",
            )
            status = 413
        else:
            try:
                report = services.import_candidates(
                    session=session,
                    data=data,
                    actor=current_user,
                    max_rows=current_app.config["IMPORT_MAX_ROWS"],
                    filename=form.file.data.filename or "",
                )
                if report.ok:
                    db.session.commit()
            except IntegrityError:
                # Another import wrote the same candidate numbers or UAI in the meantime.
                db.session.rollback()
                flash(
                    "Un autre import a enregistré les mêmes candidats au même moment : "
                    "rien n'a été importé par celui-ci. Réimportez le fichier.",
                    "error",
                )
                report = None
                status = 409
            except Conflict as exc:  # e.g. the results are locked by the closed délibération
                db.session.rollback()
                flash(f"{exc.message} Rien n'a été importé.", "error")
                report = None
                status = 409
            if report is not None and report.ok:
                flash(
                    f"Import terminé : {report.created} candidat(s) créé(s), "
                    f"{report.updated} mis à jour, {report.unchanged} inchangé(s).",
                    "success",
                )
                return redirect(url_for("enrolment.candidates", code=session.code))
            if report is not None:
                db.session.rollback()
                status = 422
    elif request.method == "POST":
        status = 400
    return render_template("enrolment/import.html", session=session, form=form,
                           report=report), status


@bp.route("/gestion/utilisateurs")
@roles_required(Role.GESTIONNAIRE)
def users():
    """Accounts and their roles, filterable by role."""
    role = request.args.get("role", "")
    where = ()
    if role in {r.value for r in Role}:
        where = (User.id.in_(sa.select(RoleAssignment.user_id).where(
            RoleAssignment.role == role)),)
    page = services.paginate_users_by_name(where, page=_int_arg("page") or 1, per_page=100)
    centres_by_id = {c.id: c for c in db.session.scalars(sa.select(Centre))}
    return render_template("enrolment/users.html", page=page, role=role, roles=list(Role),
                           centres_by_id=centres_by_id, nav_session=views_setup.nav_session())


@bp.route("/candidat/")
@roles_required(Role.CANDIDAT)
def candidate_home():
    """The candidate's home: identity, centre and the units they sit."""
    candidates = db.session.scalars(
        sa.select(Candidate).where(Candidate.id.in_(current_user.candidate_ids()))
    ).all()
    return render_template("enrolment/candidate_home.html", candidates=candidates,
                           units=all_units())
