"""The gestionnaire's jury pages: a session's commissions, a commission's
planning (assign, generate, move, swap), reopening a final mark, and the live
board of a day."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, time
from time import sleep
from time import time as wall_time

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from exam_app.accounts.models import Role
from exam_app.clock import local_zone, to_local, utcnow
from exam_app.dossiers.validity import nv_candidate_ids
from exam_app.extensions import db
from exam_app.juries import board as boards
from exam_app.juries import commissions as commission_service
from exam_app.juries import derogation, lifecycle, push, push_views, validation
from exam_app.juries import planning as plans
from exam_app.juries.blueprint import bp, day_arg
from exam_app.juries.errors import JuryError
from exam_app.juries.forms import (
    AssignForm,
    MoveForm,
    ReopenForm,
    ScheduleForm,
    StartExceptionForm,
    SwapForm,
)
from exam_app.juries.models import Commission, CommissionSettings, Passage
from exam_app.permissions import (
    commission_for_manager_or_403,
    passage_for_manager_or_403,
    roles_required,
    session_or_404,
)
from exam_app.units import get_unit


@bp.route("/gestion/sessions/<code>/commissions")
@roles_required(Role.GESTIONNAIRE)
def commissions(code: str):
    """The session's commissions with their passage counts."""
    session = session_or_404(code)
    rows = db.session.execute(
        sa.select(Commission, sa.func.count(Passage.id))
        .outerjoin(Passage, Passage.commission_id == Commission.id)
        .where(Commission.session_id == session.id)
        .options(selectinload(Commission.days))
        .group_by(Commission.id).order_by(Commission.unit_code, Commission.code)).all()
    return render_template("juries/commissions.html", session=session, rows=rows,
                           get_unit=get_unit, flags=commission_service.unavailable_flags(session.id))


@bp.route("/gestion/commissions/<int:commission_id>/planning", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def planning(commission_id: int):
    """Assign candidates to a commission and generate the day's sequence."""
    commission = commission_for_manager_or_403(commission_id)
    assign_form = AssignForm(prefix="assign")
    schedule_form = ScheduleForm(prefix="plan")
    if request.method == "GET":
        _fill_schedule_defaults(schedule_form, commission)
    status = 200
    if "assign-numbers" in request.form and assign_form.validate_on_submit():
        status = _assign(commission, assign_form)
    elif "plan-go" in request.form and schedule_form.validate_on_submit():
        status = _schedule(commission, schedule_form)
    elif request.method == "POST":
        status = 400
    if status is None:
        return redirect(url_for("juries.planning", commission_id=commission.id))
    passages = plans.commission_passages(commission)
    return render_template(
        "juries/planning.html", commission=commission,
        passages=passages,
        assign_form=assign_form, schedule_form=schedule_form,
        # NV of the commission's candidates only: the page's cost follows the commission.
        nv=nv_candidate_ids(session_id=commission.session_id, unit_code=commission.unit_code,
                            candidate_ids={p.candidate_id for p in passages}),
        status_of=lifecycle.status, status_labels=lifecycle.STATUS_LABELS,
        result_of=lifecycle.result_label, needs_exception=derogation.needs_exception,
        get_unit=get_unit, swap_choices=plans.own_swap_partners(passages),
        variants=plans.variants_for(commission), move_form=MoveForm(), swap_form=SwapForm(),
        unassigned=plans.unassigned_candidates(commission),
    ), status


def _fill_schedule_defaults(form: ScheduleForm, commission: Commission) -> None:
    """The schedule form as last saved for the commission, or the usual day."""
    first = db.session.scalar(sa.select(sa.func.min(Passage.scheduled_at))
                              .where(Passage.commission_id == commission.id))
    form.day.data = to_local(first).date() if first else to_local(utcnow()).date()
    settings = db.session.get(CommissionSettings, commission.id) or CommissionSettings()
    form.day_start.data = settings.day_start or time(8, 0)
    form.break_minutes.data = 10 if settings.break_minutes is None else settings.break_minutes
    form.lunch_start.data = settings.lunch_start or time(12, 0)
    form.lunch_minutes.data = 60 if settings.lunch_minutes is None else settings.lunch_minutes
    form.workstations.data = settings.prep_workstations or 2
    form.room.data = settings.room or ""


def _assign(commission: Commission, form: AssignForm) -> int | None:
    """Assign the listed candidates: None once committed, else the refusal's status."""
    numbers = [n for line in form.numbers.data.splitlines()
               for n in line.replace(";", ",").split(",")]
    try:
        created = plans.assign_candidates(commission=commission, numbers=numbers,
                                          variant_code=form.variant.data, actor=current_user)
    except JuryError as error:
        db.session.rollback()
        flash(error.message, "error")
        return error.status
    db.session.commit()
    flash(f"{len(created)} candidat(s) affecté(s) à la commission {commission.code}.", "success")
    return None


def _schedule(commission: Commission, form: ScheduleForm) -> int | None:
    """Generate the day's sequence: None once committed, else the refusal's status."""
    try:
        planned = plans.generate_schedule(
            commission=commission, day=form.day.data, day_start=form.day_start.data,
            break_minutes=form.break_minutes.data, lunch_start=form.lunch_start.data,
            lunch_minutes=form.lunch_minutes.data, workstations=form.workstations.data,
            room=(form.room.data or "").strip(), actor=current_user)
    except JuryError as error:
        db.session.rollback()
        flash(error.message, "error")
        return error.status
    db.session.commit()
    flash(f"Journée planifiée : {len(planned)} passage(s).", "success")
    return None


@bp.route("/gestion/passages/<int:passage_id>/deplacer", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def move(passage_id: int):
    """Move a passage to another time (in the session's time zone)."""
    passage = passage_for_manager_or_403(passage_id)
    form = MoveForm()
    target = url_for("juries.planning", commission_id=passage.commission_id)
    if not form.validate_on_submit():
        flash("Horaire invalide : indiquez la date et l'heure.", "error")
        return redirect(target)
    when = form.scheduled_at.data.replace(tzinfo=local_zone()).astimezone(UTC)
    try:
        plans.move_passage(passage=passage, scheduled_at=when, actor=current_user)
    except JuryError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(target)
    db.session.commit()
    flash(f"Passage de {passage.candidate.full_name} déplacé.", "success")
    return redirect(target)


@bp.route("/gestion/passages/<int:passage_id>/echanger", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def swap(passage_id: int):
    """Swap two candidates' slots, with the conflict-of-interest check."""
    passage = passage_for_manager_or_403(passage_id)
    form = SwapForm()
    target = url_for("juries.planning", commission_id=passage.commission_id)
    if not form.validate_on_submit():
        flash("Choisissez le passage avec lequel échanger.", "error")
        return redirect(target)
    other = passage_for_manager_or_403(form.other.data)
    try:
        plans.swap_passages(first=passage, second=other, actor=current_user)
    except JuryError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(target)
    db.session.commit()
    flash(f"{passage.candidate.full_name} et {other.candidate.full_name} ont échangé leurs "
          "créneaux.", "success")
    return redirect(target)


@bp.route("/gestion/passages/<int:passage_id>/echanger-avec")
@roles_required(Role.GESTIONNAIRE)
def swap_with(passage_id: int):
    """The passages of a day, in any commission, a passage may be swapped with, a page at a
    time (the planning page's rows offer only the commission's own)."""
    passage = passage_for_manager_or_403(passage_id)
    if request.args.get("jour"):
        day = day_arg()
    elif passage.scheduled_at:
        day = to_local(passage.scheduled_at).date()
    else:
        first = db.session.scalar(sa.select(sa.func.min(Passage.scheduled_at))
                                  .where(Passage.commission_id == passage.commission_id))
        day = to_local(first).date() if first else to_local(utcnow()).date()
    q = request.args.get("q", "").strip()[:100]
    page = plans.swap_partners(passage=passage, day=day, q=q,
                               page=request.args.get("page", 1, type=int))
    return render_template("juries/swap_with.html", passage=passage, day=day, q=q, page=page,
                           swap_form=SwapForm(), started=passage.started_at is not None
                           or passage.finalized_at is not None)


@bp.route("/gestion/passages/<int:passage_id>/rouvrir", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def reopen(passage_id: int):
    """Reopen a final mark, with a reason and a confirmation (audited)."""
    passage = passage_for_manager_or_403(passage_id)
    return _reasoned_action(
        passage, ReopenForm(),
        lambda reason: validation.reopen(passage=passage, reason=reason, actor=current_user),
        f"Note de {passage.candidate.full_name} rouverte : les deux jurés doivent la valider "
        "de nouveau.",
        "juries/reopen.html", mark=lifecycle.mark_text(passage.final_mark))


@bp.route("/gestion/sessions/<code>/suivi")
@roles_required(Role.GESTIONNAIRE)
def board(code: str):
    """Live board of a day across centres: per commission its counts, per passage its
    phase, overrun and state; updated in place by push (``board_wait``)."""
    session = session_or_404(code)
    day = day_arg()
    start, end = lifecycle.day_bounds(day)
    # The version first: the board shown holds at least its changes (one that lands
    # between the two reads is then announced again, never missed).
    version = push.current_version(db.session.connection(), push.BoardKey(session.id, start, end))
    view = boards.board_view(session_id=session.id, day=day, now=utcnow())
    return render_template("juries/board.html", session=session, day=day, board=view,
                           version=version)


@bp.route("/gestion/sessions/<code>/suivi/attendre")
@roles_required(Role.GESTIONNAIRE)
def board_wait(code: str):
    """Long poll of the live board: answers when one of the day's passages changes (or
    after ``PUSH_WAIT_SECONDS``), with the board as it now stands (see ``juries/push.py``)."""
    session = session_or_404(code)
    day = day_arg()
    start, end = lifecycle.day_bounds(day)
    key = push.BoardKey(session.id, start, end)
    answer = push_views.wait_for(key)
    # On a jury day the board changes several times a second. A change is answered at the
    # next boundary of PUSH_BOARD_MIN_SECONDS on the clock, the same for every browser:
    # each browser gets at most one board a period (every change of the period in it),
    # within the 2 s the board promises, and the browsers answered at one boundary, in
    # every worker and instance, get one computation of the board made at or after it
    # (shared_board_view), with the version it was made from.
    period = current_app.config.get("PUSH_BOARD_MIN_SECONDS", 1.0)
    fresh_from = utcnow()
    if answer["changed"] and period > 0:
        db.session.close()
        now = wall_time()
        boundary = (math.floor(now / period) + 1) * period
        sleep(boundary - now)
        fresh_from = datetime.fromtimestamp(boundary, UTC)
    answer["version"], board = boards.shared_board_body(
        session_id=session.id, day=day, key=key, fresh_from=fresh_from)
    # The board's JSON text as it was encoded once for every browser and process.
    head = json.dumps(answer, separators=(",", ":"))
    return push_views.no_store(current_app.response_class(
        f'{head[:-1]},"board":{board}}}', mimetype="application/json"))


@bp.route("/gestion/passages/<int:passage_id>/derogation", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def start_exception(passage_id: int):
    """Authorise a passage to start without a conformity decision, with a reason (audited)."""
    passage = passage_for_manager_or_403(passage_id)
    return _reasoned_action(
        passage, StartExceptionForm(),
        lambda reason: derogation.grant_start_exception(passage=passage, reason=reason,
                                                        actor=current_user),
        f"Dérogation accordée : le passage de {passage.candidate.full_name} peut commencer "
        "sans décision de conformité.",
        "juries/start_exception.html", needed=lambda: derogation.needs_exception(passage))


def _reasoned_action(passage, form, act, done: str, template: str, **context):
    """A gestionnaire's audited action on a passage that needs a reason (reopen a mark, an
    exception): on success back to the planning, otherwise the form again with its refusal.
    ``context`` values that are callables are evaluated after the action."""
    status = 200
    if form.validate_on_submit():
        try:
            act(form.reason.data)
        except JuryError as error:
            db.session.rollback()
            flash(error.message, "error")
            status = error.status
        else:
            db.session.commit()
            flash(done, "success")
            return redirect(url_for("juries.planning", commission_id=passage.commission_id))
    elif request.method == "POST":
        status = 400
    context = {k: v() if callable(v) else v for k, v in context.items()}
    return render_template(template, passage=passage, form=form, **context), status
