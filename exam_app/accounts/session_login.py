"""The login a request's session cookie carries, read without loading the user.

Flask-Login loads the user (one ORM query, with the roles) before any view
decorated with ``login_required`` runs. The jury screen's autosave is hot
(every debounced keystroke of two jurors per room) and checks its juror in its
own one query anyway; ``session_login`` gives it what Flask-Login would load
the user from, and the caller checks the token and the role in that query
(``permissions.login_matches``). It is a shortcut that can only say yes: when it answers
None, or the caller's query finds no row, the request goes the ordinary way
(Flask-Login's loader, ``roles_required``), whose answers (401, 403, 404)
stay the only ones.
"""

from __future__ import annotations

from flask import current_app, session
from flask_login.signals import user_accessed


def session_login() -> tuple[int, str] | None:
    """(user id, session token) of the login in this request's session, after
    Flask-Login's session protection, as its ``_load_user`` reads it; None when
    Flask-Login would not load the user from the session (none there, the
    protection failed; a remember cookie alone is left to Flask-Login)."""
    manager = current_app.login_manager
    user_accessed.send(current_app._get_current_object())
    # Flask-Login's own check (private: pinned with Flask-Login, covered by
    # tests/juries/test_autosave_login.py), with its effects on the session.
    if manager._session_protection_failed():
        return None
    value = session.get("_user_id")
    if not isinstance(value, str):
        return None
    user_id, _, token = value.partition(":")
    if not user_id.isdigit() or not token:
        return None
    return int(user_id), token
