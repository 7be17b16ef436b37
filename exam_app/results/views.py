"""The results exports (number, name, E4, E5, E6) for the académie, after the
levée d'anonymat. Their URLs sit beside the E6 pages where they are offered."""

from __future__ import annotations

from flask import Blueprint, stream_with_context

from exam_app.accounts.models import Role
from exam_app.downloads import attachment, attachment_stream
from exam_app.e6.definition import E6
from exam_app.e6.views_release import released_session_or_redirect
from exam_app.extensions import begin_read_snapshot, db
from exam_app.permissions import roles_required
from exam_app.results import e6_bordereau, exports

bp = Blueprint("results", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.route("/gestion/sessions/<code>/e6/resultats.csv")
@roles_required(Role.GESTIONNAIRE)
def export_csv(code: str):
    """Results (number, name, one column per unit) as CSV, after the levée d'anonymat;
    streamed, a batch of candidates at a time."""
    session = released_session_or_redirect(code)
    return _streamed(exports.stream_csv, session.id, mimetype="text/csv",
                     filename=f"resultats-{session.code}.csv")


@bp.route("/gestion/sessions/<code>/e6/resultats.xlsx")
@roles_required(Role.GESTIONNAIRE)
def export_xlsx(code: str):
    """Results (number, name, one column per unit) as XLSX, after the levée d'anonymat;
    streamed."""
    session = released_session_or_redirect(code)
    title = f"Résultats {session.name}"
    return _streamed(lambda session_id: exports.stream_xlsx(session_id, title=title),
                     session.id, mimetype=XLSX, filename=f"resultats-{session.code}.xlsx")


def _streamed(produce, session_id: int, *, mimetype: str, filename: str):
    """A download whose body is produced while it is sent, from one snapshot of the
    database (a mark validated meanwhile is in none of its rows or in all of them)."""
    db.session.rollback()

    def body():
        begin_read_snapshot()
        yield from produce(session_id)

    return attachment_stream(stream_with_context(body()), mimetype=mimetype, filename=filename)


@bp.route("/gestion/sessions/<code>/e6/bordereau.pdf")
@roles_required(Role.GESTIONNAIRE)
def e6_bordereau_pdf(code: str):
    """The E6 bordereau de notation (PDF), after the levée d'anonymat."""
    session = released_session_or_redirect(code)
    return attachment(e6_bordereau.bordereau_pdf(session=session), mimetype="application/pdf",
                      filename=f"bordereau-{E6.code.lower()}-{session.code}.pdf")
