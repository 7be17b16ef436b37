"""The académie's session dashboard and the chef de centre's home."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template
from flask_login import current_user
from sqlalchemy.orm import selectinload

from exam_app.accounts.models import Role
from exam_app.enrolment import services
from exam_app.enrolment.centres import candidates_without_centre
from exam_app.enrolment.models import Candidate, Centre, ExamSession
from exam_app.extensions import db
from exam_app.juries.models import Commission
from exam_app.permissions import can_view_centre, roles_required, session_or_404
from exam_app.units import all_units

bp = Blueprint("overview", __name__)


@bp.route("/gestion/sessions/<code>/")
@roles_required(Role.GESTIONNAIRE)
def session_dashboard(code: str):
    """Counts per unit, centre and establishment for one session."""
    session = session_or_404(code)
    counts = services.dashboard_counts(session)
    commissions = dict(
        db.session.execute(
            sa.select(Commission.unit_code, sa.func.count(Commission.id))
            .where(Commission.session_id == session.id)
            .group_by(Commission.unit_code)
        ).all()
    )
    sessions = db.session.scalars(sa.select(ExamSession).order_by(ExamSession.year.desc())).all()
    return render_template(
        "overview/session_dashboard.html",
        session=session,
        sessions=sessions,
        counts=counts,
        without_centre=candidates_without_centre(session),
        commissions=commissions,
        units=all_units(),
    )


@bp.route("/centre/")
@roles_required(Role.CHEF_CENTRE)
def centre_home():
    """The chef de centre's home: their centre(s), candidates and commissions."""
    centres = db.session.scalars(
        sa.select(Centre).where(Centre.id.in_(current_user.centre_ids())).order_by(Centre.code)
    ).all()
    for centre in centres:
        if not can_view_centre(current_user, centre):
            abort(403)
    blocks = []
    for centre in centres:
        candidates = db.session.scalars(
            sa.select(Candidate).where(Candidate.centre_id == centre.id)
            .options(selectinload(Candidate.unit_forms))
            .order_by(Candidate.search_text, Candidate.id)
        ).all()
        commissions = db.session.scalars(
            sa.select(Commission).where(Commission.centre_id == centre.id)
            .order_by(Commission.code)
        ).all()
        blocks.append((centre, candidates, commissions))
    return render_template("overview/centre_home.html", blocks=blocks)
