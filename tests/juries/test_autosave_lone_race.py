"""The lone-field path against a validation finalising the mark at the same instant
(issue 11 §1), with two real connections, on both databases: the save's context is
read before the mark turns final, its write meets the finalisation, and nothing of
the save may stay (field, op record, revision), whatever the path's transaction
model: on PostgreSQL the fused statement runs in autocommit and must undo itself
(``autosave_fast._fused_pg(whole=True)``); on SQLite the write waits for the
database's write lock and re-checks ``finalized_at`` after it.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from exam_app.juries import autosave_lone
from exam_app.juries.models import AGREED, ClientOperation, Passage
from tests.juries.helpers import T0, complete_grid, members, stored_field

ROUNDS = 5


def _blocked(db, connection) -> bool:
    """Whether another session waits for a lock (PostgreSQL); SQLite: a short wait."""
    if connection.dialect.name != "postgresql":
        time.sleep(0.3)
        return True
    for _ in range(100):
        connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")  # a fresh view each time
        waiting = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()").scalar()
        if waiting:
            return True
        time.sleep(0.02)
    return False


def _save_in_thread(app, answers: list, **save_args) -> None:
    with app.app_context():
        answers.append(autosave_lone.save(**save_args))


def test_lone_save_racing_finalisation_keeps_nothing(app, db, create_passage):
    outcomes = []
    for number in range(ROUNDS):
        passage = create_passage()
        complete_grid(passage)
        juror = members(passage)[0]
        db.session.commit()
        field = stored_field(db, passage, AGREED, "appreciation")
        version, revision = field.version, passage.agreed_revision
        op_id = f"lone-race-{number}"
        answers = []
        # The finalisation, holding the passage row's lock (and on SQLite the database's
        # write lock) until the lone save has read its context and waits on its write.
        with db.engine.connect() as blocker:
            blocker.execute(sa.update(Passage).where(Passage.id == passage.id)
                            .values(finalized_at=T0, final_mark=Decimal("15")))

            thread = threading.Thread(target=_save_in_thread, args=(app, answers), kwargs={
                "passage_id": passage.id, "user_id": juror.id, "token": juror.session_token,
                "grid_key": AGREED, "op": {"op": op_id, "field": "appreciation",
                                           "value": "Écrite après la note", "base": version}})
            thread.start()
            assert _blocked(db, blocker)
            blocker.commit()
        thread.join(timeout=30)
        db.session.rollback()
        db.session.expire_all()
        after = db.session.get(Passage, passage.id)
        field = stored_field(db, passage, AGREED, "appreciation")
        recorded = db.session.scalar(sa.select(sa.func.count()).select_from(ClientOperation)
                                     .where(ClientOperation.op_id == op_id))
        outcomes.append((answers, field.version, field.value != "Écrite après la note",
                         after.agreed_revision, after.is_final, recorded))
    # The lone path declines (the ordinary path then refuses the final mark), and keeps nothing.
    assert outcomes == [([None], version, True, revision, True, 0)] * ROUNDS


@pytest.mark.parametrize("own_free", [True, False], ids=["own_pool", "app_pool"])
def test_lone_save_leaves_the_app_pool_transactional(app, db, create_passage, monkeypatch,
                                                     own_free):
    """On PostgreSQL the path runs in autocommit, on one of its own connections (never
    given to the app's pool), or when all of them are in use, on one of the app's pool,
    which goes back without autocommit (the ORM's transactions on it would otherwise
    commit each statement)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite: the lone path runs in a transaction (no autocommit to undo)")
    passage = create_passage()
    juror = members(passage)[0]
    db.session.commit()
    checked_in, during = [], []
    run = autosave_lone._save

    def spy(cursor, *args, **kwargs):
        during.append(cursor.connection.autocommit)
        return run(cursor, *args, **kwargs)

    monkeypatch.setattr(autosave_lone, "_save", spy)

    def checkin(dbapi_connection, record):
        checked_in.append(dbapi_connection.autocommit)

    own = autosave_lone._own_pool(db.engine)
    held = [] if own_free else [own.connect() for _ in range(autosave_lone.OWN_POOL_SIZE)]
    sa.event.listen(db.engine.pool, "checkin", checkin)
    try:
        answer = autosave_lone.save(passage_id=passage.id, user_id=juror.id,
                                    token=juror.session_token, grid_key=AGREED,
                                    op={"op": "lone-checkin", "field": "appreciation",
                                        "value": "Bien", "base": 0})
    finally:
        sa.event.remove(db.engine.pool, "checkin", checkin)
        for connection in held:
            connection.close()
    assert (answer is not None, during, checked_in) == \
        (True, [True], [] if own_free else [False])
