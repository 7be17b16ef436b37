"""Many threads saving the same agreed grid at once (PostgreSQL in CI, SQLite too).

Every thread writes with compare-and-set and retries on conflict, as a juror
choosing "keep mine" would. No write may be lost or silently overwritten:
each field's successful writes get versions 1..n exactly once, and the final
value is the last write's. Through the fast store and through the reference one.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import User
from exam_app.juries import autosave
from exam_app.juries.models import AGREED, ClientOperation, Grid, GridField

THREADS = 8
WRITES = 15
FIELDS = ("appreciation", "s:performance")


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
def test_concurrent_saves_none_lost(app, db, create_passage, monkeypatch, fast):
    monkeypatch.setitem(app.config, "JURY_AUTOSAVE_STORE", "fast" if fast else "reference")
    passage = create_passage()
    passage_id = passage.id
    juror_ids = [m.user_id for m in passage.commission.members]
    db.session.commit()
    successes: list[tuple[str, int, str]] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker(number: int) -> None:
        with app.app_context():
            user = db.session.get(User, juror_ids[number % 2])
            start.wait()
            for index in range(WRITES):
                field = FIELDS[(number + index) % len(FIELDS)]
                value = f"t{number}-w{index}"
                for attempt in range(200):
                    base = db.session.scalar(
                        sa.select(GridField.version).join(Grid).where(
                            Grid.passage_id == passage_id, Grid.key == AGREED,
                            GridField.name == field))
                    db.session.rollback()  # a fresh snapshot for the write
                    context = autosave.save_context(passage_id=passage_id, user_id=user.id)
                    try:
                        [result] = autosave.save_fields(
                            context=context, actor=user,
                            ops=[{"op": f"{number}-{index}-{attempt}", "field": field,
                                  "value": value, "base": base}])
                        db.session.commit()
                    except Exception as error:  # noqa: BLE001 - reported below
                        db.session.rollback()
                        with lock:
                            failures.append(repr(error))
                        return
                    if result["status"] == "ok":
                        with lock:
                            successes.append((field, result["version"], value))
                        break
            db.session.remove()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    db.session.expire_all()
    final = {name: f"{value}@{version}" for name, value, version in db.session.execute(
        sa.select(GridField.name, GridField.value, GridField.version)
        .join(Grid).where(Grid.passage_id == passage_id, Grid.key == AGREED,
                          GridField.name.in_(FIELDS))).all()}
    expected = {}
    versions_ok = True
    for field in FIELDS:
        writes = sorted((v, value) for f, v, value in successes if f == field)
        versions_ok &= [v for v, _ in writes] == list(range(1, len(writes) + 1))
        expected[field] = f"{writes[-1][1]}@{writes[-1][0]}"
    operations = db.session.scalar(sa.select(sa.func.count()).select_from(ClientOperation))
    assert (failures, len(successes), versions_ok, final) == (
        [], THREADS * WRITES, True, expected)
    assert operations >= THREADS * WRITES
