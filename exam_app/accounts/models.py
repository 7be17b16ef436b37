"""Users, their roles and scopes, and login attempts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from exam_app.clock import UTCDateTime, utcnow
from exam_app.db_types import enum_type
from exam_app.extensions import db


class Role(StrEnum):
    GESTIONNAIRE = "gestionnaire"
    CHEF_CENTRE = "chef_centre"
    EXAMINATEUR = "examinateur"
    CORRECTEUR = "correcteur"
    CANDIDAT = "candidat"
    JURY_DELIBERATION = "jury_deliberation"
    COORDINATEUR_CCF = "coordinateur_ccf"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def nav_label(self) -> str:
        return ROLE_NAV_LABELS[self]


ROLE_LABELS = {
    Role.GESTIONNAIRE: "Gestionnaire (division des examens)",
    Role.CHEF_CENTRE: "Chef de centre",
    Role.EXAMINATEUR: "Examinateur",
    Role.CORRECTEUR: "Correcteur",
    Role.CANDIDAT: "Candidat",
    Role.JURY_DELIBERATION: "Jury de délibération (président ou membre)",
    Role.COORDINATEUR_CCF: "Coordinateur CCF (établissement)",
}

ROLE_NAV_LABELS = {
    Role.GESTIONNAIRE: "Division des examens",
    Role.CHEF_CENTRE: "Mon centre",
    Role.EXAMINATEUR: "Jury",
    Role.CORRECTEUR: "Correction E6",
    Role.CANDIDAT: "Mon espace",
    Role.JURY_DELIBERATION: "Délibération",
    Role.COORDINATEUR_CCF: "CCF de l'établissement",
}


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(120), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(254))
    first_name: Mapped[str] = mapped_column(sa.String(100))
    last_name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    is_enabled: Mapped[bool] = mapped_column(default=True)
    # Bumped on password change so that other sessions of the user end.
    session_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method="scrypt")
        self.rotate_session_token()

    def rotate_session_token(self) -> None:
        """End every open session of the user: their cookies carry the old token."""
        import secrets

        self.session_token = secrets.token_hex(16)

    def check_password(self, password: str) -> bool:
        if self.password_hash.startswith(UNUSABLE_PASSWORD_PREFIX):
            return False
        return check_password_hash(self.password_hash, password)

    def set_unusable_password(self) -> None:
        """No password opens the account until its owner chooses one (activation link)."""
        import secrets

        self.password_hash = UNUSABLE_PASSWORD_PREFIX + secrets.token_hex(16)
        self.rotate_session_token()

    @hybrid_property
    def is_activated(self) -> bool:
        """The person chose a password (an account created with one is activated)."""
        return not self.password_hash.startswith(UNUSABLE_PASSWORD_PREFIX)

    @is_activated.inplace.expression
    @classmethod
    def _is_activated_expression(cls):
        return sa.not_(cls.password_hash.startswith(UNUSABLE_PASSWORD_PREFIX, autoescape=True))

    # Flask-Login: the id in the cookie carries the token, so a password
    # change or a disabled account ends every open session.
    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.is_enabled

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(Role(r.role) for r in self.roles)

    def has_role(self, *roles: Role) -> bool:
        return bool(self.role_set.intersection(roles))

    def centre_ids(self) -> frozenset[int]:
        return frozenset(
            r.centre_id for r in self.roles if r.role == Role.CHEF_CENTRE and r.centre_id
        )

    def candidate_ids(self) -> frozenset[int]:
        return frozenset(
            r.candidate_id for r in self.roles if r.role == Role.CANDIDAT and r.candidate_id
        )

    def establishment_ids(self) -> frozenset[int]:
        """The establishments whose CCF the user coordinates."""
        return frozenset(
            r.establishment_id for r in self.roles
            if r.role == Role.COORDINATEUR_CCF and r.establishment_id
        )

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class RoleAssignment(db.Model):
    """A role held by a user, with its scope.

    chef de centre -> ``centre_id``; candidat -> ``candidate_id``; coordinateur CCF ->
    ``establishment_id`` (the establishment's CCF candidates, commissions and passages);
    examinateur -> the commissions they sit on (``CommissionMember``);
    gestionnaire and correcteur are académie-wide (correcteurs then see only
    the anonymous copies of the lots assigned to them); jury de délibération ->
    the sessions whose jury names them (``DeliberationMember``, president).
    """

    __tablename__ = "role_assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(enum_type(Role, 20))
    centre_id: Mapped[int | None] = mapped_column(sa.ForeignKey("centre.id", ondelete="CASCADE"))
    candidate_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("candidate.id", ondelete="CASCADE")
    )
    establishment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("establishment.id", ondelete="CASCADE")
    )

    user: Mapped[User] = relationship(back_populates="roles")

    __table_args__ = (
        sa.UniqueConstraint("user_id", "role", "centre_id", "candidate_id"),
        sa.CheckConstraint(
            "role IN ('gestionnaire', 'chef_centre', 'examinateur', 'correcteur', 'candidat', "
            "'jury_deliberation', 'coordinateur_ccf')",
            name="role_known",
        ),
        sa.CheckConstraint(
            "(role = 'chef_centre') = (centre_id IS NOT NULL)", name="centre_scope"
        ),
        sa.CheckConstraint(
            "(role = 'candidat') = (candidate_id IS NOT NULL)", name="candidate_scope"
        ),
        sa.CheckConstraint(
            "(role = 'coordinateur_ccf') = (establishment_id IS NOT NULL)",
            name="establishment_scope"
        ),
        sa.Index("ix_role_assignment_user_id", "user_id"),
    )


class LoginAttempt(db.Model):
    """Failed and successful logins, for throttling and for the record."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(120))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    succeeded: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        sa.Index("ix_login_attempt_username_at", "username", "at"),
        sa.Index("ix_login_attempt_ip_at", "ip", "at"),
    )


class ThrottleScope(StrEnum):
    """What a login throttle counts the failures of (accounts/throttle.py)."""

    PAIR = "pair"  # one account from one client (username + client address)
    ACCOUNT = "account"  # one account from every client without a device cookie
    CLIENT = "client"  # one client address, every account
    DEVICE = "device"  # one device cookie (a browser the account's owner logged in from)


class LoginThrottle(db.Model):
    """The failures counted against one key, and until when its next attempt waits.

    In the database, so that every gunicorn worker sees the same counts; a row is
    locked while an attempt is claimed (accounts/throttle.py)."""

    __tablename__ = "login_throttle"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[ThrottleScope] = mapped_column(enum_type(ThrottleScope, 10))
    key: Mapped[str] = mapped_column(sa.String(255))
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.UniqueConstraint("scope", "key"),
        sa.CheckConstraint("scope IN ('pair', 'account', 'client', 'device')",
                           name="scope_known"),
        sa.CheckConstraint("failures >= 0", name="failures_not_negative"),
        sa.Index("ix_login_throttle_last_failure_at", "last_failure_at"),
    )


# A password hash that no password matches: an account created for a person who has not
# chosen their password yet (activation, accounts/tokens.py). Werkzeug's check refuses it.
UNUSABLE_PASSWORD_PREFIX = "!"  # noqa: S105 (a marker, not a password)


class TokenPurpose(StrEnum):
    """What a one-time link lets its holder do (accounts/tokens.py)."""

    ACTIVATION = "activation"  # a new account: choose the first password
    RESET = "reset"  # a forgotten password: choose a new one


class AccountToken(db.Model):
    """A one-time link sent or handed to a person: only the SHA-256 of its secret is kept.

    A link is open while ``used_at`` and ``revoked_at`` are empty and ``expires_at`` is to
    come; using it is one conditional UPDATE (``used_at IS NULL``), so it works once. A new
    link of the same purpose revokes the user's open ones; ``sent_at`` says that the e-mail
    carrying it was accepted by the mail server."""

    __tablename__ = "account_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    purpose: Mapped[TokenPurpose] = mapped_column(enum_type(TokenPurpose, 12))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        sa.CheckConstraint("purpose IN ('activation', 'reset')", name="purpose_known"),
        sa.Index("ix_account_token_user_id_purpose", "user_id", "purpose"),
    )
