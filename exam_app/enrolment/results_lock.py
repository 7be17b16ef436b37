"""The results lock as enrolment sees it: a candidate's registrations (bénéfice, dispense,
not registered, form) and status decide results as much as a mark does, so once the
session's délibération is closed they are locked with the marks (issue 14, §4).

The délibération lives in a layer above enrolment (``exam_app.deliberation``), which
enrolment never imports: the app registers the délibération's check here
(``create_app``), and every enrolment service that changes what decides a result calls
:func:`ensure_open` before it writes. A check raises (a ``Conflict`` whose message says
why and who can reopen); it takes the same share lock as a mark change, so a closing in
progress is waited for, not raced.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from exam_app.enrolment.models import ExamSession
from exam_app.extensions import db

_checks: list[Callable[[int], None]] = []


def register(check: Callable[[int], None]) -> None:
    """Add ``check(session_id)``, which raises when the session's results are locked
    (once, however many apps are created)."""
    if check not in _checks:
        _checks.append(check)


def ensure_open(session_id: int) -> None:
    """Raise (a ``Conflict``) when a registered check finds the session's results locked.
    Call it before the writes it guards, in their transaction.

    SQLite: a read opens no transaction and takes no lock, so a closing could commit
    between the check and the writes; the database's write lock is taken first (an
    UPDATE that changes nothing, as ``sessions.lock_session`` does), so that the check
    and the writes are one decision, before or after a closing (which writes too).
    PostgreSQL: the check's share lock on the délibération row does it."""
    if _checks and db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(sa.update(ExamSession).where(ExamSession.id == session_id)
                           .values(code=ExamSession.code)
                           .execution_options(synchronize_session=False))
    for check in _checks:
        check(session_id)


def locked_message(session_id: int) -> str | None:
    """Why the session's results are locked (a check's message), or None while they are
    open: what a page says beside the controls it disables (on PostgreSQL the check's
    share lock is held to the end of the request's transaction, a few milliseconds)."""
    from exam_app.errors import Conflict

    try:
        for check in _checks:
            check(session_id)
    except Conflict as exc:
        return exc.message
    return None
