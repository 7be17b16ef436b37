"""One-time links: activate a new account, reset a forgotten password (issue 13, item 3).

A link carries a random secret (256 bits); the database keeps only its SHA-256, so
that a copy of the database opens no account. A link is open until it expires, is
used, or is replaced: issuing a new link of the same purpose revokes the user's open
ones (under a lock on the user's row, so two gestionnaires generating links at once
leave exactly one open). Using a link is one conditional UPDATE (``used_at IS NULL``,
not revoked, not expired): of two submissions of the same link exactly one sets the
password. Every link issued, sent and used is audited, never its secret.

Links are absolute, under the configured PUBLIC_URL only (never the request's Host
header), like the QR codes of printed documents (printing/signing.py).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, current_app

from exam_app.accounts.models import AccountToken, TokenPurpose, User
from exam_app.accounts.passwords import password_problem
from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.errors import Invalid, ServiceError
from exam_app.extensions import db

# (endpoint, its URL argument) of the page each link opens.
ENDPOINTS = {TokenPurpose.ACTIVATION: ("accounts.activate", "activation_token"),
             TokenPurpose.RESET: ("accounts.reset_password", "reset_token")}
DEBUG_PUBLIC_URL = "http://localhost:5000"


class LinkUnavailable(ServiceError):
    """No link can be written without the site's public address (a server setting)."""

    status = 503
    code = "public_url_missing"


class TokenState(StrEnum):
    OPEN = "open"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    DISABLED = "disabled"  # the account was disabled meanwhile


STATE_MESSAGES = {
    TokenState.USED: "Ce lien a déjà servi : il ne fonctionne qu'une fois.",
    TokenState.EXPIRED: "Ce lien a expiré.",
    TokenState.REVOKED: "Ce lien a été remplacé par un lien plus récent : utilisez le "
                        "dernier reçu.",
    TokenState.UNKNOWN: "Ce lien n'est pas valide (adresse incomplète ou mal recopiée ?).",
    TokenState.DISABLED: "Ce compte est désactivé : adressez-vous à la division des examens.",
}


class TokenUnusable(ServiceError):
    """The link cannot be used: ``state`` says why."""

    status = 410
    code = "link_unusable"

    def __init__(self, state: TokenState):
        super().__init__(STATE_MESSAGES[state], status=404 if state == TokenState.UNKNOWN
                         else None)
        self.state = state


@dataclass(frozen=True)
class Issued:
    """A link just issued: its secret exists only here (to be sent, printed or listed)."""

    token_id: int
    user_id: int
    purpose: TokenPurpose
    secret: str
    expires_at: datetime


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def public_base(app: Flask | None = None) -> str:
    """The site's address the links start with: PUBLIC_URL; in debug only, localhost."""
    app = app or current_app
    value = (app.config.get("PUBLIC_URL") or "").strip()
    if not value:
        if app.debug:
            return DEBUG_PUBLIC_URL
        raise LinkUnavailable("Impossible de produire un lien d'activation ou de "
                              "réinitialisation : l'adresse publique du site (PUBLIC_URL) "
                              "n'est pas configurée. Prévenez l'administrateur du site.")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise LinkUnavailable(f"Impossible de produire un lien : l'adresse publique du site "
                              f"(PUBLIC_URL = « {value} ») n'est pas une adresse http:// ou "
                              "https://. Prévenez l'administrateur du site.")
    return value.rstrip("/")


def link(issued: Issued, *, app: Flask | None = None) -> str:
    """The absolute link for ``issued``: PUBLIC_URL + the page's path."""
    app = app or current_app
    endpoint, argument = ENDPOINTS[issued.purpose]
    path = app.url_map.bind("", script_name="/").build(endpoint, {argument: issued.secret})
    return public_base(app) + path


def issue(*, user: User, purpose: TokenPurpose, max_age_seconds: int, actor, channel: str,
          session_id: int | None = None, now: datetime | None = None) -> Issued:
    """A new link for ``user``; the user's open links of the same purpose stop working."""
    now = now or utcnow()
    _lock_user(user.id)
    replaced = db.session.execute(
        sa.update(AccountToken)
        .where(AccountToken.user_id == user.id, AccountToken.purpose == purpose,
               AccountToken.used_at.is_(None), AccountToken.revoked_at.is_(None),
               AccountToken.expires_at > now)
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)).rowcount
    secret = secrets.token_urlsafe(32)
    token = AccountToken(user_id=user.id, purpose=purpose, token_hash=hash_secret(secret),
                         created_at=now, expires_at=now + timedelta(seconds=max_age_seconds))
    db.session.add(token)
    db.session.flush()
    record(actor=actor, action=f"{purpose.value}_link.issue", object_type="user",
           object_id=user.id, session_id=session_id, now=now,
           after={"token_id": token.id, "username": user.username, "channel": channel,
                  "expires_at": token.expires_at, "replaced": replaced})
    return Issued(token.id, user.id, purpose, secret, token.expires_at)


def mark_sent(*, issued: Issued, to: str, actor, session_id: int | None = None,
              now: datetime | None = None) -> None:
    """The e-mail carrying ``issued`` was accepted by the mail server."""
    now = now or utcnow()
    db.session.execute(sa.update(AccountToken).where(AccountToken.id == issued.token_id)
                       .values(sent_at=now).execution_options(synchronize_session=False))
    record(actor=actor, action=f"{issued.purpose.value}_link.send", object_type="user",
           object_id=issued.user_id, session_id=session_id, now=now,
           after={"token_id": issued.token_id, "to": to})


def _lock_user(user_id: int) -> None:
    statement = sa.select(User.id).where(User.id == user_id)
    if db.session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    else:  # SQLite: take the database's write lock now, as the UPDATE would
        db.session.execute(sa.update(User).where(User.id == user_id)
                           .values(id=User.id).execution_options(synchronize_session=False))
    db.session.execute(statement)


def state_of(token: AccountToken | None, user: User | None, *,
             now: datetime | None = None) -> TokenState:
    now = now or utcnow()
    if token is None or user is None:
        return TokenState.UNKNOWN
    if token.used_at is not None:
        return TokenState.USED
    if token.revoked_at is not None:
        return TokenState.REVOKED
    if token.expires_at <= now:
        return TokenState.EXPIRED
    if not user.is_enabled:
        return TokenState.DISABLED
    return TokenState.OPEN


def find(*, secret: str, purpose: TokenPurpose,
         now: datetime | None = None) -> tuple[AccountToken | None, User | None, TokenState]:
    """The link's row, its user and its state (UNKNOWN for a secret no link has)."""
    if not secret or len(secret) > 100:
        return None, None, TokenState.UNKNOWN
    token = db.session.scalar(
        sa.select(AccountToken).where(AccountToken.token_hash == hash_secret(secret),
                                      AccountToken.purpose == purpose)
        .execution_options(populate_existing=True))
    user = db.session.get(User, token.user_id) if token is not None else None
    return token, user, state_of(token, user, now=now)


def use(*, secret: str, purpose: TokenPurpose, password: str, ip: str | None = None,
        now: datetime | None = None) -> User:
    """Set the password chosen through the link, once: the account is then activated and
    every other open link of the user stops working; the user's open sessions end."""
    now = now or utcnow()
    token, user, state = find(secret=secret, purpose=purpose, now=now)
    if state != TokenState.OPEN:
        raise TokenUnusable(state)
    problem = password_problem(password, username=user.username, first_name=user.first_name,
                               last_name=user.last_name)
    if problem:
        raise Invalid(problem, field="password")
    claimed = db.session.execute(
        sa.update(AccountToken)
        .where(AccountToken.id == token.id, AccountToken.used_at.is_(None),
               AccountToken.revoked_at.is_(None), AccountToken.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:  # another submission of the same link (or a newer link) came first
        token, user, state = find(secret=secret, purpose=purpose, now=now)
        raise TokenUnusable(state if state != TokenState.OPEN else TokenState.USED)
    db.session.execute(
        sa.update(AccountToken)
        .where(AccountToken.user_id == user.id, AccountToken.id != token.id,
               AccountToken.used_at.is_(None), AccountToken.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False))
    db.session.refresh(user)
    if not user.is_enabled:
        raise TokenUnusable(TokenState.DISABLED)
    was_activated = user.is_activated
    user.set_password(password)
    db.session.flush()
    record(actor=user, action=f"{purpose.value}_link.use", object_type="user", object_id=user.id,
           now=now, ip=ip, after={"token_id": token.id, "activated": not was_activated})
    return user


def last_reset_at(user_id: int) -> datetime | None:
    """When the user's latest reset link was issued (to space them out)."""
    return db.session.scalar(sa.select(sa.func.max(AccountToken.created_at)).where(
        AccountToken.user_id == user_id, AccountToken.purpose == TokenPurpose.RESET))


def duration_label(seconds: int) -> str:
    """'7 jours', '1 heure', '2 minutes': how long a link stays valid, in French."""
    if seconds >= 86400 and seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} jour{'s' if days > 1 else ''}"
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} heure{'s' if hours > 1 else ''}"
    if seconds < 60:
        return f"{seconds} seconde{'s' if seconds > 1 else ''}"
    minutes = seconds // 60
    return f"{minutes} minute{'s' if minutes > 1 else ''}"


# ---- the e-mails ---------------------------------------------------------------------------

def _until(moment: datetime) -> str:
    from exam_app.formatting import local_datetime, zone_label

    return f"{local_datetime(moment)} ({zone_label()})"


def activation_message(*, user: User, url: str, expires_at: datetime,
                       session_name: str = "") -> tuple[str, str]:
    """(subject, body) of the e-mail carrying an activation link."""
    about = f" pour la session « {session_name} »" if session_name else ""
    body = (f"Bonjour {user.display_name},\n\n"
            f"Un compte a été créé pour vous dans l'application des examens{about}.\n"
            f"Votre identifiant : {user.username}\n\n"
            "Pour activer votre compte, ouvrez ce lien et choisissez votre mot de passe :\n"
            f"{url}\n\n"
            f"Ce lien ne sert qu'une fois ; il expire le {_until(expires_at)}.\n"
            "Si vous n'attendiez pas ce message, ignorez-le.\n\n"
            "La division des examens\n")
    return "Activez votre compte — application des examens", body


def reset_message(*, user: User, url: str, expires_at: datetime) -> tuple[str, str]:
    """(subject, body) of the e-mail carrying a password-reset link."""
    body = (f"Bonjour {user.display_name},\n\n"
            "Une réinitialisation du mot de passe a été demandée pour votre compte "
            f"« {user.username} ».\n\n"
            "Pour choisir un nouveau mot de passe, ouvrez ce lien :\n"
            f"{url}\n\n"
            f"Ce lien ne sert qu'une fois ; il expire le {_until(expires_at)}.\n"
            "Si vous n'avez rien demandé, ignorez ce message : votre mot de passe reste "
            "inchangé.\n\n"
            "La division des examens\n")
    return "Réinitialisation de votre mot de passe — application des examens", body


def request_reset(*, email: str, mailer, max_age_seconds: int, min_interval_seconds: int,
                  ip: str | None = None, now: datetime | None = None) -> int:
    """E-mail a reset link to each enabled account of ``email`` (none when there is none;
    none either when one was issued less than ``min_interval_seconds`` ago, so that the
    owner's mailbox is not flooded). The caller says the same thing whatever happened: the
    count (links sent) is for tests and the audit trail only."""
    now = now or utcnow()
    email = (email or "").strip()
    users = db.session.scalars(sa.select(User).where(
        sa.func.lower(User.email) == email.casefold(), User.is_enabled.is_(True))
        .order_by(User.id)).all() if email else []
    sent = 0
    for user in users:
        last = last_reset_at(user.id)
        if last is not None and (now - last).total_seconds() < min_interval_seconds:
            continue
        try:
            with db.session.begin_nested():
                issued = issue(user=user, purpose=TokenPurpose.RESET,
                               max_age_seconds=max_age_seconds, actor=user, channel="email",
                               now=now)
                subject, body = reset_message(user=user, url=link(issued),
                                              expires_at=issued.expires_at)
                mailer.send(to=user.email, subject=subject, body=body)
                mark_sent(issued=issued, to=user.email, actor=user, now=now)
        except ServiceError as error:  # the message was refused: no link stays issued
            record(actor=user, action="reset_link.send_failed", object_type="user",
                   object_id=user.id, now=now, ip=ip, after={"error": error.message})
            continue
        sent += 1
    return sent
