"""Flask commands: ``flask --app exam_app demo | import-candidates | create-user |
set-password | create-session | edit-session | set-unit-dates | import-establishments |
import-centres | import-people | assign-centres | move-candidates | activation-links |
create-commission | set-juror-availability | import-commissions | plan-session``."""

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
    try:
        demo.load(candidates=candidates)
    except ValueError as exc:  # create-user's refusals: DEMO_PASSWORD outside the policy
        db.session.rollback()
        raise click.ClickException(f"Démonstration non chargée : {exc}") from None
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
    from exam_app.errors import ServiceError

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
    except ServiceError as exc:  # e.g. the results are locked by the closed délibération
        db.session.rollback()
        raise click.ClickException(f"{exc.message} Rien n'a été importé.") from None
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
                                 "candidat", "jury_deliberation", "coordinateur_ccf"]))
@click.option("--centre", "centre_code", default=None, help="Code du centre (chef_centre).")
@click.option("--establishment", "uai", default=None,
              help="UAI de l'établissement (coordinateur_ccf).")
@click.option("--candidate", "candidate_number", default=None,
              help="N° candidat (candidat).")
@click.option("--session", "session_code", default=None)
@click.option("--password", default=None,
              help="Mot de passe (demandé s'il n'est pas donné, sauf avec --activation-link).")
@click.option("--activation-link", is_flag=True,
              help="Sans mot de passe : la personne active son compte avec un lien à usage "
                   "unique, affiché ici (ou envoyé par courriel avec --send).")
@click.option("--send", is_flag=True, help="Avec --activation-link : envoyer le lien par "
                                           "courriel (MAIL_SERVER configuré, --email requis).")
def create_user_command(username, first_name, last_name, email, roles, centre_code, uai,
                        candidate_number, session_code, password, activation_link,
                        send) -> None:
    """Crée un compte utilisateur avec ses rôles."""
    from exam_app.accounts.models import Role
    from exam_app.accounts.services import create_user
    from exam_app.enrolment.models import Candidate, Centre, Establishment
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
        if role == "coordinateur_ccf":
            establishment = db.session.scalar(sa.select(Establishment).where(
                Establishment.uai == (uai or "").strip().upper()))
            if establishment is None:
                raise click.ClickException(
                    "Rôle coordinateur_ccf : --establishment UAI inconnu ou absent.")
            scope = {"establishment_id": establishment.id}
        scoped.append((Role(role), scope))
    if activation_link:
        if password is not None:
            raise click.UsageError("--activation-link et --password s'excluent.")
        if send and not email:
            raise click.UsageError("--send demande l'adresse électronique (--email).")
    elif send:
        raise click.UsageError("--send va avec --activation-link.")
    elif password is None:
        password = click.prompt("Mot de passe", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(username=username, password=password, first_name=first_name,
                           last_name=last_name, email=email, roles=scoped)
        url = _activation_for_new_user(user, send=send) if activation_link else None
    except ValueError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Compte « {user.username} » créé ({', '.join(roles)}).")
    if activation_link and not send:
        click.echo(f"Lien d'activation (valable {_validity()}, à usage unique) : "
                   f"{url}")
    elif activation_link:
        click.echo(f"Lien d'activation envoyé à {user.email}.")


def _validity() -> str:
    from exam_app.accounts.tokens import duration_label

    return duration_label(int(current_app.config["ACTIVATION_MAX_AGE"]))


def _activation_for_new_user(user, *, send: bool) -> str:
    """Issue the new account's activation link; e-mail it with ``send`` (nothing is kept
    when the mail server refuses it: the command fails and the account is not created)."""
    from exam_app.accounts import tokens
    from exam_app.accounts.mail import Mailer, MailSettings
    from exam_app.accounts.models import TokenPurpose
    from exam_app.errors import ServiceError

    try:
        issued = tokens.issue(user=user, purpose=TokenPurpose.ACTIVATION,
                              max_age_seconds=int(current_app.config["ACTIVATION_MAX_AGE"]),
                              actor=None, channel="email" if send else "cli")
        url = tokens.link(issued)
        if send:
            with Mailer(MailSettings.from_config(current_app.config)) as mailer:
                subject, body = tokens.activation_message(user=user, url=url,
                                                          expires_at=issued.expires_at)
                mailer.send(to=user.email, subject=subject, body=body)
            tokens.mark_sent(issued=issued, to=user.email, actor=None)
    except ServiceError as error:
        raise ValueError(error.message) from None
    return url


@click.command("activation-links")
@click.option("--session", "session_code", default=None)
@click.option("--send", is_flag=True, help="Envoyer les liens par courriel (MAIL_SERVER).")
@click.option("--letters", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Écrire les lettres d'activation (PDF, une page par personne) dans ce fichier.")
def activation_links_command(session_code: str | None, send: bool, letters: Path | None) -> None:
    """Un nouveau lien d'activation pour chaque personne en attente : CSV sur la sortie
    standard (nom, courriel, rôles, lien, expiration), ou envoi par courriel (--send), ou
    lettres en PDF (--letters). Chaque nouveau lien remplace le précédent."""
    from exam_app.accounts.mail import Mailer, MailError, MailSettings
    from exam_app.enrolment import activation

    session = _session(session_code)
    pending = activation.pending_people()
    if not pending:
        click.echo("Aucune personne en attente d'activation.", err=True)
        return
    max_age = int(current_app.config["ACTIVATION_MAX_AGE"])
    if send:
        settings = MailSettings.from_config(current_app.config)
        try:
            with Mailer(settings) as mailer:
                outcomes = _apply(lambda: activation.send_links(
                    session=session, people=pending, actor=None, mailer=mailer,
                    max_age_seconds=max_age))
        except MailError as error:
            db.session.rollback()
            if settings.configured:
                activation.connection_failed(session=session, people=pending, actor=None,
                                             error=error.message)
                db.session.commit()
            raise click.ClickException(error.message) from None
        for outcome in outcomes:
            user = outcome.user
            click.echo(f"{'envoyé' if outcome.ok else 'NON ENVOYÉ'}\t{user.email}\t"
                       f"{user.display_name}" + ("" if outcome.ok else f"\t{outcome.message}"))
        failed = sum(not o.ok for o in outcomes)
        if failed:
            raise click.ClickException(f"{failed} courriel(s) non envoyé(s) sur {len(outcomes)}.")
        return
    channel = "letter" if letters else "csv"

    def hand_out():
        links = activation.issue_links(session=session, people=pending, actor=None,
                                       channel=channel, max_age_seconds=max_age)
        if letters:
            app = current_app._get_current_object()
            with app.test_request_context("/", base_url=app.config.get("PUBLIC_URL") or None):
                letters.write_bytes(activation.letters_pdf(session=session, links=links))
        return links

    links = _apply(hand_out)
    if letters:
        click.echo(f"{len(links)} lettre(s) d'activation écrites dans {letters}.", err=True)
    else:
        click.echo(activation.links_csv(links), nl=False)


@click.command("set-password")
@click.option("--username", required=True, help="Identifiant de connexion.")
@click.password_option("--password", help="Nouveau mot de passe (demandé s'il n'est pas donné).")
def set_password_command(username: str, password: str) -> None:
    """Donne un nouveau mot de passe à un compte (ses sessions ouvertes se terminent)."""
    from exam_app.accounts.services import set_password, user_by_username
    from exam_app.errors import ServiceError

    user = user_by_username(username)
    if user is None:
        raise click.ClickException(f"Aucun compte n'a l'identifiant « {username.strip()} ».")
    try:
        set_password(user=user, password=password, actor=None)
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Mot de passe de « {user.username} » changé ; ses sessions ouvertes sont "
               "terminées.")


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


# --- session set-up (issue 13): the same services as the pages ---------------------------

def _session(code: str | None):
    from exam_app.enrolment.services import UnknownSession, resolve_session

    try:
        return resolve_session(code)
    except UnknownSession as exc:
        raise click.ClickException(str(exc)) from None


def _apply(change) -> object:
    """Run a set-up service and commit, or roll back and say why in French (exit 1)."""
    from exam_app.errors import ServiceError

    try:
        result = change()
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException("Une autre opération a enregistré les mêmes données au même "
                                   "moment : rien n'a été changé. Relancez la commande.") from None
    return result


@click.command("create-session")
@click.option("--code", required=True, help="Code de la session, ex. SAM-2027-LYON.")
@click.option("--name", required=True, help="Libellé imprimé sur les documents.")
@click.option("--academie", required=True, help="Ex. « Académie de Lyon ».")
@click.option("--year", required=True, help="Année des épreuves.")
@click.option("--timezone", default="Europe/Paris", show_default=True,
              help="Fuseau horaire IANA de la session.")
def create_session_command(code, name, academie, year, timezone) -> None:
    """Crée une session d'examen (règles par défaut)."""
    from exam_app.enrolment import sessions

    session = _apply(lambda: sessions.create_session(actor=None, code=code, name=name,
                                                     academie=academie, year=year,
                                                     timezone=timezone))
    click.echo(f"Session {session.code} créée ({session.name}, {session.timezone}).")


RULE_OPTIONS = {"mark_step": "--mark-step", "internship_min_days": "--internship-min-days",
                "e4_fiche_max_pages": "--e4-fiche-max-pages",
                "e6_duration_minutes": "--e6-duration", "nv_excludes_interview": "--nv-rule"}


@click.command("edit-session")
@click.option("--session", "session_code", default=None,
              help="Code de la session (facultatif s'il n'y en a qu'une).")
@click.option("--name", default=None)
@click.option("--academie", default=None)
@click.option("--year", default=None)
@click.option("--timezone", default=None, help="Fuseau horaire IANA.")
@click.option("--mark-step", default=None, help="Pas de notation : 0.25, 0.5 ou 1.")
@click.option("--internship-min-days", default=None, help="Durée minimale de stage (jours).")
@click.option("--e4-fiche-max-pages", default=None,
              help="Pages max. par fiche E4 (« aucun » : circulaire nationale).")
@click.option("--e6-duration", "e6_duration_minutes", default=None,
              help="Durée de l'E6 (minutes).")
@click.option("--nv-rule", "nv_excludes_interview", default=None,
              type=click.Choice(["non-interroge", "interroge"]),
              help="Candidat au dossier non valide : non interrogé ou interrogé.")
@click.option("--reason", default="", help="Motif (obligatoire pour une règle déjà appliquée).")
def edit_session_command(session_code, reason, **values) -> None:
    """Modifie une session : libellé, académie, année, fuseau, règles."""
    from exam_app.enrolment import sessions

    session = _session(session_code)
    given = {k: v for k, v in values.items() if v is not None}
    if given.get("e4_fiche_max_pages") == "aucun":
        given["e4_fiche_max_pages"] = None
    if "nv_excludes_interview" in given:
        given["nv_excludes_interview"] = given["nv_excludes_interview"] == "non-interroge"
    identity = {k: v for k, v in given.items() if k in sessions.IDENTITY}
    rules = {k: v for k, v in given.items() if k in sessions.RULES}
    if not given:
        raise click.ClickException("Rien à modifier : indiquez au moins une option.")

    def change():
        changed = sessions.update_identity(session=session, actor=None, **identity)
        return changed + sessions.change_rules(session=session, actor=None, reason=reason,
                                               **rules)

    changed = _apply(change)
    click.echo(f"Session {session.code} : " + (", ".join(changed) + " modifié(s)."
                                               if changed else "aucun changement."))


def _local_datetime(text: str | None, zone):
    from datetime import datetime

    if not text:
        return None
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=zone)
        except ValueError:
            continue
    raise click.ClickException(f"« {text} » : date et heure attendues sous la forme "
                               "AAAA-MM-JJ HH:MM (heure de la session).")


def _day(text: str | None):
    from datetime import date

    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.ClickException(f"« {text} » : date attendue sous la forme AAAA-MM-JJ.") \
            from None


@click.command("set-unit-dates")
@click.option("--session", "session_code", default=None)
@click.option("--unit", "unit_code", required=True, help="Épreuve : E4, E5 ou E6.")
@click.option("--deposit-opens", default=None, help="Ouverture des dépôts (AAAA-MM-JJ HH:MM).")
@click.option("--deadline", default=None, help="Date limite de dépôt (AAAA-MM-JJ HH:MM).")
@click.option("--orals-start", default=None, help="Premier jour des oraux (AAAA-MM-JJ).")
@click.option("--orals-end", default=None, help="Dernier jour des oraux (AAAA-MM-JJ).")
@click.option("--written", default=None, help="Début de l'épreuve écrite (AAAA-MM-JJ HH:MM).")
def set_unit_dates_command(session_code, unit_code, deposit_opens, deadline, orals_start,
                           orals_end, written) -> None:
    """Fixe les dates d'une épreuve (heure de la session) ; une date omise est effacée."""
    from zoneinfo import ZoneInfo

    from exam_app.enrolment import sessions

    session = _session(session_code)
    zone = ZoneInfo(session.timezone)
    _apply(lambda: sessions.set_unit_dates(
        session=session, actor=None, unit_code=unit_code.upper(),
        deposit_opens_at=_local_datetime(deposit_opens, zone),
        deposit_deadline_at=_local_datetime(deadline, zone),
        orals_start_on=_day(orals_start), orals_end_on=_day(orals_end),
        written_at=_local_datetime(written, zone)))
    click.echo(f"Dates de l'épreuve {unit_code.upper()} enregistrées dans {session.code}.")


def _import_reference(file: Path, run) -> None:
    limit = current_app.config["IMPORT_MAX_BYTES"]
    if file.stat().st_size > limit:
        raise click.ClickException(
            f"Le fichier dépasse {limit // (1024 * 1024)} Mo : découpez-le. Rien n'a été importé.")
    report = _apply(lambda: _checked(run(file.read_bytes(), file.name)))
    click.echo(f"Import terminé : {report.created} créé(s), {report.updated} mis à jour, "
               f"{report.unchanged} inchangé(s)"
               + (f" ; salles : {report.rooms_created} créée(s), {report.rooms_updated} mise(s) "
                  "à jour" if report.rooms_created or report.rooms_updated else "") + ".")


def _checked(report):
    """The report of a valid import; a refused one is printed and ends the command (1)."""
    if report.ok:
        return report
    db.session.rollback()
    click.echo(f"Import refusé : {report.error_count} erreur(s). Rien n'a été importé.", err=True)
    for error in report.errors:
        click.echo(f"  {error}", err=True)
    if report.error_count > len(report.errors):
        click.echo(f"  … et {report.error_count - len(report.errors)} autres.", err=True)
    sys.exit(1)


@click.command("import-establishments")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_establishments_command(file: Path) -> None:
    """Importe les établissements d'un fichier CSV (UAI ; Nom ; Type ; Ville), tout ou rien."""
    from exam_app.enrolment import reference

    _import_reference(file, lambda data, name: reference.import_establishments(
        data=data, actor=None, max_rows=current_app.config["IMPORT_MAX_ROWS"], filename=name))


@click.command("import-centres")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--session", "session_code", default=None)
def import_centres_command(file: Path, session_code: str | None) -> None:
    """Importe les centres et leurs salles d'un fichier CSV, tout ou rien."""
    from exam_app.enrolment import reference

    session = _session(session_code)
    _import_reference(file, lambda data, name: reference.import_centres(
        session=session, data=data, actor=None,
        max_rows=current_app.config["IMPORT_MAX_ROWS"], filename=name))


@click.command("import-people")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--session", "session_code", default=None)
def import_people_command(file: Path, session_code: str | None) -> None:
    """Importe les personnes et leurs rôles (Nom ; Prénom ; Courriel ; Rôle ; UAI ;
    Entreprise ; Centre), tout ou rien. Les comptes restent à activer."""
    from exam_app.enrolment import people

    session = _session(session_code)
    _import_reference(file, lambda data, name: people.import_people(
        session=session, data=data, actor=None,
        max_rows=current_app.config["IMPORT_MAX_ROWS"], filename=name))


@click.command("assign-centres")
@click.option("--session", "session_code", default=None)
@click.option("--reassign", is_flag=True,
              help="Réaffecter aussi les candidats dont le centre vient de la table et qu'elle "
                   "place désormais ailleurs (leurs documents imprimés sont remplacés).")
def assign_centres_command(session_code: str | None, reassign: bool) -> None:
    """Applique la table établissement → centre aux candidats sans centre."""
    from exam_app.documents.moves import apply_centre_table
    from exam_app.enrolment.centres import candidates_without_centre
    from exam_app.errors import ServiceError

    session = _session(session_code)
    try:
        result = apply_centre_table(session=session, actor=None, reassign=reassign)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        click.echo(error.message, err=True)
        sys.exit(1)
    click.echo(f"Table appliquée dans {session.code} : {result.assigned} candidat(s) "
               f"affecté(s), {result.reassigned} réaffecté(s).")
    left = candidates_without_centre(session, limit=20)
    if left.count:
        click.echo(f"{left.count} candidat(s) encore sans centre (établissement absent de la "
                   "table) :", err=True)
        for c in left.candidates:
            click.echo(f"  {c.number} {c.last_name} {c.first_name} — {c.establishment.uai}",
                       err=True)


@click.command("move-candidates")
@click.option("--session", "session_code", default=None)
@click.option("--to", "centre_code", required=True, help="Code du centre de destination.")
@click.option("--reason", default="", help="Motif, noté au journal.")
@click.argument("numbers", nargs=-1, required=True)
def move_candidates_command(session_code: str | None, centre_code: str, reason: str,
                            numbers: tuple[str, ...]) -> None:
    """Déplace des candidats (par numéro) vers un autre centre : leurs passages planifiés
    ailleurs sont retirés et leurs documents imprimés remplacés."""
    from exam_app.documents.moves import move_candidates
    from exam_app.enrolment.models import Centre
    from exam_app.errors import ServiceError

    session = _session(session_code)
    centre = db.session.scalar(sa.select(Centre).where(
        Centre.session_id == session.id, Centre.code == centre_code.strip().upper()))
    if centre is None:
        raise click.ClickException(f"Aucun centre n'a le code « {centre_code} » dans la "
                                   f"session {session.code}. Rien n'a été déplacé.")
    try:
        result = move_candidates(session=session, actor=None, centre=centre, numbers=numbers,
                                 reason=reason)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        click.echo(error.message if not error.details else "Déplacement refusé, rien n'a été "
                   "déplacé :", err=True)
        for line in error.details:
            click.echo(f"  {line}", err=True)
        sys.exit(1)
    click.echo(f"{result.moved} candidat(s) déplacé(s) vers {centre.code}, {result.unchanged} "
               f"déjà dans ce centre ; {result.passages_withdrawn} passage(s) retiré(s) ; "
               f"{result.documents_superseded} document(s) imprimé(s) remplacé(s).")
# --- commissions (issue 13, item 5) ------------------------------------------------------

def _days(texts) -> list:
    return [_day(t.strip()) for text in texts for t in text.split(",") if t.strip()]


@click.command("create-commission")
@click.option("--session", "session_code", default=None)
@click.option("--code", required=True, help="Code de la commission, ex. E4-LYO01.")
@click.option("--unit", "unit_code", required=True, help="Épreuve orale : E4 ou E5.")
@click.option("--form", "form", default="ponctuel", show_default=True,
              type=click.Choice(["ponctuel", "ccf"]))
@click.option("--centre", "centre_code", default=None, help="Code du centre (ponctuel).")
@click.option("--establishment", "uai", default=None, help="UAI de l'établissement (CCF).")
@click.option("--day", "days", multiple=True, required=True,
              help="Jour de passage AAAA-MM-JJ (répétable, ou séparés par des virgules).")
@click.option("--teacher", "teacher_email", required=True, help="Courriel de l'enseignant.")
@click.option("--professional", "professional_email", required=True,
              help="Courriel du professionnel (ou de l'enseignant qui le remplace).")
@click.option("--replacement-reason", default="",
              help="Motif : un enseignant remplace le professionnel.")
def create_commission_command(session_code, code, unit_code, form, centre_code, uai, days,
                              teacher_email, professional_email, replacement_reason) -> None:
    """Forme une commission : épreuve, forme, lieu, jours, enseignant et professionnel."""
    from exam_app.juries import commissions

    session = _session(session_code)

    def change():
        centre_id, establishment_id = commissions.place_ids(
            session=session, centre_code=centre_code, uai=uai)
        return commissions.create_commission(
            session=session, actor=None, code=code, unit_code=unit_code.upper(), form=form,
            days=_days(days), centre_id=centre_id, establishment_id=establishment_id,
            jurors=commissions.Jurors(
                commissions.juror_id(teacher_email, field="teacher_id"),
                commissions.juror_id(professional_email, field="professional_id"),
                replacement_reason))

    commission = _apply(change)
    click.echo(f"Commission {commission.code} formée ({commission.unit_code}, "
               + ", ".join(f"{d:%d/%m/%Y}" for d in commission.day_list) + ") : "
               + " ; ".join(f"{m.role_label} {m.user.display_name}" for m in commission.members)
               + ".")
    for warning in commissions.formation_warnings(commission):
        click.echo(f"  Attention : {warning}")


@click.command("set-juror-availability")
@click.option("--session", "session_code", default=None)
@click.option("--juror", "email", required=True, help="Courriel du juré.")
@click.option("--day", "days", multiple=True, required=True, help="Jour AAAA-MM-JJ (répétable).")
@click.option("--unavailable", is_flag=True, help="Indisponible (sinon : disponible).")
@click.option("--note", default="", help="Motif ou précision.")
def set_juror_availability_command(session_code, email, days, unavailable, note) -> None:
    """Déclare un juré disponible ou indisponible certains jours."""
    from exam_app.juries import commissions

    session = _session(session_code)

    def change():
        user_id = commissions.juror_id(email, field="user_id")
        return [code for day in _days(days)
                for code in commissions.set_availability(
                    session=session, actor=None, user_id=user_id, day=day,
                    available=not unavailable, note=note)]

    booked = _apply(change)
    click.echo(f"Disponibilités de {email} enregistrées.")
    if booked:
        click.echo("  Attention : ce juré siège dans " + ", ".join(sorted(set(booked)))
                   + " ces jours-là : remplacez-le.")


@click.command("import-commissions")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--session", "session_code", default=None)
def import_commissions_command(file: Path, session_code: str | None) -> None:
    """Forme les commissions d'un fichier CSV (Code ; Épreuve ; Forme ; Centre ; UAI ; Jours ;
    Enseignant ; Professionnel ; Motif du remplacement), tout ou rien."""
    from exam_app.juries import commissions

    session = _session(session_code)
    _import_reference(file, lambda data, name: commissions.import_commissions(
        session=session, data=data, actor=None,
        max_rows=current_app.config["IMPORT_MAX_ROWS"], filename=name))


@click.command("plan-session")
@click.option("--session", "session_code", default=None)
@click.option("--time-limit", default=30.0, show_default=True, type=float,
              help="Temps de calcul maximal, en secondes.")
@click.option("--unit", "units", multiple=True, help="Épreuve à planifier (répétable ; "
              "par défaut : E4 et E5 ponctuels).")
@click.option("--day-start", default="08:00", show_default=True, help="Début des journées.")
@click.option("--day-end", default="18:30", show_default=True, help="Fin des journées.")
@click.option("--rest", "rest_minutes", default=30, show_default=True, type=int,
              help="Repos minimal entre deux oraux d'un candidat, en minutes.")
@click.option("--apply", "apply_", is_flag=True, help="Écrire les passages du plan trouvé.")
def plan_session_command(session_code, time_limit, units, day_start, day_end, rest_minutes,
                         apply_) -> None:
    """Planifie les oraux de la session (solveur CP-SAT) ; --apply écrit les passages."""
    from datetime import time as clock_time

    from exam_app.juries import solver

    session = _session(session_code)
    try:
        bounds = solver.Bounds(clock_time.fromisoformat(day_start),
                               clock_time.fromisoformat(day_end), rest_minutes)
    except ValueError:
        raise click.ClickException("Heures attendues au format HH:MM.") from None

    def progress(step: dict) -> None:
        what = "plan glouton" if step.get("greedy") else "solution"
        bound = f", borne {step['bound']:.0f}" if step.get("bound") is not None else ""
        click.echo(f"[{step['seconds']:6.1f} s] {what} : {step['planned']}/{step['demands']} "
                   f"passages, objectif {step['objective']:.0f}{bound}")

    proposal = solver.propose_plan(session=session, time_limit=time_limit, bounds=bounds,
                                   units=tuple(u.upper() for u in units) or None,
                                   progress=progress)
    click.echo(proposal.summary())
    if not proposal.complete:
        for violation in proposal.violations[:10]:
            click.echo(f"  Règle non respectée : {violation}")
        raise click.ClickException("Aucun plan appliqué.")
    if apply_:
        written = _apply(lambda: solver.apply_plan(session=session, proposal=proposal,
                                                   actor=None))
        click.echo(f"Plan appliqué : {len(written)} passages écrits.")
    else:
        click.echo("Plan non appliqué (ajoutez --apply pour écrire les passages).")


@click.command("repair-plan")
@click.option("--session", "session_code", default=None)
@click.option("--absent", "email", required=True, help="Courriel du juré absent.")
@click.option("--day", required=True, help="Jour de l'absence (AAAA-MM-JJ).")
@click.option("--replacement", default=None, help="Courriel du juré remplaçant (facultatif).")
@click.option("--time-limit", default=20.0, show_default=True, type=float,
              help="Temps de calcul maximal, en secondes.")
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Écrire la liste des candidats à prévenir dans ce fichier CSV.")
@click.option("--apply", "apply_", is_flag=True, help="Écrire les déplacements proposés.")
def repair_plan_command(session_code, email, day, replacement, time_limit, csv_path,
                        apply_) -> None:
    """Répare le planning après l'absence d'un juré, avec le moins de changements."""
    from datetime import date as calendar_date

    from exam_app.errors import ServiceError
    from exam_app.juries import commissions, repair

    session = _session(session_code)
    try:
        absent_day = calendar_date.fromisoformat(day)
    except ValueError:
        raise click.ClickException("Jour attendu au format AAAA-MM-JJ.") from None
    try:
        absent_id = commissions.juror_id(email, field="user_id")
        replacements = ({absent_id: commissions.juror_id(replacement, field="user_id")}
                        if replacement else {})
        proposal = repair.propose_repair(session=session,
                                         lost=[repair.Lost(absent_day, user_id=absent_id)],
                                         replacements=replacements, time_limit=time_limit)
    except ServiceError as error:
        raise click.ClickException(error.message) from None
    click.echo(proposal.summary())
    for seat in proposal.seats:
        click.echo(f"  {seat.code} : {replacement} remplace {email}.")
    for move in proposal.moves:
        click.echo(f"  {move.number} {move.name} ({move.unit_code}) : {move.from_code} "
                   f"{_local(move.from_at)} -> {move.to_code} {_local(move.to_at)}")
    if csv_path is not None:
        csv_path.write_text(repair.to_inform_csv(proposal.moves), encoding="utf-8")
        click.echo(f"Candidats à prévenir : {csv_path}")
    if not proposal.complete:
        for violation in proposal.violations[:10]:
            click.echo(f"  Règle non respectée : {violation}")
        raise click.ClickException("Aucune réparation appliquée.")
    if apply_:
        _apply(lambda: repair.apply_repair(session=session, repair=proposal, actor=None))
        click.echo(f"Réparation appliquée : {len(proposal.moves)} passage(s) déplacé(s).")
    else:
        click.echo("Réparation non appliquée (ajoutez --apply pour l'écrire).")


def _local(at) -> str:
    from exam_app.clock import local_zone

    return at.astimezone(local_zone()).strftime("%d/%m/%Y %H:%M")


def register(app: Flask) -> None:
    for command in (demo_command, import_candidates_command, create_user_command,
                    set_password_command, print_pack_command, create_session_command,
                    edit_session_command, set_unit_dates_command, import_establishments_command,
                    import_centres_command, import_people_command, assign_centres_command,
                    move_candidates_command, activation_links_command, create_commission_command,
                    set_juror_availability_command, import_commissions_command,
                    plan_session_command, repair_plan_command):
        app.cli.add_command(command)
