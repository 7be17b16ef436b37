"""Handing out the activation links of a session's people (issue 13, item 3).

The people of the people page (jurors, correcteurs, chefs de centre, gestionnaires)
whose account is not activated yet get a new one-time link each (accounts/tokens.py),
e-mailed when SMTP is configured, else listed in a CSV file or printed as letters, one
page per person. A new link replaces the person's previous one. Each person's outcome
is reported: an e-mail the server did not accept is never counted as sent, and its link
is not kept (the previous one, if any, still works).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa

from exam_app.accounts import tokens
from exam_app.accounts.models import AccountToken, Role, RoleAssignment, TokenPurpose, User
from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.csv_export import write_csv
from exam_app.enrolment.models import ExamSession
from exam_app.errors import ServiceError
from exam_app.extensions import db
from exam_app.formatting import french_sort_key


class AccountStatus(StrEnum):
    ACTIVATED = "activated"
    PENDING = "pending"  # an open activation link
    EXPIRED = "expired"  # the last link expired (or was never issued)
    NO_LINK = "no_link"
    DISABLED = "disabled"


STATUS_LABELS = {
    AccountStatus.ACTIVATED: "Activé",
    AccountStatus.PENDING: "En attente d'activation",
    AccountStatus.EXPIRED: "Lien expiré",
    AccountStatus.NO_LINK: "En attente — aucun lien remis",
    AccountStatus.DISABLED: "Désactivé",
}


@dataclass(frozen=True)
class Activation:
    status: AccountStatus
    expires_at: datetime | None = None
    sent_at: datetime | None = None

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def pending(self) -> bool:
        return self.status in (AccountStatus.PENDING, AccountStatus.EXPIRED,
                               AccountStatus.NO_LINK)


def staff() -> list[User]:
    """The people of the people page: every account with a role other than candidat."""
    return sorted(db.session.scalars(
        sa.select(User).where(User.id.in_(sa.select(RoleAssignment.user_id).where(
            RoleAssignment.role != Role.CANDIDAT.value)))).all(),
        key=lambda u: (french_sort_key(u.last_name, u.first_name), u.id))


def statuses(users: list[User], *, now: datetime | None = None) -> dict[int, Activation]:
    """Each user's account status, by user id."""
    now = now or utcnow()
    ids = [u.id for u in users]
    latest: dict[int, AccountToken] = {}
    if ids:
        for token in db.session.scalars(
                sa.select(AccountToken).where(AccountToken.user_id.in_(ids),
                                              AccountToken.purpose == TokenPurpose.ACTIVATION)
                .order_by(AccountToken.created_at, AccountToken.id)):
            latest[token.user_id] = token
    result = {}
    for user in users:
        token = latest.get(user.id)
        if not user.is_enabled:
            result[user.id] = Activation(AccountStatus.DISABLED)
        elif user.is_activated:
            result[user.id] = Activation(AccountStatus.ACTIVATED)
        elif token is None or token.used_at is not None:
            result[user.id] = Activation(AccountStatus.NO_LINK)
        elif token.revoked_at is None and token.expires_at > now:
            result[user.id] = Activation(AccountStatus.PENDING, token.expires_at, token.sent_at)
        else:
            result[user.id] = Activation(AccountStatus.EXPIRED, token.expires_at, token.sent_at)
    return result


def pending_people(user_ids: list[int] | None = None) -> list[User]:
    """The people page's accounts awaiting activation (among ``user_ids`` when given)."""
    people = staff()
    if user_ids is not None:
        wanted = set(user_ids)
        people = [u for u in people if u.id in wanted]
    return [u for u in people if u.is_enabled and not u.is_activated]


def _roles(user: User) -> str:
    return ", ".join(sorted(Role(r.role).label for r in user.roles))


@dataclass(frozen=True)
class Link:
    """A link handed out: who, where it leads, until when."""

    user_id: int
    last_name: str
    first_name: str
    email: str
    username: str
    roles: str
    url: str
    expires_at: datetime


def issue_links(*, session: ExamSession, people: list[User], actor, channel: str,
                max_age_seconds: int, now: datetime | None = None) -> list[Link]:
    """A new activation link for each person (their previous links stop working)."""
    now = now or utcnow()
    tokens.public_base()  # refused before any link is issued when PUBLIC_URL is missing
    links = []
    for user in people:
        issued = tokens.issue(user=user, purpose=TokenPurpose.ACTIVATION,
                              max_age_seconds=max_age_seconds, actor=actor, channel=channel,
                              session_id=session.id, now=now)
        links.append(Link(user.id, user.last_name, user.first_name, user.email or "",
                          user.username, _roles(user), tokens.link(issued), issued.expires_at))
    record(actor=actor, action="activation_link.hand_out", object_type="exam_session",
           object_id=session.id, session_id=session.id, now=now,
           after={"channel": channel, "users": [link.user_id for link in links]})
    return links


CSV_HEADER = ("Nom", "Prénom", "Courriel", "Identifiant", "Rôles", "Lien d'activation",
              "Expire le")


def links_csv(links: list[Link]) -> bytes:
    """The links as a CSV file (one row a person), expiry in the display time zone."""
    from exam_app.formatting import local_datetime

    return write_csv(CSV_HEADER, ([link.last_name, link.first_name, link.email, link.username,
                                   link.roles, link.url, local_datetime(link.expires_at)]
                                  for link in links))


def letters_html(*, session: ExamSession, links: list[Link],
                 now: datetime | None = None) -> list[str]:
    """The activation letters, one document (one page) a person, through the printing
    core, unsigned: a letter holds a secret link, which no verification QR code should
    vouch for (nor its hash be kept)."""
    from exam_app.printing.document import printed, session_facts
    from exam_app.printing.qr import qr_svg

    facts = session_facts(session)
    return [printed("print/activation_letter.html", {
        "doc_title": "Activation de votre compte",
        "doc_session": facts,
        "doc_centre": None,
        "letter": {"name": f"{link.first_name} {link.last_name}", "email": link.email,
                   "username": link.username, "roles": link.roles, "url": link.url,
                   "url_qr": qr_svg(link.url), "expires_at": link.expires_at},
    }, kind="activation_letter", ids=[link.user_id], fields={}, now=now, signed=False)
        for link in links]


def letters_pdf(*, session: ExamSession, links: list[Link], now: datetime | None = None) -> bytes:
    """The letters as one PDF file."""
    import tempfile

    from exam_app.printing.pdf import render_pdfs_to_file

    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        render_pdfs_to_file(letters_html(session=session, links=links, now=now), handle.name)
        return handle.read()


@dataclass(frozen=True)
class Sent:
    """One person's outcome of an e-mail batch: sent, or the reason it was not."""

    user: User
    ok: bool
    message: str = ""


def send_links(*, session: ExamSession, people: list[User], actor, mailer,
               max_age_seconds: int, now: datetime | None = None) -> list[Sent]:
    """E-mail a new activation link to each person, through an open ``mailer``. A person
    whose e-mail is refused keeps their previous link (their new one is rolled back)."""
    now = now or utcnow()
    tokens.public_base()
    outcomes = []
    for user in people:
        if not user.email:
            outcomes.append(Sent(user, False, "aucune adresse électronique"))
            continue
        try:
            with db.session.begin_nested():
                issued = tokens.issue(user=user, purpose=TokenPurpose.ACTIVATION,
                                      max_age_seconds=max_age_seconds, actor=actor,
                                      channel="email", session_id=session.id, now=now)
                subject, body = tokens.activation_message(
                    user=user, url=tokens.link(issued), expires_at=issued.expires_at,
                    session_name=session.name)
                mailer.send(to=user.email, subject=subject, body=body)
                tokens.mark_sent(issued=issued, to=user.email, actor=actor,
                                 session_id=session.id, now=now)
        except ServiceError as error:
            record(actor=actor, action="activation_link.send_failed", object_type="user",
                   object_id=user.id, session_id=session.id, now=now,
                   after={"to": user.email, "error": error.message})
            outcomes.append(Sent(user, False, error.message))
            continue
        outcomes.append(Sent(user, True))
    return outcomes


def connection_failed(*, session: ExamSession, people: list[User], actor, error: str,
                      now: datetime | None = None) -> list[Sent]:
    """The mail server could not be reached: nobody was sent anything (audited)."""
    record(actor=actor, action="activation_link.send_failed", object_type="exam_session",
           object_id=session.id, session_id=session.id, now=now or utcnow(),
           after={"users": [u.id for u in people], "error": error})
    return [Sent(user, False, error) for user in people]
