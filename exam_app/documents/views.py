"""Public verification of printed documents (no login), and print packs."""

from __future__ import annotations

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
    send_file,
    url_for,
)
from flask_login import current_user

from exam_app.accounts.models import Role
from exam_app.clock import to_local, utcnow
from exam_app.documents import packs as pack_services
from exam_app.documents.forms import PackForm, RegenerateForm
from exam_app.documents.models import PackState, PrintPack
from exam_app.extensions import db
from exam_app.formatting import local_datetime
from exam_app.permissions import can_view_centre, centre_or_403, roles_required
from exam_app.printing.signing import PublicUrlMissing, public_url, read_app_token
from exam_app.printing.verification import Status, verify

bp = Blueprint("documents", __name__)


@bp.route("/verifier/<token>")
def verify_document(token: str):
    """Say whether a printed document is authentic and current, superseded, or not authentic."""
    result = verify(read_app_token(token[:2000]))
    return render_template("documents/verify.html", result=result, Status=Status)


# ---- print packs (chef de centre of the centre, gestionnaire) -----------------

PACK_ROLES = (Role.GESTIONNAIRE, Role.CHEF_CENTRE)


def _pack_or_403(pack_id: int) -> PrintPack:
    job = db.session.get(PrintPack, pack_id)
    if job is None:
        abort(404)
    if not can_view_centre(current_user, job.centre):
        abort(403)
    return job


def _pack_state(job: PrintPack) -> dict:
    done = job.state == PackState.DONE.value
    return {"state": job.state, "label": PackState(job.state).label, "done": job.done,
            "total": job.total, "percent": job.percent, "error": job.error,
            "download_url": url_for("documents.pack_file", pack_id=job.id) if done else None}


@bp.route("/centres/<int:centre_id>/impressions", methods=["GET", "POST"])
@roles_required(*PACK_ROLES)
def packs(centre_id: int):
    """List the centre's print packs and request a new one."""
    centre = centre_or_403(centre_id)
    form = PackForm()
    days = pack_services.exam_days(centre)
    if request.method == "GET" and days:
        # The day asked for (a link of the list), else the centre's next exam day.
        asked = request.args.get("jour", "")
        today = to_local(utcnow(), centre.session.timezone).date()
        form.day.data = next((d for d, _ in days if d.isoformat() == asked), None) or next(
            (d for d, _ in days if d >= today), days[-1][0])
    if form.validate_on_submit():
        try:
            public_url()  # nothing to print without the site's address: say so now
            pack_services.check_day_has_passages(centre, form.day.data)
            job, must_run = pack_services.request_pack(
                centre=centre, day=form.day.data, kinds=form.kinds.data, fmt=form.fmt.data,
                actor=current_user)
        except pack_services.DayWithoutPassages as exc:
            form.day.errors = [*form.day.errors, str(exc)]
        except (pack_services.PackError, PublicUrlMissing) as exc:
            form.kinds.errors = [*form.kinds.errors, str(exc)]
        else:
            changed = None if must_run else pack_services.changed_since_generation(job)
            if changed is not None:
                # Asked again after the data changed: the old file would be stale.
                must_run = pack_services.regenerate(job=job, actor=current_user)
            db.session.commit()
            if must_run:
                pack_services.start(current_app._get_current_object(), job.id)
                flash("Les données ont changé depuis la dernière génération : le lot est "
                      "régénéré." if changed else
                      "Génération lancée : vous pouvez quitter cette page et revenir plus tard.",
                      "success")
            elif job.state == PackState.DONE.value:
                flash(f"Ce lot est à jour : généré le {local_datetime(job.finished_at)}, rien "
                      "n'a changé depuis. Téléchargez-le ci-dessous.", "info")
            else:
                flash("Ce lot est déjà en cours de génération : suivez son avancement ici.",
                      "info")
            return redirect(url_for("documents.pack", pack_id=job.id))
    jobs = db.session.scalars(sa.select(PrintPack).where(PrintPack.centre_id == centre.id)
                              .order_by(PrintPack.day.desc(), PrintPack.id.desc()).limit(50))
    jobs = list(jobs)
    return render_template("documents/packs.html", centre=centre, form=form, jobs=jobs,
                           kinds=pack_services.KINDS, days=days,
                           requested=pack_services.last_requests([j.id for j in jobs]))


@bp.route("/impressions/<int:pack_id>")
@roles_required(*PACK_ROLES)
def pack(pack_id: int):
    """A pack's progress, and its download when done."""
    job = _pack_or_403(pack_id)
    return render_template("documents/pack.html", job=job, state=_pack_state(job),
                           kinds=pack_services.KINDS, form=RegenerateForm())


@bp.route("/impressions/<int:pack_id>/etat")
@roles_required(*PACK_ROLES)
def pack_state(pack_id: int):
    """The pack's progress as JSON, for the progress bar."""
    return jsonify(_pack_state(_pack_or_403(pack_id)))


@bp.route("/impressions/<int:pack_id>/regenerer", methods=["POST"])
@roles_required(*PACK_ROLES)
def pack_regenerate(pack_id: int):
    """Render a finished pack again (after the data changed)."""
    job = _pack_or_403(pack_id)
    form = RegenerateForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        public_url()
    except PublicUrlMissing as exc:
        flash(exc.message, "error")
        return redirect(url_for("documents.pack", pack_id=job.id))
    if pack_services.regenerate(job=job, actor=current_user):
        db.session.commit()
        pack_services.start(current_app._get_current_object(), job.id)
        flash("Nouvelle génération lancée.", "success")
    else:
        flash("Ce lot est déjà en cours de génération.", "info")
    return redirect(url_for("documents.pack", pack_id=job.id))


@bp.route("/impressions/<int:pack_id>/fichier")
@roles_required(*PACK_ROLES)
def pack_file(pack_id: int):
    """Download a finished pack."""
    job = _pack_or_403(pack_id)
    path = pack_services.result_file(current_app, job)
    if job.state != PackState.DONE.value or path is None:
        flash("Ce lot n'est pas encore disponible.", "error")
        return redirect(url_for("documents.pack", pack_id=job.id))
    mimetype = "application/zip" if job.fmt == "zip" else "application/pdf"
    return send_file(path, mimetype=mimetype, as_attachment=True,
                     download_name=f"impressions-{job.centre.code}-{job.day.isoformat()}.{job.fmt}")


# The centre pages (table, moves) register on this blueprint.
from exam_app.documents import views_candidate, views_moves  # noqa: E402

__all__ = ["bp", "views_candidate", "views_moves"]
