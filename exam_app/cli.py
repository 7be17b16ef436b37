"""Flask commands: ``flask --app exam_app demo | import-candidates | create-user``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.exc import IntegrityError

from exam_app.extensions import db


def _print_logins(logins) -> None:
    from exam_app.demo import demo_password

    click.echo("")
    click.echo(f"Comptes de démonstration (mot de passe commun : {demo_password()})")
    for login in logins:
        click.echo(f"  {login.role:<18} {login.username:<14} {login.who}")
    click.echo("")


@click.command("demo")
@click.option("--candidates", default=150, show_default=True, help="Nombre de candidats.")
@click.option("--force", is_flag=True,
              help="Charger la démonstration même si la base contient déjà d'autres sessions.")
def demo_command(candidates: int, force: bool) -> None:
    """Charge la session de démonstration (ne fait rien si elle existe déjà)."""
    from exam_app import demo
    from exam_app.enrolment.models import ExamSession

    if demo.is_loaded():
        click.echo("La session de démonstration est déjà chargée : rien à faire.")
        _print_logins(demo.logins_for_display())
        return
    # `make run` calls this on every start: never mix demo accounts into real data.
    if not force and db.session.scalar(sa.select(ExamSession.id).limit(1)) is not None:
        click.echo("La base contient déjà des sessions : la démonstration n'est pas chargée "
                   "(--force pour la charger quand même).")
        return
    demo.load(candidates=candidates)
    db.session.commit()
    click.echo(f"Session de démonstration « {demo.DEMO_CODE} » chargée ({candidates} candidats).")
    _print_logins(demo.logins_for_display())


@click.command("import-candidates")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--session", "session_code", default=None,
              help="Code de la session (facultatif s'il n'y en a qu'une).")
def import_candidates_command(file: Path, session_code: str | None) -> None:
    """Importe les candidats d'un fichier CSV (tout ou rien)."""
    from exam_app.enrolment.services import UnknownSession, import_candidates, resolve_session

    try:
        session = resolve_session(session_code)
    except UnknownSession as exc:
        raise click.ClickException(str(exc)) from None
    limit = current_app.config["IMPORT_MAX_BYTES"]
    if file.stat().st_size > limit:
        raise click.ClickException(
            f"Le fichier dépasse {limit // (1024 * 1024)} Mo : découpez-le. Rien n'a été importé.")
    try:
        report = import_candidates(session=session, data=file.read_bytes(), actor=None,
                                   max_rows=current_app.config["IMPORT_MAX_ROWS"],
                                   filename=file.name)
        if report.ok:
            db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException(
            "Un autre import a enregistré les mêmes candidats au même moment : "
            "rien n'a été importé. Relancez la commande.") from None
    if not report.ok:
        db.session.rollback()
        click.echo(f"Import refusé : {report.error_count} erreur(s). Rien n'a été importé.",
                   err=True)
        for error in report.errors:
            click.echo(f"  {error}", err=True)
        if report.error_count > len(report.errors):
            click.echo(f"  … et {report.error_count - len(report.errors)} autres.", err=True)
        sys.exit(1)
    click.echo(f"Import terminé dans {session.code} : {report.created} créé(s), "
               f"{report.updated} mis à jour, {report.unchanged} inchangé(s), "
               f"{report.establishments_created} établissement(s) créé(s).")


@click.command("create-user")
@click.option("--username", required=True, help="Identifiant de connexion.")
@click.option("--first-name", required=True)
@click.option("--last-name", required=True)
@click.option("--email", default=None)
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["gestionnaire", "chef_centre", "examinateur", "correcteur",
                                 "candidat"]))
@click.option("--centre", "centre_code", default=None, help="Code du centre (chef_centre).")
@click.option("--candidate", "candidate_number", default=None,
              help="N° candidat (candidat).")
@click.option("--session", "session_code", default=None)
@click.password_option("--password", help="Mot de passe (demandé s'il n'est pas donné).")
def create_user_command(username, first_name, last_name, email, roles, centre_code,
                        candidate_number, session_code, password) -> None:
    """Crée un compte utilisateur avec ses rôles."""
    from exam_app.accounts.models import Role
    from exam_app.accounts.services import create_user
    from exam_app.enrolment.models import Candidate, Centre
    from exam_app.enrolment.services import UnknownSession, resolve_session

    scoped = []
    session = None
    if {"chef_centre", "candidat"} & set(roles):
        try:
            session = resolve_session(session_code)
        except UnknownSession as exc:
            raise click.ClickException(str(exc)) from None
    for role in roles:
        scope: dict = {}
        if role == "chef_centre":
            centre = db.session.scalar(sa.select(Centre).where(
                Centre.session_id == session.id, Centre.code == (centre_code or "")))
            if centre is None:
                raise click.ClickException("Rôle chef_centre : --centre CODE inconnu ou absent.")
            scope = {"centre_id": centre.id}
        if role == "candidat":
            candidate = db.session.scalar(sa.select(Candidate).where(
                Candidate.session_id == session.id, Candidate.number == (candidate_number or "")))
            if candidate is None:
                raise click.ClickException("Rôle candidat : --candidate NUMERO inconnu ou absent.")
            scope = {"candidate_id": candidate.id}
        scoped.append((Role(role), scope))
    try:
        user = create_user(username=username, password=password, first_name=first_name,
                           last_name=last_name, email=email, roles=scoped)
    except ValueError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Compte « {user.username} » créé ({', '.join(roles)}).")


@click.command("print-pack")
@click.option("--centre", "centre_code", required=True, help="Code du centre.")
@click.option("--date", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Jour des épreuves (AAAA-MM-JJ).")
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Fichier PDF (ou ZIP avec --zip) à écrire.")
@click.option("--session", "session_code", default=None,
              help="Code de la session (si le code du centre est ambigu).")
@click.option("--kinds", default="convocation,emargement,fiche,bordereau", show_default=True,
              help="Documents, séparés par des virgules.")
@click.option("--zip", "as_zip", is_flag=True, help="Un ZIP d'un PDF par document.")
def print_pack_command(centre_code: str, day, output: Path, session_code: str | None,
                       kinds: str, as_zip: bool) -> None:
    """Write a centre's print pack for one day (same code as the web pack, synchronously)."""
    from exam_app.documents import packs
    from exam_app.enrolment.models import Centre
    from exam_app.enrolment.services import UnknownSession, resolve_session
    from exam_app.printing.signing import PublicUrlMissing, public_url

    try:  # a QR code on paper must point at the site's real address, never localhost
        base = public_url(current_app)
    except PublicUrlMissing as exc:
        raise click.ClickException(
            f"{exc.message}\nDéfinissez PUBLIC_URL, par exemple : "
            "PUBLIC_URL=https://examens.example.fr flask --app exam_app print-pack …") from None
    query = sa.select(Centre).where(Centre.code == centre_code)
    if session_code:
        try:
            query = query.where(Centre.session_id == resolve_session(session_code).id)
        except UnknownSession as exc:
            raise click.ClickException(str(exc)) from None
    centres = db.session.scalars(query.limit(2)).all()
    if not centres:
        raise click.ClickException(f"Centre « {centre_code} » inconnu.")
    if len(centres) > 1:
        raise click.ClickException(f"Le centre « {centre_code} » existe dans plusieurs sessions : "
                                   "précisez --session CODE.")
    centre = centres[0]
    app = current_app._get_current_object()
    tmp = output.with_name(output.name + ".part")
    try:
        chosen = packs.normalise_kinds([k.strip() for k in kinds.split(",") if k.strip()])
        # Behind the same global limit as the web's packs (the CLI waits its turn).
        with app.test_request_context("/", base_url=base), packs.PackSlots.for_app(app).held():
            packs.write_pack(centre, day.date(), chosen.split(","), tmp,
                             fmt="zip" if as_zip else "pdf",
                             workers=app.config.get("PRINT_PACK_WORKERS", 2))
    except packs.PackError as exc:
        tmp.unlink(missing_ok=True)
        raise click.ClickException(str(exc)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(output)
    click.echo(f"Lot écrit dans {output} ({output.stat().st_size} octets).")


def register(app: Flask) -> None:
    for command in (demo_command, import_candidates_command, create_user_command,
                    print_pack_command):
        app.cli.add_command(command)
