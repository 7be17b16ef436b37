"""Two members change the same result at the same moment, each from what they read
(version 0): one change is kept, the other is refused as stale, never silently lost
(real threads and transactions; SQLite, or PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from exam_app.deliberation import services
from exam_app.deliberation.models import ResultChange
from exam_app.extensions import db


def test_two_members_changing_the_same_result_at_once(app, delib, monkeypatch):
    session_id, candidate_id = delib["session"].id, delib["candidates"][0].id
    members = {"16": delib["member"].id, "17": delib["president"].id}
    db.session.commit()
    real = services.current_sequence

    def slow_sequence(*args):
        found = real(*args)
        time.sleep(0.3)  # both are deciding at once: the other one is already on its way
        return found

    monkeypatch.setattr(services, "current_sequence", slow_sequence)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def change(value: str) -> None:
        with app.app_context():
            from exam_app.accounts.models import User

            actor = db.session.get(User, members[value])
            barrier.wait()
            try:
                services.change_result(session_id=session_id, candidate_id=candidate_id,
                                       unit_code="E4", value=value, reason="Décision du jury",
                                       version=0, before="14,5", actor=actor)
                db.session.commit()
                outcomes[value] = "kept"
            except services.StaleResult as error:
                db.session.rollback()
                outcomes[value] = error.message
            finally:
                db.session.remove()

    threads = [threading.Thread(target=change, args=(v,)) for v in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["16", "17"]
    kept = [v for v, outcome in outcomes.items() if outcome == "kept"]
    refused = [outcome for outcome in outcomes.values() if outcome != "kept"]
    assert len(kept) == 1 and len(refused) == 1
    assert "a été modifié entre-temps" in refused[0]
    db.session.expire_all()
    rows = db.session.execute(sa.select(ResultChange.sequence, ResultChange.mark)).all()
    assert [(s, str(m)) for s, m in rows] == [(1, f"{kept[0]}.00")]
