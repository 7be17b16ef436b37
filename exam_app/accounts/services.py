"""Authentication and user management."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from exam_app.accounts import throttle
from exam_app.accounts.models import LoginAttempt, Role, RoleAssignment, User
from exam_app.accounts.passwords import password_problem
from exam_app.accounts.throttle import Claim, ThrottlePolicy, throttle_keys
from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.errors import Invalid
from exam_app.extensions import db

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# Same work whether or not the user exists, so timing does not reveal accounts.
_DUMMY_HASH = None


def _dummy_check(password: str) -> None:
    global _DUMMY_HASH
    from werkzeug.security import check_password_hash, generate_password_hash

    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")
    check_password_hash(_DUMMY_HASH, password)


def normalise_username(username: str) -> str:
    return username.strip().lower()


def start_login(*, username: str, client: str | None, device: str | None,
                policy: ThrottlePolicy, now: datetime | None = None) -> Claim:
    """Count a login attempt before its password is checked (accounts/throttle.py);
    raise LoginThrottled when it must wait. The caller commits before ``authenticate``."""
    keys = throttle_keys(username=normalise_username(username), client=client, device=device)
    return throttle.claim(keys=keys, policy=policy, now=now)


def authenticate(*, username: str, password: str, ip: str | None, claim: Claim,
                 now: datetime | None = None) -> User | None:
    """Check a login claimed by ``start_login``; record the attempt; a success takes
    back the failure the claim counted."""
    now = now or utcnow()
    username = normalise_username(username)
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        _dummy_check(password)
        ok = False
    else:
        ok = user.check_password(password) and user.is_enabled
    db.session.add(LoginAttempt(username=username, ip=ip, at=now, succeeded=ok))
    if ok:
        user.last_login_at = now
    throttle.settle(claim, succeeded=ok)
    db.session.flush()
    return user if ok else None


def create_user(
    *,
    username: str,
    password: str | None,
    first_name: str,
    last_name: str,
    roles: list[tuple[Role, dict]] | None = None,
    email: str | None = None,
    actor=None,
) -> User:
    """Create a user with roles given as (role, scope) pairs, e.g. (CHEF_CENTRE, {"centre_id": 3}).
    Without a password (None) the account waits for its owner to activate it (tokens.py)."""
    username = normalise_username(username)
    if not username:
        raise ValueError("Identifiant vide.")
    if db.session.scalar(sa.select(User.id).where(User.username == username)):
        raise ValueError(f"L'identifiant « {username} » existe déjà.")
    first_name, last_name = (first_name or "").strip(), (last_name or "").strip()
    if not first_name or not last_name:
        raise ValueError("Le prénom et le nom sont obligatoires.")
    problem = password is not None and password_problem(
        password, username=username, first_name=first_name, last_name=last_name)
    if problem:
        raise ValueError(problem)
    if len(username) > 120 or len(first_name) > 100 or len(last_name) > 100:
        raise ValueError("Identifiant (120), prénom et nom (100) : trop long.")
    email = (email or "").strip() or None
    if email and (len(email) > 254 or not EMAIL_RE.match(email)):
        raise ValueError(f"« {email} » n'est pas une adresse électronique.")
    user = User(username=username, first_name=first_name, last_name=last_name, email=email)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    for role, scope in roles or []:
        user.roles.append(RoleAssignment(role=Role(role).value, **scope))
    db.session.add(user)
    db.session.flush()
    record(
        actor=actor,
        action="user.create",
        object_type="user",
        object_id=user.id,
        after={"username": username, "roles": [Role(r).value for r, _ in roles or []],
               **({"activation": "pending"} if password is None else {})},
    )
    return user


def change_password(*, user: User, current_password: str, new_password: str) -> None:
    """Change one's own password: the current one is required, the new one follows the
    policy; every open session of the user ends (the caller logs this one in again)."""
    if not user.check_password(current_password):
        raise Invalid("Le mot de passe actuel est incorrect.", field="current_password")
    if new_password == current_password:
        raise Invalid("Le nouveau mot de passe doit être différent de l'actuel.",
                      field="new_password")
    problem = password_problem(new_password, username=user.username,
                               first_name=user.first_name, last_name=user.last_name)
    if problem:
        raise Invalid(problem, field="new_password")
    user.set_password(new_password)
    db.session.flush()
    record(actor=user, action="user.password_change", object_type="user", object_id=user.id)


def end_sessions(*, user: User) -> None:
    """Logout: a new session token, so that no copy of the session cookie opens again
    (the user's sessions on other browsers end too)."""
    user.rotate_session_token()
    db.session.flush()


def load_user_from_cookie(value: str) -> User | None:
    """Flask-Login loader: the cookie id is 'user_id:session_token'."""
    user_id, _, token = value.partition(":")
    if not user_id.isdigit() or not token:
        return None
    # With its roles in the same statement: every page checks them.
    user = db.session.get(User, int(user_id), options=[orm.joinedload(User.roles)])
    if user is None or user.session_token != token:
        return None
    return user


def not_activated_condition() -> sa.ColumnElement[bool]:
    """SQL condition: the account was never activated (no password chosen yet through its
    activation link; see accounts/tokens.py)."""
    return sa.not_(User.is_activated)


def staff_not_activated_count() -> int:
    """How many enabled staff accounts (any role but candidat) are not activated (one query)."""
    staff = sa.exists().where(RoleAssignment.user_id == User.id,
                              RoleAssignment.role != Role.CANDIDAT.value)
    return db.session.scalar(
        sa.select(sa.func.count(User.id))
        .where(User.is_enabled.is_(True), staff, not_activated_condition())) or 0
