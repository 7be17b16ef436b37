"""Repair and publication on the planification page (issue 15): signal an absence, see
the diff, apply it; publish the plan; the candidates to inform (page and CSV)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Response, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import SelectChoice

from exam_app.accounts.models import Role, User
from exam_app.extensions import db
from exam_app.formatting import french_sort_key
from exam_app.juries import commissions as commission_service
from exam_app.juries import planning_runs, publication, repair
from exam_app.juries.blueprint import bp
from exam_app.juries.errors import JuryError
from exam_app.juries.forms import ApplyPlanForm, PlanRunForm, PublishForm, RepairForm
from exam_app.juries.models import Commission, CommissionMember
from exam_app.permissions import roles_required, session_or_404

# The last repair proposed per session (this process), until applied or replaced.
_proposals: dict[int, repair.RepairProposal] = {}


def _choices(form: RepairForm, session) -> None:
    members = sorted(db.session.scalars(
        sa.select(User).join(CommissionMember, CommissionMember.user_id == User.id)
        .join(Commission, Commission.id == CommissionMember.commission_id)
        .where(Commission.session_id == session.id).distinct()).all(),
        key=lambda u: (french_sort_key(u.last_name, u.first_name), u.id))
    name = lambda u: f"{u.last_name} {u.first_name}"  # noqa: E731
    form.user_id.choices = [SelectChoice(0, "— choisir —")] + [
        SelectChoice(u.id, name(u)) for u in members]
    form.commission_id.choices = [SelectChoice(0, "— aucune —")] + [
        SelectChoice(c.id, c.code) for c in db.session.scalars(
            sa.select(Commission).where(Commission.session_id == session.id,
                                        Commission.form == "ponctuel")
            .order_by(Commission.code))]
    teachers, pros = commission_service.juror_choices()
    people = {u.id: u for u in [*teachers, *pros]}
    form.replacement_id.choices = [SelectChoice(0, "— aucun —")] + [
        SelectChoice(u.id, name(u)) for u in sorted(
            people.values(), key=lambda u: (u.last_name, u.first_name, u.id))]


def page(session, *, run_form=None, repair_form=None, status=200):
    """The planification page with its repair and publication parts."""
    repair_form = repair_form or RepairForm(prefix="repair")
    _choices(repair_form, session)
    return render_template(
        "juries/planification.html", session=session, form=run_form or PlanRunForm(prefix="run"),
        apply_form=ApplyPlanForm(prefix="apply"), run=planning_runs.current(session.id),
        busy=planning_runs.running(), repair_form=repair_form,
        repair_apply_form=ApplyPlanForm(prefix="repair-apply"),
        publish_form=PublishForm(prefix="publish"), repair=_proposals.get(session.id),
        publication=publication.last_publication(session.id),
        to_inform=publication.to_inform(session.id),
        informed=publication.last_informed(session.id)), status


@bp.route("/gestion/sessions/<code>/planification/absence", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def planification_repair(code: str):
    session = session_or_404(code)
    form = RepairForm(prefix="repair")
    _choices(form, session)
    if not form.validate_on_submit():
        return page(session, repair_form=form, status=400)
    if bool(form.user_id.data) == bool(form.commission_id.data):
        form.user_id.errors = [*form.user_id.errors,
                               "Choisissez un juré absent ou une commission (l'un des deux)."]
        return page(session, repair_form=form, status=400)
    if form.replacement_id.data and not form.user_id.data:
        form.replacement_id.errors = [*form.replacement_id.errors,
                                      "Un remplaçant remplace un juré : choisissez le juré "
                                      "absent."]
        return page(session, repair_form=form, status=400)
    if form.replacement_id.data and form.replacement_id.data == form.user_id.data:
        form.replacement_id.errors = [*form.replacement_id.errors,
                                      "Le remplaçant doit être un autre juré."]
        return page(session, repair_form=form, status=400)
    lost = repair.Lost(form.day.data, user_id=form.user_id.data or None,
                       commission_id=form.commission_id.data or None)
    try:
        proposal = repair.propose_repair(
            session=session, lost=[lost], time_limit=form.time_limit.data,
            replacements=({form.user_id.data: form.replacement_id.data}
                          if form.replacement_id.data else None))
    except JuryError as error:
        form.user_id.errors = [*form.user_id.errors, error.message]
        return page(session, repair_form=form, status=400)
    _proposals[session.id] = proposal
    return redirect(url_for("juries.planification", code=session.code) + "#repair-title")


@bp.route("/gestion/sessions/<code>/planification/absence/appliquer", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def planification_repair_apply(code: str):
    session = session_or_404(code)
    form = ApplyPlanForm(prefix="repair-apply")
    proposal = _proposals.get(session.id)
    if not form.validate_on_submit() or proposal is None:
        flash("Aucune réparation à appliquer : signalez d'abord l'absence.", "error")
        return redirect(url_for("juries.planification", code=session.code))
    try:
        repair.apply_repair(session=session, repair=proposal, actor=current_user)
        db.session.commit()
    except JuryError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("juries.planification", code=session.code))
    _proposals.pop(session.id, None)
    flash(f"Réparation appliquée : {len(proposal.moves)} passage(s) déplacé(s).", "success")
    return redirect(url_for("juries.planification", code=session.code) + "#inform-title")


@bp.route("/gestion/sessions/<code>/planification/publier", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def planification_publish(code: str):
    session = session_or_404(code)
    if not PublishForm(prefix="publish").validate_on_submit():
        flash("Formulaire expiré : rechargez la page.", "error")
        return redirect(url_for("juries.planification", code=session.code))
    try:
        row = publication.publish_plan(session=session, actor=current_user)
        db.session.commit()
    except JuryError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("juries.planification", code=session.code))
    flash(f"Planning publié : {row.passages} passages.", "success")
    return redirect(url_for("juries.planification", code=session.code))


@bp.route("/gestion/sessions/<code>/planification/a-prevenir.csv")
@roles_required(Role.GESTIONNAIRE)
def planification_to_inform_csv(code: str):
    session = session_or_404(code)
    # The changes not yet published, else those the last publication superseded.
    text = publication.to_inform_csv(publication.to_inform(session.id)
                                     or publication.last_informed(session.id))
    return Response("\ufeff" + text, mimetype="text/csv",
                    headers={"Content-Disposition":
                             f'attachment; filename="a-prevenir-{session.code}.csv"'})


