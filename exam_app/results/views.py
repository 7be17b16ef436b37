"""The results exports (number, name, E4, E5, E6) for the académie, after the
levée d'anonymat. Their URLs sit beside the E6 pages where they are offered."""

from __future__ import annotations

from flask import Blueprint

from exam_app.accounts.models import Role
from exam_app.downloads import attachment
from exam_app.e6.definition import E6
from exam_app.e6.views_release import released_session_or_redirect
from exam_app.permissions import roles_required
from exam_app.results import e6_bordereau, exports

bp = Blueprint("results", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.route("/gestion/sessions/<code>/e6/resultats.csv")
@roles_required(Role.GESTIONNAIRE)
def export_csv(code: str):
    """Results (number, name, one column per unit) as CSV, after the levée d'anonymat."""
    session = released_session_or_redirect(code)
    return attachment(exports.export_csv(session.id), mimetype="text/csv",
                      filename=f"resultats-{session.code}.csv")


@bp.route("/gestion/sessions/<code>/e6/resultats.xlsx")
@roles_required(Role.GESTIONNAIRE)
def export_xlsx(code: str):
    """Results (number, name, one column per unit) as XLSX, after the levée d'anonymat."""
    session = released_session_or_redirect(code)
    return attachment(exports.export_xlsx(session.id, title=f"Résultats {session.name}"),
                      mimetype=XLSX, filename=f"resultats-{session.code}.xlsx")


@bp.route("/gestion/sessions/<code>/e6/bordereau.pdf")
@roles_required(Role.GESTIONNAIRE)
def e6_bordereau_pdf(code: str):
    """The E6 bordereau de notation (PDF), after the levée d'anonymat."""
    session = released_session_or_redirect(code)
    return attachment(e6_bordereau.bordereau_pdf(session=session), mimetype="application/pdf",
                      filename=f"bordereau-{E6.code.lower()}-{session.code}.pdf")
