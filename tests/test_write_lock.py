"""The row locks of ``dossiers.common`` (``lock_candidate``, ``lock_dossier``) and how
SQLite takes its write lock (``extensions``).

SQLite: a lock taken at the start of a transaction is ``BEGIN IMMEDIATE`` (the write
lock, no page written: the row's change counter does not move), and the app's
writers queue on the ``<database>-writers`` lock, so a waiting writer runs as soon
as the holder commits. PostgreSQL: ``SELECT ... FOR UPDATE`` holds the row.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from exam_app.dossiers.common import lock_candidate, lock_dossier
from exam_app.dossiers.models import Dossier
from exam_app.enrolment.models import Candidate
from exam_app.extensions import sqlite_write_lock


def _is_sqlite(db) -> bool:
    return db.engine.dialect.name == "sqlite"


def _other_writer_blocked(db, candidate_id: int) -> bool:
    """Whether another connection is refused the candidate's row (without waiting)."""
    if _is_sqlite(db):
        path = db.engine.url.database
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return True
        finally:
            other.close()
        return False
    with db.engine.connect() as other:
        other.exec_driver_sql("SET lock_timeout = '50ms'")
        try:
            other.execute(sa.select(Candidate.id).where(Candidate.id == candidate_id)
                          .with_for_update())
        except sa.exc.OperationalError:
            other.rollback()
            return True
        other.rollback()
    return False


def test_lock_candidate_holds_the_row_until_commit(db, create_candidate):
    candidate = create_candidate()
    db.session.commit()
    lock_candidate(candidate.id)
    assert _other_writer_blocked(db, candidate.id) is True
    db.session.commit()
    assert _other_writer_blocked(db, candidate.id) is False


def test_lock_on_sqlite_writes_nothing(db, create_candidate):
    if not _is_sqlite(db):
        pytest.skip("SQLite's write lock (PostgreSQL: FOR UPDATE, covered above)")
    candidate = create_candidate()
    dossier = Dossier(candidate_id=candidate.id, unit_code="E4", decision_reasons=[])
    db.session.add(dossier)
    db.session.commit()
    raw = db.session.connection().connection.dbapi_connection
    changes = raw.total_changes
    lock_candidate(candidate.id)
    locked = lock_dossier(dossier.id)
    assert locked.id == dossier.id
    db.session.commit()
    # The former no-op UPDATEs counted one change each; BEGIN IMMEDIATE counts none.
    assert raw.total_changes == changes


def test_lock_inside_a_savepoint_only_transaction_still_locks(db, create_candidate):
    """A SAVEPOINT opens a SQLite transaction without the write lock: the helper says it
    cannot vouch for the lock, and ``lock_candidate`` writes to take it."""
    candidate = create_candidate()
    db.session.commit()
    nested = db.session.begin_nested()
    if _is_sqlite(db):
        assert sqlite_write_lock() is False
    lock_candidate(candidate.id)
    assert _other_writer_blocked(db, candidate.id) is True
    nested.commit()
    db.session.commit()
    assert _other_writer_blocked(db, candidate.id) is False


def test_waiting_writer_runs_after_the_commit_and_sees_it(app, db, create_candidate):
    """Two writers of one row: the second waits for the first's commit, then reads it."""
    candidate = create_candidate(last_name="AVANT")
    db.session.commit()
    candidate_id = candidate.id
    lock_candidate(candidate_id)
    seen: list[str] = []
    finished = threading.Event()

    def second() -> None:
        with app.app_context():
            lock_candidate(candidate_id)
            seen.append(db.session.scalar(sa.select(Candidate.last_name)
                                          .where(Candidate.id == candidate_id)))
            db.session.execute(sa.update(Candidate).where(Candidate.id == candidate_id)
                               .values(last_name="APRES"))
            db.session.commit()
            db.session.remove()
            finished.set()

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.3)
    assert not finished.is_set()  # still waiting for the first writer
    db.session.execute(sa.update(Candidate).where(Candidate.id == candidate_id)
                       .values(last_name="PREMIER"))
    db.session.commit()
    assert finished.wait(5)
    thread.join()
    assert seen == ["PREMIER"]
    db.session.expire_all()
    assert db.session.get(Candidate, candidate_id).last_name == "APRES"
