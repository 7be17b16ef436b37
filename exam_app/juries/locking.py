"""One serialised decision per passage: lock the passage row, then re-read it.

Every state change of a passage (start, advance, pause, resume, attendance,
reveal, validate, finalise, reopen) first calls ``lock_passage``; what the
service then decides on is read under the lock, so two jurors pressing at
once are applied one after the other, the second seeing the first's effect.
PostgreSQL: ``SELECT ... FOR UPDATE OF passage``, then the push version's bump.
SQLite: the bump, an UPDATE of the row, takes the database's write lock first
(the driver opens the transaction at the first write; WAL and busy_timeout make
the second writer wait), so the reads that follow see the latest commit. The autosave's hot
path instead re-checks the passage's state in its conditional UPDATEs (see
``autosave_fast`` and ``autosave_reference``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from exam_app.accounts.models import User
from exam_app.extensions import db
from exam_app.juries.models import Commission, CommissionMember, Passage


def lock_passage(passage: Passage | int, *, timer: bool = True,
                 transmitted_ok: bool = False) -> Passage:
    """The passage, its row locked until the end of the transaction, and re-read.

    ``timer=False``: a decision that does not read the timer (validation) leaves
    the segments, the pauses and the members' roles to load on access instead of
    with the row, and joins the session to it, so less is read while the lock is held.

    A passage of a CCF commission whose establishment's marks are transmitted to the
    académie is refused (``juries.ccf.require_open``), read under the lock: the
    transmission locks the same rows first. ``transmitted_ok``: a decision that is not
    about the marks (a centre move withdrawing ponctuel passages).
    """
    passage_id = passage if isinstance(passage, int) else passage.id
    db.session.flush()  # pending changes first: the re-read must not drop them
    statement = sa.select(Passage).where(Passage.id == passage_id)
    if not timer:
        # One statement: the members (read for who they are, not for their roles) and
        # the validations (a validation decides on them) joined, a few rows (two
        # members, at most two validations), instead of a query each after it.
        statement = statement.options(
            orm.lazyload(Passage.segments), orm.lazyload(Passage.pauses),
            orm.joinedload(Passage.commission).joinedload(Commission.session),
            orm.joinedload(Passage.commission).joinedload(Commission.members)
            .joinedload(CommissionMember.user).lazyload(User.roles),
            orm.joinedload(Passage.validations))
    if db.session.get_bind().dialect.name != "sqlite":
        # FOR UPDATE first, as before the push: the UPDATE below alone would take the
        # weaker FOR NO KEY UPDATE, which lets an autosave's insert (a foreign key's KEY
        # SHARE) in between, and the re-read's FOR UPDATE would then deadlock with it.
        db.session.execute(sa.select(Passage.id).where(Passage.id == passage_id)
                           .with_for_update(of=Passage))
    # The UPDATE bumps the push version (``juries/push.py``): every state change takes
    # this lock, so the other juror and the board learn of each one; a refusal rolls the
    # bump back with the rest. On SQLite this first write also takes the database's
    # write lock (the driver opens the transaction at the first write).
    db.session.execute(sa.update(Passage).where(Passage.id == passage_id)
                       .values(live_version=Passage.live_version + 1)
                       .execution_options(synchronize_session=False))
    if not isinstance(passage, int):
        db.session.expire(passage)  # collections too (segments, pauses, validations)
    locked = db.session.scalars(statement.execution_options(populate_existing=True)) \
        .unique().one()
    if not transmitted_ok:
        from exam_app.juries.ccf import require_open

        require_open(locked.commission)
    return locked
