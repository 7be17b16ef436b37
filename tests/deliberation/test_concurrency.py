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


def test_a_registration_and_the_closing_at_once_are_one_after_the_other(app, delib, monkeypatch):
    """The gestionnaire records a bénéfice while the president closes: either the bénéfice
    is written before the closing (its audit first) or it is refused as locked, never
    written into closed results (real threads; SQLite, or PostgreSQL)."""
    from exam_app.accounts.models import User
    from exam_app.audit.models import AuditEvent
    from exam_app.enrolment import registration
    from exam_app.enrolment.models import Candidate, ExamSession
    from exam_app.results import deliberation as pages

    session_id, candidate_id = delib["session"].id, delib["candidates"][0].id
    gestionnaire_id, president_id = delib["gestionnaire"].id, delib["president"].id
    db.session.commit()
    real_lock = registration._lock

    def slow_lock(candidate):
        locked = real_lock(candidate)
        time.sleep(0.4)  # checked open and deciding: the closing is on its way meanwhile
        return locked

    monkeypatch.setattr(registration, "_lock", slow_lock)
    started = threading.Event()
    outcomes: dict[str, str] = {}

    def record_benefice() -> None:
        with app.app_context():
            candidate = db.session.get(Candidate, candidate_id)
            value = registration.validate(
                session=candidate.session, candidate=candidate, unit_code="E4",
                kind="benefice", kept_mark="14,5", kept_year=str(candidate.session.year - 1),
                reason="demande")
            started.set()
            try:
                registration.set_registration(candidate=candidate, registration=value,
                                              actor=db.session.get(User, gestionnaire_id))
                db.session.commit()
                outcomes["registration"] = "kept"
            except services.ResultsLocked:
                db.session.rollback()
                outcomes["registration"] = "refused"
            finally:
                db.session.remove()

    def close() -> None:
        with app.app_context():
            started.wait(5)
            time.sleep(0.1)  # the registration has passed its check
            pages.close(session=db.session.get(ExamSession, session_id),
                        actor=db.session.get(User, president_id))
            db.session.commit()
            outcomes["closing"] = "done"
            db.session.remove()

    threads = [threading.Thread(target=record_benefice), threading.Thread(target=close)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes.get("closing") == "done"
    db.session.expire_all()
    events = dict(db.session.execute(
        sa.select(AuditEvent.action, AuditEvent.id)
        .where(AuditEvent.action.in_(["candidate.registration", "deliberation.close"]))).all())
    if outcomes["registration"] == "kept":  # decided before the closing, never after it
        assert events["candidate.registration"] < events["deliberation.close"]
    else:
        assert outcomes["registration"] == "refused" and "candidate.registration" not in events
