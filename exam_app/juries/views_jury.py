"""The examinateur's pages: the day's passages, the commission's dossiers, the
passage screen, and the attendance form (the screen's live parts are in ``views_api``)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import orm

from exam_app.accounts.models import Role, User
from exam_app.clock import to_local, use_zone
from exam_app.dossiers import state
from exam_app.dossiers.conformity import recorded_missing_elements
from exam_app.dossiers.validity import nv_candidate_ids
from exam_app.enrolment.models import Candidate, ExamSession
from exam_app.extensions import db
from exam_app.formatting import french_sort_key
from exam_app.juries import grids, lifecycle
from exam_app.juries.blueprint import bp, day_arg
from exam_app.juries.errors import JuryError
from exam_app.juries.forms import AttendanceForm
from exam_app.juries.models import AGREED, Attendance, Commission, CommissionMember, Grid, Passage
from exam_app.permissions import (
    can_manage,
    commission_for_dossier_reader_or_403,
    dossier_unit_or_404,
    juror_reading_window_open,
    passage_for_juror_or_403,
    roles_required,
)
from exam_app.units import UnitForm, get_unit


@bp.route("/jury/")
@roles_required(Role.EXAMINATEUR)
def home():
    """The examinateur's day: passages in order with state, and their commissions."""
    my_commissions = sa.select(CommissionMember.commission_id).where(
        CommissionMember.user_id == current_user.id)
    # The day and its times in the zone of the juror's session (an overseas académie's
    # jury reads its own local time), not the latest session's.
    zone = db.session.scalar(
        sa.select(ExamSession.timezone).join(Commission, Commission.session_id == ExamSession.id)
        .where(Commission.id.in_(my_commissions)).order_by(ExamSession.id.desc()).limit(1))
    if zone:
        use_zone(zone)
    day = day_arg()
    start, end = lifecycle.day_bounds(day)
    # The members' users without their roles (the page shows their names only).
    day_passages = db.session.scalars(
        sa.select(Passage).where(Passage.commission_id.in_(my_commissions),
                                 Passage.scheduled_at >= start, Passage.scheduled_at < end)
        .options(orm.defaultload(Passage.commission).selectinload(Commission.members)
                 .joinedload(CommissionMember.user).lazyload(User.roles))
        .order_by(Passage.scheduled_at, Passage.position)).all()
    # NV for the day's candidates only, per (session, unit): the page's cost follows its
    # passages, not the session's size.
    shown: dict[tuple[int, str], set[int]] = {}
    for passage in day_passages:
        shown.setdefault((passage.commission.session_id, passage.unit_code),
                         set()).add(passage.candidate_id)
    nv_ids = {key: nv_candidate_ids(session_id=key[0], unit_code=key[1], candidate_ids=ids)
              for key, ids in shown.items()}
    rows = []
    for passage in day_passages:
        nv = passage.candidate_id in nv_ids[(passage.commission.session_id, passage.unit_code)]
        other = next((m.user for m in passage.commission.members
                      if m.user_id != current_user.id), None)
        rows.append({"passage": passage, "nv": nv, "status": lifecycle.status(passage, nv=nv),
                     "progress": lifecycle.progress(passage),
                     "other": other, "result": lifecycle.result_label(passage, nv=nv),
                     "variant": get_unit(passage.unit_code).variant(passage.variant_code)})
    days = db.session.scalars(
        sa.select(Passage.scheduled_at).where(Passage.commission_id.in_(my_commissions),
                                              Passage.scheduled_at.is_not(None))).all()
    other_days = sorted({to_local(d).date() for d in days} - {day})
    commissions = db.session.scalars(
        sa.select(Commission).where(Commission.id.in_(my_commissions))
        .options(orm.selectinload(Commission.members).joinedload(CommissionMember.user)
                 .lazyload(User.roles))
        .order_by(Commission.unit_code, Commission.code)).all()
    return render_template("juries/home.html", rows=rows, day=day, other_days=other_days,
                           commissions=commissions, get_unit=get_unit,
                           status_labels=lifecycle.STATUS_LABELS)


@bp.route("/jury/passages/sw.js")
def service_worker():
    """The passage page's service worker (public: a static script, no data), served under
    /jury/passages/ so that its scope is that path and nothing else."""
    path = Path(current_app.static_folder or "") / "js" / "jury-sw.js"
    response = current_app.response_class(path.read_bytes(), mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"  # the browser checks for a new one
    return response


@bp.route("/jury/passages/<int:passage_id>")
@roles_required(Role.EXAMINATEUR)
def passage_page(passage_id: int):
    """The passage screen: timer, grids, gaps, joint validation."""
    passage = passage_for_juror_or_403(passage_id)
    if lifecycle.close_due_fixed(passage=passage):  # the preparation's time is up: write it
        db.session.commit()
    unit = get_unit(passage.unit_code)
    variant = unit.variant(passage.variant_code)
    sections = [s for s in unit.grid.sections
                if not variant.grid_sections or s.code in variant.grid_sections]
    nv = lifecycle.is_nv(passage)
    blocked = lifecycle.interview_blocked(passage, nv=nv)
    other = next((m.user for m in passage.commission.members if m.user_id != current_user.id),
                 None)
    return render_template(
        "juries/passage.html", passage=passage, unit=unit, variant=variant, sections=sections,
        levels=unit.grid.levels, level_codes=unit.grid.level_codes(), nv=nv, blocked=blocked,
        other=other,
        planned=lifecycle.planned_segments(passage), attendance_form=AttendanceForm(),
        # The timer as it stands, so that a reload shows the current step at once.
        timer_now=lifecycle.timer_state(passage),
        preparations=lifecycle.other_preparations(passage),
        status=lifecycle.status(passage, nv=nv), status_labels=lifecycle.STATUS_LABELS,
        mark_step=passage.commission.session.mark_step,
        extra=lifecycle.extra_label(passage.candidate.extra_time_fraction),
        with_mark=grids.carries_mark(passage.unit_code, passage.variant_code),
        earlier=_earlier_grids(passage, unit),
        missing_elements=recorded_missing_elements(candidate_id=passage.candidate_id,
                                                   unit_code=passage.unit_code),
        home_url=url_for("juries.home", jour=to_local(passage.scheduled_at).date().isoformat()
                         if passage.scheduled_at else None),
    )


def _earlier_grids(passage: Passage, unit) -> list[dict]:
    """The agreed grids of the candidate's earlier situations (shown before the global mark)."""
    codes = grids.earlier_situations(passage.unit_code, passage.variant_code)
    if not codes or not grids.carries_mark(passage.unit_code, passage.variant_code):
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


@bp.route("/jury/passages/<int:passage_id>/presence", methods=["POST"])
@roles_required(Role.EXAMINATEUR)
def attendance(passage_id: int):
    """Mark the candidate present or absent (absence needs a confirmation)."""
    passage = passage_for_juror_or_403(passage_id)
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
        lifecycle.set_attendance(passage=passage, attendance=value, actor=current_user)
    except JuryError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(target)
    db.session.commit()
    flash("Candidat déclaré absent (ABS)." if value is Attendance.ABSENT
          else "Candidat déclaré présent.", "success")
    return redirect(target)


@bp.route("/jury/commissions/<int:commission_id>/dossiers")
@roles_required(Role.EXAMINATEUR, Role.GESTIONNAIRE)
def commission_dossiers(commission_id: int):
    """The dossiers a commission's jurors may read, with each unit's validity."""
    commission = commission_for_dossier_reader_or_403(commission_id)
    unit = dossier_unit_or_404(commission.unit_code)
    query = sa.select(Candidate).where(Candidate.session_id == commission.session_id)
    if commission.form == UnitForm.CCF:
        query = query.where(Candidate.establishment_id == commission.establishment_id)
    else:
        query = query.where(Candidate.centre_id == commission.centre_id)
    # Where the unit can be sat in several forms, the candidate's form decides the commission;
    # once planned, the commission holding the candidate's passage does.
    planned_elsewhere = sa.select(Passage.id).where(Passage.candidate_id == Candidate.id,
                                                    Passage.unit_code == unit.code,
                                                    Passage.commission_id != commission.id)
    query = query.where(Candidate.sits_in(unit.code, commission.form), ~planned_elsewhere.exists())
    candidates = sorted(db.session.scalars(query).all(),
                        key=lambda c: french_sort_key(c.last_name, c.first_name))
    if not can_manage(current_user):
        # A juror lists only the dossiers they may open (planned here, window open).
        candidates = [c for c in candidates if juror_reading_window_open(
            current_user, candidate=c, unit_code=unit.code)]
    nv = nv_candidate_ids(session_id=commission.session_id, unit_code=unit.code,
                          candidate_ids={c.id for c in candidates})
    # Validity as the day card says it (valide unless NV), then a filter (issue 17).
    shown = request.args.get("validite", "")
    search = request.args.get("q", "").strip().casefold()
    rows = [(c, state.dossier_view(candidate=c, unit_code=unit.code), c.id in nv)
            for c in candidates
            if (shown != "nv" or c.id in nv) and (shown != "valide" or c.id not in nv)
            and (not search or search in f"{c.number} {c.full_name}".casefold())]
    return render_template("juries/commission_dossiers.html", commission=commission, unit=unit,
                           rows=rows, total=len(candidates), nv_count=len(
                               [c for c in candidates if c.id in nv]),
                           shown=shown, search=request.args.get("q", "").strip())
