"""E6 pages. Copies, lots and the barème arrive with the E6 issue."""

from __future__ import annotations

from flask import Blueprint, render_template

from exam_app.accounts.models import Role
from exam_app.permissions import roles_required

bp = Blueprint("e6", __name__)


@bp.route("/correction/")
@roles_required(Role.CORRECTEUR)
def correcteur_home():
    """The correcteur's home: the lots of anonymous copies assigned to them."""
    return render_template("e6/correcteur_home.html", lots=[])
