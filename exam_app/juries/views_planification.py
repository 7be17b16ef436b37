"""The planification page: run the solver in the background, watch its progress and
gap, apply the plan it proposes (issue 15)."""

from __future__ import annotations

from flask import current_app, flash, redirect, url_for
from flask_login import current_user

from exam_app.accounts.models import Role
from exam_app.extensions import db
from exam_app.juries import planning_runs, solver
from exam_app.juries.blueprint import bp
from exam_app.juries.errors import JuryError
from exam_app.juries.forms import ApplyPlanForm, PlanRunForm
from exam_app.juries.views_repair import page
from exam_app.permissions import roles_required, session_or_404


def _page(session, form, status=200):
    return page(session, run_form=form, status=status)


@bp.route("/gestion/sessions/<code>/planification")
@roles_required(Role.GESTIONNAIRE)
def planification(code: str):
    """The last run of the solver for the session, and the form to start one."""
    session = session_or_404(code)
    return _page(session, PlanRunForm(prefix="run"))


@bp.route("/gestion/sessions/<code>/planification", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def planification_start(code: str):
    session = session_or_404(code)
    form = PlanRunForm(prefix="run")
    if not form.validate_on_submit():
        return _page(session, form, 400)
    run = planning_runs.start(current_app._get_current_object(), session_id=session.id,
                              time_limit=form.time_limit.data)
    if run is None:
        flash("Un calcul de planification est déjà en cours : attendez sa fin.", "error")
    return redirect(url_for("juries.planification", code=session.code))


@bp.route("/gestion/sessions/<code>/planification/appliquer", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def planification_apply(code: str):
    session = session_or_404(code)
    form = ApplyPlanForm(prefix="apply")
    run = planning_runs.current(session.id)
    if not form.validate_on_submit() or run is None or run.proposal is None:
        flash("Aucun plan à appliquer : lancez d'abord la planification.", "error")
        return redirect(url_for("juries.planification", code=session.code))
    try:
        written = solver.apply_plan(session=session, proposal=run.proposal, actor=current_user)
        db.session.commit()
    except JuryError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("juries.planification", code=session.code))
    planning_runs.forget(session.id)
    flash(f"Plan appliqué : {len(written)} passages écrits.", "success")
    return redirect(url_for("juries.commissions", code=session.code))
