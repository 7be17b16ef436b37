"""The E5 preparation ends by itself (issue 11, item 11), as the pages and the polled
state show it: the passage page rendered by the server, the state poll (which writes
the end, once), the juror's day and the board."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.clock import to_local, utcnow
from exam_app.juries import lifecycle
from exam_app.juries.models import PassageSegment
from tests.juries.helpers import members


def _preparing(db, create_passage, *, minutes: float):
    """An E5 ponctuel passage scheduled now, its preparation started ``minutes`` ago."""
    passage = create_passage(unit_code="E5")
    passage.scheduled_at = utcnow()
    began = utcnow() - timedelta(minutes=minutes)
    lifecycle.start_passage(passage=passage, actor=members(passage)[0], now=began)
    db.session.commit()
    return passage, began


def _auto_ends(db, passage) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.object_id == str(passage.id), AuditEvent.action == "timer.auto_end"))


def _hm(value) -> str:
    return f"{to_local(value):%H:%M}"


def test_page_shows_when_the_running_preparation_ends(client, login_as, db, create_passage):
    passage, began = _preparing(db, create_passage, minutes=10)
    login_as(members(passage)[0])
    html = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
    assert (f"se termine seule à {_hm(began + timedelta(minutes=45))}" in html,
            'data-state="running"' in html, _auto_ends(db, passage)) == (True, True, 0)


def test_page_renders_preparation_over_candidate_due(client, login_as, db, create_passage):
    passage, began = _preparing(db, create_passage, minutes=50)
    login_as(members(passage)[0])
    html = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
    due = began + timedelta(minutes=45)
    assert f"Préparation terminée à {_hm(due)} — candidat attendu" in html
    assert 'data-state="waiting"' in html
    assert "Démarrer « Résultat de la nouvelle demande »" in html
    # Rendering it wrote it: ended at its due time, not when the page was read.
    db.session.rollback()
    ended = db.session.scalar(sa.select(PassageSegment.ended_at).where(
        PassageSegment.passage_id == passage.id, PassageSegment.index == 0))
    assert (ended, _auto_ends(db, passage)) == (due, 1)


def test_state_poll_writes_the_end_once_at_its_due_time(client, login_as, db, create_passage):
    passage, began = _preparing(db, create_passage, minutes=47)
    login_as(members(passage)[0])
    due_ms = int((began + timedelta(minutes=45)).timestamp() * 1000)
    answers = [client.get(f"/jury/passages/{passage.id}/etat").get_json() for _ in range(3)]
    timers = [(a["timer"]["status"], a["timer"]["current"], a["timer"]["awaiting"],
               a["timer"]["segments"][0]["ended_at"], a["timer"]["segments"][0]["elapsed"])
              for a in answers]
    assert timers == [("waiting", None, 1, due_ms, 2700.0)] * 3
    db.session.rollback()
    assert _auto_ends(db, passage) == 1


def test_state_poll_gives_the_due_time_while_preparing(client, login_as, db, create_passage):
    passage, began = _preparing(db, create_passage, minutes=5)
    login_as(members(passage)[0])
    segment = client.get(f"/jury/passages/{passage.id}/etat").get_json()["timer"]["segments"][0]
    assert (segment["due_at"], segment["ended_at"], segment["fixed"]) == (
        int((began + timedelta(minutes=45)).timestamp() * 1000), None, True)


def test_home_and_board_show_the_candidate_due(client, login_as, db, create_passage,
                                               create_user):
    passage, began = _preparing(db, create_passage, minutes=46)
    other, other_began = _preparing(db, create_passage, minutes=5)
    other.commission.session_id = passage.commission.session_id
    db.session.commit()
    due_text = f"Préparation terminée à {_hm(began + timedelta(minutes=45))} — candidat attendu"
    running_text = (f"Préparation sur poste informatique (nouvelle demande) — se termine seule "
                    f"à {_hm(other_began + timedelta(minutes=45))}")
    login_as(members(passage)[0])
    home = client.get("/jury/").get_data(as_text=True)
    login_as(create_user(Role.GESTIONNAIRE))
    board = client.get(f"/gestion/sessions/{passage.commission.session.code}/suivi"
                       f"?jour={to_local(utcnow()).date()}").get_data(as_text=True)
    assert (due_text in home, due_text in board, running_text in board) == (True, True, True)
    # Reading the day and the board writes nothing.
    assert _auto_ends(db, passage) == 0


def test_jury_busy_with_one_candidate_sees_the_next_one_due(client, login_as, db,
                                                            create_passage):
    # The jury examines candidate n (in front of it) while n+1 prepares alone: n+1's
    # preparation ending is shown on n's page and in its polled state.
    current, _ = _preparing(db, create_passage, minutes=60)
    lifecycle.advance(passage=current, from_index=0, actor=members(current)[0])
    nxt = create_passage(unit_code="E5", commission=current.commission)
    began = utcnow() - timedelta(minutes=46)
    lifecycle.start_passage(passage=nxt, actor=members(nxt)[0], now=began)
    third = create_passage(unit_code="E5", commission=current.commission)
    third_began = utcnow() - timedelta(minutes=2)
    lifecycle.start_passage(passage=third, actor=members(third)[0], now=third_began)
    db.session.commit()
    login_as(members(current)[0])
    html = client.get(f"/jury/passages/{current.id}").get_data(as_text=True)
    items = client.get(f"/jury/passages/{current.id}/etat").get_json()["preparations"]
    due = began + timedelta(minutes=45)
    assert (f"{nxt.candidate.full_name} : préparation terminée à {_hm(due)} — candidat attendu"
            in html, f"En préparation : {third.candidate.full_name} — se termine seule à "
            f"{_hm(third_began + timedelta(minutes=45))}" in html) == (True, True)
    assert [(i["id"], i["kind"], i["ended_at"], i["due_at"], i["url"]) for i in items] == [
        (nxt.id, "due", int(due.timestamp() * 1000), None, f"/jury/passages/{nxt.id}"),
        (third.id, "fixed", None, int((third_began + timedelta(minutes=45)).timestamp() * 1000),
         f"/jury/passages/{third.id}")]
    # Showing another passage's end writes nothing for it (its own page or poll does).
    assert _auto_ends(db, nxt) == 0


def test_e4_page_lists_no_preparations(client, login_as, db, create_passage):
    passage = create_passage()
    login_as(members(passage)[0])
    assert client.get(f"/jury/passages/{passage.id}/etat").get_json()["preparations"] == []


def test_state_reads_in_autocommit_and_writes_in_a_transaction(client, login_as, db,
                                                               create_passage):
    """PostgreSQL: the state poll reads on a connection in autocommit (no BEGIN, no
    ROLLBACK); when a preparation's time is up it reads again and writes in a
    transaction, the end written once (``views_api._reads_in_autocommit``)."""
    if db.engine.dialect.name != "postgresql":
        import pytest

        pytest.skip("SQLite: the state is read as before")
    quiet, _ = _preparing(db, create_passage, minutes=5)
    due, _ = _preparing(db, create_passage, minutes=47)
    login_as(members(quiet)[0])
    seen: list[tuple[str, bool]] = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement.split(None, 1)[0], conn.connection.driver_connection.autocommit))

    quiet_id, due_id, due_juror = quiet.id, due.id, members(due)[0]
    # The test's session serves the requests too (its app context): none of its
    # connections open when a request begins, as in a request of its own.
    db.session.rollback()
    sa.event.listen(db.engine, "before_cursor_execute", spy)
    try:
        assert client.get(f"/jury/passages/{quiet_id}/etat").status_code == 200
        quiet_seen = list(seen)
        login_as(due_juror)
        db.session.rollback()
        seen.clear()
        assert client.get(f"/jury/passages/{due_id}/etat").status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", spy)
    assert quiet_seen and all(autocommit for _, autocommit in quiet_seen), quiet_seen
    # The reads in autocommit (the lean state's, which declines a preparation whose time
    # is up, then the reference's); then, after the rollback, everything in a transaction.
    reads = [autocommit for _, autocommit in seen].index(False)
    assert reads >= 1 and all(kind == "SELECT" for kind, _ in seen[:reads]), seen
    assert not any(autocommit for _, autocommit in seen[reads:]), seen
    assert "UPDATE" in {kind for kind, _ in seen[reads:]}
    db.session.rollback()
    assert _auto_ends(db, db.session.get(type(due), due_id)) == 1
