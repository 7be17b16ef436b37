"""The candidate's documents (issue 14, §4): their convocations and relevé de notes as
PDFs, and the panel of their space listing when and where they sit; the relevés of an
establishment for the académie (gestionnaire)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from exam_app.accounts.models import Role
from exam_app.clock import utcnow, zone
from exam_app.documents import candidate_space, convocation, releve
from exam_app.documents.views import bp
from exam_app.downloads import attachment
from exam_app.enrolment.models import Establishment
from exam_app.extensions import db
from exam_app.formatting import local_datetime, local_time, long_date, zone_label
from exam_app.permissions import (
    candidate_for_self_or_404,
    passage_for_candidate_or_404,
    roles_required,
    session_or_404,
)

HOME = "enrolment.candidate_home"


@bp.app_context_processor
def _inject_candidate_documents():
    def documents_panel(candidate) -> dict:
        # Dates and times in the candidate's session's zone, whatever the page's.
        tz = candidate.session.timezone
        with zone(tz):
            rows = [{"sitting": s, "date": long_date(s.scheduled_at),
                     "time": local_time(s.scheduled_at)}
                    for s in candidate_space.sittings(candidate)]
            state = candidate_space.releve_state(candidate)
            return {"rows": rows, "zone": zone_label(tz), "releve": state,
                    "releve_date": local_datetime(state.published_at)}

    return {"documents_panel": documents_panel}


@bp.route("/candidat/convocations/<int:passage_id>.pdf")
@roles_required(Role.CANDIDAT)
def candidate_convocation(passage_id: int):
    """The candidate's own convocation to one oral, a tagged PDF, once the plan is published."""
    passage = passage_for_candidate_or_404(passage_id)
    if not candidate_space.published_passage(passage):
        flash("Votre convocation n'est pas encore disponible : le planning des oraux n'est "
              "pas encore publié.", "info")
        return redirect(url_for(HOME) + "#mes-convocations")
    printed = convocation.build(passage)
    from exam_app.printing.pdf import render_pdf  # WeasyPrint: on the first render

    return attachment(render_pdf(printed.html, tagged=True), mimetype="application/pdf",
                      filename=printed.filename)


@bp.route("/candidat/<int:candidate_id>/releve.pdf")
@roles_required(Role.CANDIDAT)
def candidate_releve(candidate_id: int):
    """The candidate's own relevé de notes, a tagged PDF, from the session's publication date."""
    candidate = candidate_for_self_or_404(candidate_id)
    state = candidate_space.releve_state(candidate)
    if not state.available:
        flash(f"Votre relevé de notes sera disponible ici à partir du "
              f"{local_datetime(state.published_at)}." if state.published_at else
              "Votre relevé de notes n'est pas encore publié : la date de publication "
              "n'est pas encore fixée.", "info")
        return redirect(url_for(HOME) + "#mon-releve")
    return attachment(releve.candidate_pdf(candidate), mimetype="application/pdf",
                      filename=f"releve-de-notes-{candidate.number}.pdf")


@bp.route("/gestion/sessions/<code>/releves")
@roles_required(Role.GESTIONNAIRE)
def releves(code: str):
    """The relevés de notes of the session, one pack per establishment."""
    session = session_or_404(code)
    return render_template("documents/releves.html", session=session,
                           establishments=releve.establishments(session), parts=releve.parts,
                           part_size=releve.PART_SIZE)


@bp.route("/gestion/sessions/<code>/releves.pdf")
@roles_required(Role.GESTIONNAIRE)
def releve_pack(code: str):
    """The relevés of one establishment's candidates (``etablissement``), one PDF to print."""
    session = session_or_404(code)
    establishment_id = request.args.get("etablissement", type=int)
    establishment = db.session.get(Establishment, establishment_id) \
        if establishment_id is not None else None
    if establishment is None:
        flash("Choisissez un établissement dans la liste.", "error")
        return redirect(url_for("documents.releves", code=session.code))
    part = request.args.get("partie", 1, type=int)
    pdf, count = releve.pack_pdf(session, establishment.id, part=part, now=utcnow())
    if not count:
        flash(f"Aucun candidat de {establishment.name} dans cette session (ou cette partie "
              "du lot) : rien à imprimer.", "error")
        return redirect(url_for("documents.releves", code=session.code))
    return attachment(pdf, mimetype="application/pdf",
                      filename=f"releves-{session.code}-{establishment.uai}-{part}.pdf")
