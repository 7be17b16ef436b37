"""The CCF coordinator's pages (its establishment's CCF candidates, commissions,
situations, documents and transmission) and the gestionnaire's transmissions page.
Thin: the services check and audit; these views fill the forms, show a refusal, and
commit once."""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from pypdf import PdfReader, PdfWriter
from sqlalchemy.exc import IntegrityError
from wtforms import SelectChoice

from exam_app.accounts.models import Role
from exam_app.ccf import services
from exam_app.ccf.forms import (
    CcfCommissionForm,
    PlanSituationForm,
    ReopenTransmissionForm,
    TransmitForm,
)
from exam_app.documents import ccf_bordereau, evaluation
from exam_app.downloads import attachment
from exam_app.e5.definition import E5
from exam_app.enrolment.models import Establishment, ExamSession
from exam_app.errors import ServiceError
from exam_app.extensions import db
from exam_app.juries import ccf, commissions
from exam_app.juries.forms import set_juror_choices
from exam_app.permissions import (
    ccf_candidate_or_403,
    ccf_commission_for_coordinator,
    ccf_establishment_or_403,
    roles_required,
    session_or_404,
)
from exam_app.printing.signing import PublicUrlMissing, public_url
from exam_app.units import UnitForm

bp = Blueprint("ccf", __name__)


def render_pdf(html: str) -> bytes:
    from exam_app.printing.pdf import render_pdf as render  # WeasyPrint: on the first render

    return render(html)

COORDINATORS = (Role.GESTIONNAIRE, Role.COORDINATEUR_CCF)
RACE = "Une autre personne vient d'enregistrer les mêmes données : rechargez la page."


def _page(session: ExamSession, establishment: Establishment):
    return url_for("ccf.establishment", code=session.code, establishment_id=establishment.id)


@bp.route("/ccf/")
@roles_required(Role.COORDINATEUR_CCF)
def home():
    """The coordinator's establishments in the latest session (straight to the only one)."""
    session = db.session.scalar(sa.select(ExamSession).order_by(ExamSession.id.desc()).limit(1))
    establishments = db.session.scalars(sa.select(Establishment).where(
        Establishment.id.in_(current_user.establishment_ids()))
        .order_by(Establishment.name)).all()
    if session is not None and len(establishments) == 1:
        return redirect(_page(session, establishments[0]))
    return render_template("ccf/home.html", session=session, establishments=establishments)


@bp.route("/ccf/sessions/<code>/etablissements/<int:establishment_id>")
@roles_required(*COORDINATORS)
def establishment(code: str, establishment_id: int):
    """The establishment's CCF: candidates and their situations, commissions, documents,
    transmission."""
    session, place = ccf_establishment_or_403(code, establishment_id)
    rows = ccf_bordereau.rows(session, place)
    found = ccf.ccf_commissions(session, place)
    plan_form = PlanSituationForm()
    plan_form.commission_id.choices = [SelectChoice(c.id, c.code) for c in found]
    return render_template(
        "ccf/establishment.html", session=session, establishment=place, rows=rows,
        commissions=found, transmission=ccf.transmission(session.id, place.id),
        plan_form=plan_form, rule=ccf_bordereau.context(session, place, rows)["ccf_rule"],
        teachers=ccf.establishment_teachers(place), waiting=services.pending(rows),
        situations=[v.label for v in E5.variants_for(UnitForm.CCF)])


def _commission_choices(form: CcfCommissionForm, establishment: Establishment) -> None:
    teachers = ccf.establishment_teachers(establishment)
    _, pros = commissions.juror_choices()
    set_juror_choices(form, teachers, pros,
                      replacing="Enseignants de l'établissement (remplacement, motif obligatoire)")


@bp.route("/ccf/sessions/<code>/etablissements/<int:establishment_id>/commissions/nouvelle",
          methods=["GET", "POST"])
@roles_required(*COORDINATORS)
def new_commission(code: str, establishment_id: int):
    """Form an E5 CCF commission: one of the establishment's teachers and a professional."""
    session, place = ccf_establishment_or_403(code, establishment_id)
    form = CcfCommissionForm()
    _commission_choices(form, place)
    if not form.code.data and request.method == "GET":
        form.code.data = f"E5-CCF-{place.uai}-{len(ccf.ccf_commissions(session, place)) + 1}"
    status = 200
    if form.validate_on_submit():
        try:
            saved = ccf.create_commission(
                session=session, establishment=place, actor=current_user, code=form.code.data,
                days=form.days.data or [],
                jurors=commissions.Jurors(form.teacher_id.data or None,
                                          form.professional_id.data or None,
                                          form.replacement_reason.data or ""))
            db.session.commit()
        except ServiceError as error:
            db.session.rollback()
            target = getattr(form, error.field, None) if error.field else None
            if target is not None and hasattr(target, "errors"):
                target.errors = [*target.errors, error.message]
            else:
                flash(error.message, "error")
            status = error.status
        except IntegrityError:
            db.session.rollback()
            flash(RACE, "error")
            status = 409
        else:
            flash(f"Commission {saved.code} formée.", "success")
            return redirect(_page(session, place))
    elif request.method == "POST":
        status = 400
    return render_template("ccf/commission_form.html", session=session, establishment=place,
                           form=form), status


@bp.route("/ccf/candidats/<int:candidate_id>/planifier", methods=["POST"])
@roles_required(*COORDINATORS)
def plan(candidate_id: int):
    """Plan (or move) a candidate's situation A or B: commission, date and time."""
    candidate = ccf_candidate_or_403(candidate_id)
    session = candidate.session
    place = candidate.establishment
    target = _page(session, place) + f"#c{candidate.id}"
    form = PlanSituationForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(f"{candidate.full_name} : {message}", "error")
        return redirect(target)
    commission = ccf_commission_for_coordinator(form.commission_id.data, place.id)
    if commission is None:
        flash(f"{candidate.full_name} : choisissez une commission de CCF de l'établissement.",
              "error")
        return redirect(target)
    try:
        passage = ccf.plan_situation(commission=commission, candidate=candidate,
                                     variant_code=form.variant_code.data, day=form.day.data,
                                     start=form.start.data, actor=current_user)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        flash(f"{candidate.full_name} : {error.message}", "error")
        return redirect(target)
    label = E5.variant(passage.variant_code).label
    flash(f"{candidate.full_name} : {label} prévue le {form.day.data:%d/%m/%Y} à "
          f"{form.start.data:%H:%M} (commission {commission.code}).", "success")
    return redirect(target)


def _pdf_or_redirect(render, filename: str, back: str):
    try:
        public_url()
        data = render()
    except PublicUrlMissing as exc:
        flash(exc.message, "error")
        return redirect(back)
    return attachment(data, mimetype="application/pdf", filename=filename)


@bp.route("/ccf/sessions/<code>/etablissements/<int:establishment_id>/bordereau.pdf")
@roles_required(*COORDINATORS)
def bordereau_pdf(code: str, establishment_id: int):
    """The establishment's CCF bordereau (PDF, verifiable QR code once every result is final)."""
    session, place = ccf_establishment_or_403(code, establishment_id)
    return _pdf_or_redirect(lambda: render_pdf(ccf_bordereau.build(session, place).html),
                            f"bordereau-ccf-{place.uai}.pdf", _page(session, place))


MAX_FICHES = 400


@bp.route("/ccf/sessions/<code>/etablissements/<int:establishment_id>/fiches.pdf")
@roles_required(*COORDINATORS)
def fiches_pdf(code: str, establishment_id: int):
    """The fiches d'évaluation of the establishment's CCF situations (one PDF); one
    situation (``?situation=ccf_a``) or one candidate (``?candidat=<id>``) when asked."""
    session, place = ccf_establishment_or_403(code, establishment_id)
    passages = ccf_bordereau.passages_of(session, place)
    situation = request.args.get("situation")
    if situation:
        passages = [p for p in passages if p.variant_code == situation]
    candidate = request.args.get("candidat", type=int)
    if candidate:
        passages = [p for p in passages if p.candidate_id == candidate]
    if not passages:
        flash("Aucune situation à imprimer.", "error")
        return redirect(_page(session, place))
    if len(passages) > MAX_FICHES:
        abort(413)

    def render() -> bytes:
        writer = PdfWriter()
        for printed in evaluation.build_many(passages):
            writer.append(PdfReader(io.BytesIO(render_pdf(printed.html))))
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    return _pdf_or_redirect(render, f"fiches-ccf-{place.uai}.pdf", _page(session, place))


@bp.route("/ccf/sessions/<code>/etablissements/<int:establishment_id>/transmettre",
          methods=["GET", "POST"])
@roles_required(*COORDINATORS)
def transmit(code: str, establishment_id: int):
    """Transmit the establishment's CCF results to the académie, after a confirmation."""
    session, place = ccf_establishment_or_403(code, establishment_id)
    form = TransmitForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.transmit(session=session, establishment=place, actor=current_user)
            db.session.commit()
        except ServiceError as error:
            db.session.rollback()
            flash(error.message, "error")
            for detail in error.details[:20]:
                flash(detail, "error")
            status = error.status
        else:
            flash("Notes de CCF transmises à l'académie : elles sont verrouillées.", "success")
            return redirect(_page(session, place))
    elif request.method == "POST":
        status = 400
    rows = ccf_bordereau.rows(session, place)
    return render_template("ccf/transmit.html", session=session, establishment=place,
                           form=form, rows=rows, waiting=services.pending(rows),
                           transmission=ccf.transmission(session.id, place.id),
                           rule=ccf_bordereau.context(session, place, rows)["ccf_rule"]), status


# ---- the académie ----------------------------------------------------------------------------


@bp.route("/gestion/sessions/<code>/ccf")
@roles_required(Role.GESTIONNAIRE)
def transmissions(code: str):
    """Every establishment's CCF: candidates, transmission, reopening."""
    session = session_or_404(code)
    return render_template("ccf/transmissions.html", session=session,
                           rows=services.establishments_overview(session))


@bp.route("/gestion/sessions/<code>/ccf/<int:establishment_id>/rouvrir", methods=["GET", "POST"])
@roles_required(Role.GESTIONNAIRE)
def reopen(code: str, establishment_id: int):
    """Reopen an establishment's transmitted CCF marks, with a reason (audited)."""
    session, place = ccf_establishment_or_403(code, establishment_id)
    form = ReopenTransmissionForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.reopen(session=session, establishment=place, reason=form.reason.data,
                            actor=current_user)
            db.session.commit()
        except ServiceError as error:
            db.session.rollback()
            target = getattr(form, error.field, None) if error.field else None
            if target is not None:
                target.errors = [*target.errors, error.message]
            else:
                flash(error.message, "error")
            status = error.status
        else:
            flash(f"Notes de CCF de {place.name} rouvertes : elles devront être transmises "
                  "de nouveau.", "success")
            return redirect(url_for("ccf.transmissions", code=session.code))
    elif request.method == "POST":
        status = 400
    return render_template("ccf/reopen.html", session=session, establishment=place, form=form,
                           transmission=ccf.transmission(session.id, place.id)), status
