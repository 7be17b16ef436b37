"""E6 levée d'anonymat (the bordereau de notation and the results exports it opens
are in exam_app/results: they read the results module)."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_login import current_user

from exam_app.accounts.models import Role
from exam_app.e6 import release as release_service
from exam_app.e6.blueprint import bp, commit, flash_error
from exam_app.e6.common import E6Error
from exam_app.e6.forms import ConfirmForm
from exam_app.enrolment.models import ExamSession
from exam_app.extensions import db
from exam_app.permissions import roles_required, session_or_404


@bp.route("/gestion/sessions/<code>/e6/levee", methods=["POST"])
@roles_required(Role.GESTIONNAIRE)
def lift(code: str):
    """Lift anonymity once every lot is final; refused with what is missing otherwise."""
    session = session_or_404(code)
    if not ConfirmForm().validate_on_submit():
        flash("Cochez la case pour confirmer la levée d'anonymat.", "error")
        return redirect(url_for("e6.manage", code=session.code))
    try:
        release_service.lift_anonymity(session=session, actor=current_user)
    except E6Error as exc:
        db.session.rollback()
        flash_error(exc)
    else:
        if commit():
            flash("Anonymat levé : le bordereau et l'export des résultats sont disponibles.",
                  "success")
    return redirect(url_for("e6.manage", code=session.code))


def released_session_or_redirect(code: str) -> ExamSession:
    """The session, once its E6 anonymity is lifted; otherwise back to the E6 page, saying so."""
    session = session_or_404(code)
    if not release_service.is_released(session.id):
        flash("Disponible après la levée d'anonymat.", "error")
        abort(redirect(url_for("e6.manage", code=session.code)))
    return session
