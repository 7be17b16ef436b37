"""Jury-day pages: the examinateur's day and passage screen (timer, grids,
validation) with their JSON endpoints, and the gestionnaire's planning,
reopening and live board."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from exam_app.accounts.models import Role
from exam_app.clock import PARIS, to_local, utcnow
from exam_app.dossiers.validity import nv_candidate_ids
from exam_app.enrolment.models import ExamSession
from exam_app.extensions import db
from exam_app.juries import planning as plans
from exam_app.juries import services
from exam_app.juries.forms import AssignForm, AttendanceForm, MoveForm, ReopenForm, ScheduleForm, SwapForm
from exam_app.juries.models import (
    AGREED,
    Attendance,
    Commission,
    CommissionMember,
    CommissionSettings,
    Grid,
    Passage,
)
from exam_app.juries.services import JuryError
from exam_app.permissions import roles_required
from exam_app.units import get_unit

bp = Blueprint("juries", __name__)

GRID_KEYS = ("commune", "perso")


@bp.app_template_filter("local_hm")
def local_hm(value: datetime | None) -> str:
    """'14:05' in Europe/Paris."""
    return "" if value is None else f"{to_local(value):%H:%M}"


@bp.app_template_filter("local_iso")
def local_iso(value: datetime | None) -> str:
    """'2027-05-12T14:05' in Europe/Paris, for datetime-local inputs."""
    return "" if value is None else f"{to_local(value):%Y-%m-%dT%H:%M}"


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _day_arg() -> date:
    text = request.args.get("jour", "")
    try:
        return date.fromisoformat(text) if text else to_local(utcnow()).date()
    except ValueError:
        return to_local(utcnow()).date()


def _my_passage_or_abort(passage_id: int) -> Passage:
    """A passage of one of the current juror's commissions; 403 otherwise."""
    passage = db.session.scalar(
        sa.select(Passage).join(CommissionMember,
                                CommissionMember.commission_id == Passage.commission_id)
        .where(Passage.id == passage_id, CommissionMember.user_id == current_user.id))
    if passage is None:
        abort(403 if db.session.get(Passage, passage_id) is not None else 404)
    return passage


def _json_error(error: JuryError):
    db.session.rollback()
    return jsonify({"error": str(error)}), error.status


def _json_body() -> dict:
    limit = current_app.config.get("JURY_MAX_JSON_BYTES", 256 * 1024)
    if request.content_length is not None and request.content_length > limit:
        raise JuryError("Requête trop volumineuse : envoyez moins de modifications à la fois.", 413)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise JuryError("Requête invalide : un objet JSON est attendu.", 400)
    return body


# ---- examinateur ------------------------------------------------------------


@bp.route("/jury/")
@roles_required(Role.EXAMINATEUR)
def home():
    """The examinateur's day: passages in order with state, and their commissions."""
    day = _day_arg()
    start, end = services.day_bounds(day)
    my_commissions = sa.select(CommissionMember.commission_id).where(
        CommissionMember.user_id == current_user.id)
    passages = db.session.scalars(
        sa.select(Passage).where(Passage.commission_id.in_(my_commissions),
                                 Passage.scheduled_at >= start, Passage.scheduled_at < end)
        .order_by(Passage.scheduled_at, Passage.position)).all()
    rows = []
    nv_cache: dict[tuple[int, str], set[int]] = {}
    for passage in passages:
        key = (passage.commission.session_id, passage.unit_code)
        if key not in nv_cache:
            nv_cache[key] = nv_candidate_ids(session_id=key[0], unit_code=key[1])
        nv = passage.candidate_id in nv_cache[key]
        other = next((m.user for m in passage.commission.members
                      if m.user_id != current_user.id), None)
        rows.append({"passage": passage, "nv": nv, "status": services.status(passage, nv=nv),
                     "other": other, "result": services.result_label(passage, nv=nv),
                     "variant": get_unit(passage.unit_code).variant(passage.variant_code)})
    days = [d for (d,) in db.session.execute(
        sa.select(Passage.scheduled_at).where(Passage.commission_id.in_(my_commissions),
                                              Passage.scheduled_at.is_not(None))
    ).all()]
    other_days = sorted({to_local(d).date() for d in days} - {day})
    commissions = db.session.scalars(
        sa.select(Commission).where(Commission.id.in_(my_commissions))
        .order_by(Commission.unit_code, Commission.code)).all()
    return render_template("juries/home.html", rows=rows, day=day, other_days=other_days,
                           commissions=commissions, get_unit=get_unit,
                           status_labels=services.STATUS_LABELS)


@bp.route("/jury/heure")
@roles_required(Role.EXAMINATEUR)
def server_time():
    """The server clock (ms since the epoch), for the browser's offset correction."""
    return jsonify({"server_time": _ms(utcnow())})


@bp.route("/jury/passages/<int:passage_id>")
@roles_required(Role.EXAMINATEUR)
def passage_page(passage_id: int):
    """The passage screen: timer, grids, gaps, joint validation."""
    passage = _my_passage_or_abort(passage_id)
    unit = get_unit(passage.unit_code)
    variant = unit.variant(passage.variant_code)
    sections = [s for s in unit.grid.sections
                if not variant.grid_sections or s.code in variant.grid_sections]
    nv = services.is_nv(passage)
    blocked = services.interview_blocked(passage)
    other = next((m.user for m in passage.commission.members if m.user_id != current_user.id),
                 None)
    return render_template(
        "juries/passage.html", passage=passage, unit=unit, variant=variant, sections=sections,
        levels=unit.grid.levels, level_codes=unit.grid.level_codes(), nv=nv, blocked=blocked,
        other=other,
        planned=services.planned_segments(passage), attendance_form=AttendanceForm(),
        status=services.status(passage, nv=nv), status_labels=services.STATUS_LABELS,
        mark_step=passage.commission.session.mark_step,
        extra=services.extra_label(passage.candidate.extra_time_fraction),
        with_mark=services.carries_mark(passage.unit_code, passage.variant_code),
        earlier=_earlier_grids(passage, unit),
        home_url=url_for("juries.home", jour=to_local(passage.scheduled_at).date().isoformat()
                         if passage.scheduled_at else None),
    )


def _earlier_grids(passage: Passage, unit) -> list[dict]:
    """The agreed grids of the candidate's earlier situations (shown before the global mark)."""
    codes = services.earlier_situations(passage.unit_code, passage.variant_code)
    if not codes or not services.carries_mark(passage.unit_code, passage.variant_code):
        return []
    earlier = db.session.scalars(sa.select(Passage).where(
        Passage.candidate_id == passage.candidate_id, Passage.unit_code == passage.unit_code,
        Passage.variant_code.in_(codes))).all()
    result = []
    for other in sorted(earlier, key=lambda p: codes.index(p.variant_code)):
        variant = unit.variant(other.variant_code)
        grid = db.session.scalar(sa.select(Grid).where(Grid.passage_id == other.id,
                                                       Grid.key == AGREED))
        values = {f.name: f.value for f in grid.fields} if grid else {}
        sections = [s for s in unit.grid.sections
                    if not variant.grid_sections or s.code in variant.grid_sections]
        result.append({"passage": other, "variant": variant, "values": values,
                       "sections": sections})
    return result


def _state(passage: Passage) -> dict:
    now = utcnow()
    state = services.timer_state(passage, now)
    planned = services.planned_segments(passage)
    nv = services.is_nv(passage)
    names = {m.user_id: m.user.display_name for m in passage.commission.members}
    return {
        "server_time": _ms(now),
        "passage": {
            "id": passage.id, "status": services.status(passage, nv=nv), "nv": nv,
            "blocked": services.interview_blocked(passage),
            "absent": passage.is_absent, "final": passage.is_final,
            "final_mark": services.mark_text(passage.final_mark),
            "revision": passage.agreed_revision,
        },
        "timer": {
            "status": state.status, "current": state.current, "pause_reason": state.pause_reason,
            "segments": [{
                "index": p.index, "phase": p.phase_label, "step": p.step_label,
                "jury_present": p.jury_present, "fixed": p.fixed,
                "allowed": s.allowed_seconds, "elapsed": round(s.elapsed_seconds, 3),
                "started_at": _ms(s.started_at), "ended_at": _ms(s.ended_at),
            } for p, s in zip(planned, state.segments, strict=True)],
        },
        "grids": services.grids_view(passage, current_user.id),
        "validations": [{"user_id": v.user_id, "name": names.get(v.user_id, "?"),
                         "revision": v.revision} for v in passage.validations],
        "members": [{"id": uid, "name": name} for uid, name in names.items()],
        "me": current_user.id,
    }


@bp.route("/jury/passages/<int:passage_id>/etat")
@roles_required(Role.EXAMINATEUR)
def passage_state(passage_id: int):
    """JSON state of the passage, with the server time (polled by both jurors)."""
    passage = _my_passage_or_abort(passage_id)
    response = jsonify(_state(passage))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/jury/passages/<int:passage_id>/minuteur", methods=["POST"])
@roles_required(Role.EXAMINATEUR)
def timer_action(passage_id: int):
    """Start, advance, pause or resume the timer (JSON; CSRF in X-CSRFToken)."""
    passage = _my_passage_or_abort(passage_id)
    try:
        body = _json_body()
        action = body.get("action")
        if action == "start":
            services.start_passage(passage=passage, actor=current_user)
        elif action == "next":
            index = body.get("from")
            if not isinstance(index, int) or isinstance(index, bool):
                raise JuryError("Étape courante manquante.", 400)
            services.advance(passage=passage, from_index=index, actor=current_user)
        elif action == "pause":
            services.pause(passage=passage, reason=str(body.get("reason") or ""),
                           actor=current_user)
        elif action == "resume":
            services.resume(passage=passage, actor=current_user)
        else:
            raise JuryError("Action du minuteur inconnue.", 400)
    except JuryError as error:
        return _json_error(error)
    db.session.commit()
    return jsonify(_state(passage))


@bp.route("/jury/passages/<int:passage_id>/grilles/<grid>/champs", methods=["POST"])
@roles_required(Role.EXAMINATEUR)
def autosave(passage_id: int, grid: str):
    """Autosave grid fields: per-field compare-and-set, idempotent operation ids."""
    if grid not in GRID_KEYS:
        abort(404)
    key = AGREED if grid == "commune" else services.grid_key_for(current_user.id)
    context = services.save_context(passage_id=passage_id, user_id=current_user.id, grid_key=key)
    if context is None:
        abort(403 if db.session.get(Passage, passage_id) is not None else 404)
    try:
        body = _json_body()
        ops = body.get("ops")
        if not isinstance(ops, list) or not ops or not all(isinstance(o, dict) for o in ops):
            raise JuryError("Requête invalide : liste de modifications attendue.", 400)
        if len(ops) > current_app.config.get("JURY_MAX_OPS", 100):
            raise JuryError("Trop de modifications à la fois.", 413)
        for attempt in range(2):
            try:
                # First as new operations (one query less); a replayed id fails on the
                # unique op_id, and the second attempt answers it from the store.
                attempt_context = dataclasses.replace(context)
                results = services.save_fields(context=attempt_context, ops=ops,
                                               actor=current_user, check_replays=bool(attempt))
                db.session.commit()
                saved_revision = attempt_context.revision
                break
            except IntegrityError:
                db.session.rollback()
                if attempt:
                    raise
    except JuryError as error:
        return _json_error(error)
    return jsonify({"results": results, "revision": saved_revision,
                    "server_time": _ms(utcnow())})


@bp.route("/jury/passages/<int:passage_id>/reveler", methods=["POST"])
@roles_required(Role.EXAMINATEUR)
def reveal(passage_id: int):
    """Reveal one's independent grid to the other juror."""
    passage = _my_passage_or_abort(passage_id)
    try:
        services.reveal(passage=passage, actor=current_user)
    except JuryError as error:
        return _json_error(error)
    db.session.commit()
    return jsonify(_state(passage))


@bp.route("/jury/passages/<int:passage_id>/valider", methods=["POST"])
@roles_required(Role.EXAMINATEUR)
def validate(passage_id: int):
    """Validate the agreed grid and mark at the revision the juror saw."""
    passage = _my_passage_or_abort(passage_id)
    try:
        body = _json_body()
        revision = body.get("revision")
        if not isinstance(revision, int) or isinstance(revision, bool):
            raise JuryError("Révision de la grille manquante.", 400)
        services.validate(passage=passage, revision=revision, actor=current_user)
    except JuryError as error:
        return _json_error(error)
    db.session.commit()
    return jsonify(_state(passage))


@bp.route("/jury/passages/<int:passage_id>/presence", methods=["POST"])
@roles_required(Role.EXAMINATEUR)
def attendance(passage_id: int):
    """Mark the candidate present or absent (absence needs a confirmation)."""
    passage = _my_passage_or_abort(passage_id)
    form = AttendanceForm()
    target = url_for("juries.passage_page", passage_id=passage.id)
    if not form.validate_on_submit():
        flash("Choisissez présent ou absent.", "error")
        return redirect(target)
    value = Attendance(form.attendance.data)
    if value is Attendance.ABSENT and not form.confirm.data:
        flash("Cochez la confirmation pour déclarer le candidat absent.", "error")
        return redirect(target)
    try:
        services.set_attendance(passage=passage, attendance=value, actor=current_user)
    except JuryError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(target)
    db.session.commit()
    flash("Candidat déclaré absent (ABS)." if value is Attendance.ABSENT
          else "Candidat déclaré présent.", "success")
    return redirect(target)


# ---- gestionnaire -----------------------------------------------------------


def _session_or_404(code: str) -> ExamSession:
    session = db.session.scalar(sa.select(ExamSession).where(ExamSession.code == code))
    if session is None:
        abort(404)
    return session


@bp.route("/gestion/sessions/<code>/commissions")
@roles_required(Role.GESTIONNAIRE)
def commissions(code: str):
    """The session's commissions with their passage counts."""
    session = _session_or_404(code)
    rows = db.session.execute(
        sa.select(Commission, sa.func.count(Passage.id))
        .outerjoin(Passage, Passage.commission_id == Commission.id)
        .where(Commission.session_id == session.id)
        .group_by(Commission.id).order_by(Commission.unit_code, Commission.code)).all()
    return render_template("juries/commissions.html", session=session, rows=rows,
                           get_unit=get_unit)


def _commission_or_404(commission_id: int) -> Commission:
    commission = db.session.get(Commission, commission_id)
    if commission is None:
        abort(404)
    return commission


@bp.route("/gestion/commissions/<int:commission_id>/planning", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def planning(commission_id: int):
    """Assign candidates to a commission and generate the day's sequence."""
    commission = _commission_or_404(commission_id)
    settings = db.session.get(CommissionSettings, commission.id)
    assign_form = AssignForm(prefix="assign")
    schedule_form = ScheduleForm(prefix="plan")
    if request.method == "GET":
        first = db.session.scalar(sa.select(sa.func.min(Passage.scheduled_at))
                                  .where(Passage.commission_id == commission.id))
        schedule_form.day.data = to_local(first).date() if first else to_local(utcnow()).date()
        s = settings or CommissionSettings()
        schedule_form.day_start.data = s.day_start or time(8, 0)
        schedule_form.break_minutes.data = 10 if s.break_minutes is None else s.break_minutes
        schedule_form.lunch_start.data = s.lunch_start or time(12, 0)
        schedule_form.lunch_minutes.data = 60 if s.lunch_minutes is None else s.lunch_minutes
        schedule_form.workstations.data = s.prep_workstations or 2
        schedule_form.room.data = s.room or ""
    status = 200
    if "assign-numbers" in request.form and assign_form.validate_on_submit():
        numbers = [n for line in assign_form.numbers.data.splitlines()
                   for n in line.replace(";", ",").split(",")]
        try:
            created = plans.assign_candidates(commission=commission, numbers=numbers,
                                                 variant_code=assign_form.variant.data,
                                                 actor=current_user)
        except JuryError as error:
            db.session.rollback()
            flash(str(error), "error")
            status = error.status
        else:
            db.session.commit()
            flash(f"{len(created)} candidat(s) affecté(s) à la commission {commission.code}.",
                  "success")
            return redirect(url_for("juries.planning", commission_id=commission.id))
    elif "plan-go" in request.form and schedule_form.validate_on_submit():
        try:
            planned = plans.generate_schedule(
                commission=commission, day=schedule_form.day.data,
                day_start=schedule_form.day_start.data,
                break_minutes=schedule_form.break_minutes.data,
                lunch_start=schedule_form.lunch_start.data,
                lunch_minutes=schedule_form.lunch_minutes.data,
                workstations=schedule_form.workstations.data,
                room=(schedule_form.room.data or "").strip(), actor=current_user)
        except JuryError as error:
            db.session.rollback()
            flash(str(error), "error")
            status = error.status
        else:
            db.session.commit()
            flash(f"Journée planifiée : {len(planned)} passage(s).", "success")
            return redirect(url_for("juries.planning", commission_id=commission.id))
    elif request.method == "POST":
        status = 400
    passages = plans.commission_passages(commission)
    nv = nv_candidate_ids(session_id=commission.session_id, unit_code=commission.unit_code)
    unassigned = plans.unassigned_candidates(commission)
    swap_choices = _swap_choices(commission)
    return render_template(
        "juries/planning.html", commission=commission, passages=passages,
        assign_form=assign_form, schedule_form=schedule_form, nv=nv, services=services,
        get_unit=get_unit, swap_choices=swap_choices, variants=plans.variants_for(commission),
        move_form=MoveForm(), swap_form=SwapForm(), unassigned=unassigned,
    ), status


def _swap_choices(commission: Commission) -> list[tuple[int, str]]:
    rows = db.session.execute(
        sa.select(Passage, Commission.code).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == commission.session_id,
               Commission.unit_code == commission.unit_code, Commission.form == commission.form,
               Passage.started_at.is_(None), Passage.finalized_at.is_(None))
        .order_by(Commission.code, Passage.scheduled_at, Passage.position)).all()
    return [(p.id, f"{code} — {p.candidate.full_name}"
             + (f" ({to_local(p.scheduled_at):%d/%m %H:%M})" if p.scheduled_at else ""))
            for p, code in rows]


def _passage_or_404(passage_id: int) -> Passage:
    passage = db.session.get(Passage, passage_id)
    if passage is None:
        abort(404)
    return passage


@bp.route("/gestion/passages/<int:passage_id>/deplacer", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def move(passage_id: int):
    """Move a passage to another time (Europe/Paris)."""
    passage = _passage_or_404(passage_id)
    form = MoveForm()
    target = url_for("juries.planning", commission_id=passage.commission_id)
    if not form.validate_on_submit():
        flash("Horaire invalide : indiquez la date et l'heure.", "error")
        return redirect(target)
    when = form.scheduled_at.data.replace(tzinfo=PARIS).astimezone(UTC)
    try:
        plans.move_passage(passage=passage, scheduled_at=when, actor=current_user)
    except JuryError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(target)
    db.session.commit()
    flash(f"Passage de {passage.candidate.full_name} déplacé.", "success")
    return redirect(target)


@bp.route("/gestion/passages/<int:passage_id>/echanger", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def swap(passage_id: int):
    """Swap two candidates' slots, with the conflict-of-interest check."""
    passage = _passage_or_404(passage_id)
    form = SwapForm()
    target = url_for("juries.planning", commission_id=passage.commission_id)
    if not form.validate_on_submit():
        flash("Choisissez le passage avec lequel échanger.", "error")
        return redirect(target)
    other = _passage_or_404(form.other.data)
    try:
        plans.swap_passages(first=passage, second=other, actor=current_user)
    except JuryError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(target)
    db.session.commit()
    flash(f"{passage.candidate.full_name} et {other.candidate.full_name} ont échangé leurs "
          "créneaux.", "success")
    return redirect(target)


@bp.route("/gestion/passages/<int:passage_id>/rouvrir", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def reopen(passage_id: int):
    """Reopen a final mark, with a reason and a confirmation (audited)."""
    passage = _passage_or_404(passage_id)
    form = ReopenForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.reopen(passage=passage, reason=form.reason.data, actor=current_user)
        except JuryError as error:
            db.session.rollback()
            flash(str(error), "error")
            status = error.status
        else:
            db.session.commit()
            flash(f"Note de {passage.candidate.full_name} rouverte : les deux jurés doivent la "
                  "valider de nouveau.", "success")
            return redirect(url_for("juries.planning", commission_id=passage.commission_id))
    elif request.method == "POST":
        status = 400
    return render_template("juries/reopen.html", passage=passage, form=form,
                           mark=services.mark_text(passage.final_mark)), status


@bp.route("/gestion/sessions/<code>/suivi")
@roles_required(Role.GESTIONNAIRE)
def board(code: str):
    """Live board of a day across centres: done, in progress, late, absent, marks."""
    session = _session_or_404(code)
    day = _day_arg()
    start, end = services.day_bounds(day)
    now = utcnow()
    passages = db.session.scalars(
        sa.select(Passage).join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.session_id == session.id, Passage.scheduled_at >= start,
               Passage.scheduled_at < end)
        .order_by(Commission.code, Passage.scheduled_at)).all()
    nv_sets = {u: nv_candidate_ids(session_id=session.id, unit_code=u) for u in ("E4", "E5")}
    boards: dict[int, dict] = {}
    for passage in passages:
        nv = passage.candidate_id in nv_sets.get(passage.unit_code, set())
        status = services.status(passage, nv=nv)
        late = status == "upcoming" and passage.scheduled_at is not None and \
            passage.scheduled_at < now
        entry = boards.setdefault(passage.commission_id, {
            "commission": passage.commission, "total": 0, "finished": 0, "running": 0,
            "late": 0, "absent": 0, "nv": 0, "final": 0, "pending": 0, "upcoming": 0})
        entry["total"] += 1
        entry[status] += 1
        entry["late"] += int(late)
        if status in ("finished", "running"):
            entry["final" if passage.is_final else "pending"] += 1
    return render_template("juries/board.html", session=session, day=day, now=now,
                           boards=list(boards.values()), get_unit=get_unit)

