"""Examinateur pages. Passages, timer and grids arrive with the jury-day issue."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask_login import current_user

from exam_app.accounts.models import Role
from exam_app.extensions import db
from exam_app.juries.models import Commission, CommissionMember
from exam_app.permissions import roles_required
from exam_app.units import get_unit

bp = Blueprint("juries", __name__)


@bp.route("/jury/")
@roles_required(Role.EXAMINATEUR)
def home():
    """The examinateur's home: the commissions they sit on, with the other juror."""
    commissions = db.session.scalars(
        sa.select(Commission)
        .where(Commission.id.in_(
            sa.select(CommissionMember.commission_id).where(
                CommissionMember.user_id == current_user.id)
        ))
        .order_by(Commission.unit_code, Commission.code)
    ).all()
    return render_template("juries/home.html", commissions=commissions, get_unit=get_unit)
