"""One serialised decision per passage: lock the passage row, then re-read it.

Every state change of a passage (start, advance, pause, resume, attendance,
reveal, validate, finalise, reopen) first calls ``lock_passage``; what the
service then decides on is read under the lock, so two jurors pressing at
once are applied one after the other, the second seeing the first's effect.
PostgreSQL: the push version's bump, whose sub-select takes ``FOR UPDATE`` first.
SQLite: ``BEGIN IMMEDIATE`` takes the database's write lock (a second writer
queues on the writers' lock and wakes at the commit, see ``extensions``), then
the bump writes under it, so the reads that follow see the latest commit. The autosave's hot
path instead re-checks the passage's state in its conditional UPDATEs (see
``autosave_fast`` and ``autosave_reference``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from exam_app.accounts.models import User
from exam_app.extensions import db, sqlite_write_lock
from exam_app.juries.models import Commission, CommissionMember, Passage


def lock_passage(passage: Passage | int, *, timer: bool = True) -> Passage:
    """The passage, its row locked until the end of the transaction, and re-read.

    ``timer=False``: a decision that does not read the timer (validation) leaves
    the segments, the pauses and the members' roles to load on access instead of
    with the row, and joins the session to it, so less is read while the lock is held.
    """
    passage_id = passage if isinstance(passage, int) else passage.id
    db.session.flush()  # pending changes first: the re-read must not drop them
    # The validations (and, for a decision on the timer, its segments and pauses) joined
    # to the row (a few rows each): one statement instead of one per collection.
    statement = sa.select(Passage).where(Passage.id == passage_id).options(
        orm.joinedload(Passage.validations))
    if timer:
        statement = statement.options(orm.joinedload(Passage.segments),
                                      orm.joinedload(Passage.pauses))
    else:
        # Not read under the lock (SQLite's is the whole database's): on access, after.
        statement = statement.options(
            orm.lazyload(Passage.segments), orm.lazyload(Passage.pauses),
            orm.joinedload(Passage.commission).joinedload(Commission.session),
            # The members are read for who they are, not for their roles.
            orm.joinedload(Passage.commission).selectinload(Commission.members)
            .joinedload(CommissionMember.user).lazyload(User.roles))
    bump = sa.update(Passage).values(live_version=Passage.live_version + 1)
    if db.session.get_bind().dialect.name == "sqlite":
        # The write lock first, without writing (BEGIN IMMEDIATE behind the writers'
        # lock, ``extensions.sqlite_write_lock``); the bump below then writes under it.
        sqlite_write_lock()
        bump = bump.where(Passage.id == passage_id)
    else:
        # FOR UPDATE first, as before the push: the UPDATE alone would take the weaker
        # FOR NO KEY UPDATE, which lets an autosave's insert (a foreign key's KEY SHARE)
        # in between, and the re-read's FOR UPDATE would then deadlock with it. The
        # lock is the UPDATE's sub-select, run before the UPDATE: one round trip.
        locked = Passage.__table__.alias("locked_passage")
        bump = bump.where(Passage.id == sa.select(locked.c.id).where(locked.c.id == passage_id)
                          .with_for_update(of=locked).scalar_subquery())
    # The UPDATE bumps the push version (``juries/push.py``): every state change takes
    # this lock, so the other juror and the board learn of each one; a refusal rolls the
    # bump back with the rest.
    db.session.execute(bump.execution_options(synchronize_session=False))
    if not isinstance(passage, int):
        db.session.expire(passage)  # collections too (segments, pauses, validations)
    return db.session.scalars(statement.execution_options(populate_existing=True)).unique().one()
