"""Micro-benchmark: the jury screen's state poll (``GET /jury/passages/<id>/etat``),
in process, beside two baselines in the same app and process.

Seeds a temporary database (SQLite, or a temporary database in BENCH_DATABASE_URL's
PostgreSQL server) with a session of SMALL and one of LARGE candidates (dossiers
decided conforme, the E5 deadline passed); in each, the juror's E5 commission has one
passage in its preparation (the polled one), another in preparation (listed by the
poll) and one waiting. Logs the juror in through the login form, then, alternating in
ROUNDS, times REQUESTS requests of each (Flask's test client: the app's own time,
no HTTP server):
  - ``poll``: the state poll, in each session;
  - ``heure``: ``/jury/heure``, the app's lightest jury endpoint (the login and the
    user's row, no passage);
  - ``bare``: a minimal Flask endpoint added to the same app (no login, no database).
It counts the SQL statements of each poll (an event listener on the engine). Prints
ONE JSON line: per endpoint the median and p99 wall-clock ms and the median CPU ms of
the process, and ``statements_per_poll``; never fails on a timing.

    .venv/bin/python bench/jury_poll.py
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/jury_poll.py
    BENCH_SOURCE=/tmp/base .venv/bin/python bench/jury_poll.py    # another checkout
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

SOURCE = Path(os.environ.get("BENCH_SOURCE") or Path(__file__).resolve().parent.parent)
sys.path.insert(0, str(SOURCE))

SMALL, LARGE = 20, int(os.environ.get("BENCH_CANDIDATES", 2000))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 200))
ROUNDS = 4
WARMUP = 20
PASSWORD = "bench-password"  # noqa: S105 - a throwaway account in a temporary database


def prepare_database(tmp: str) -> tuple[str, callable]:
    """A fresh database URL and a function that removes it."""
    base = os.environ.get("BENCH_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp}/poll.db", lambda: None
    import sqlalchemy as sa

    url = sa.engine.make_url(base)
    name = f"bench_poll_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop():
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def seed_session(code: str, size: int) -> tuple[str, int]:
    """A session of ``size`` candidates; (the juror's username, the polled passage's id)."""
    from exam_app.accounts.models import Role, RoleAssignment, User
    from exam_app.dossiers.models import Decision, DepositDeadline, Dossier
    from exam_app.enrolment.models import (
        Candidate,
        CandidateUnitForm,
        Centre,
        Establishment,
        ExamSession,
    )
    from exam_app.extensions import db
    from exam_app.juries import lifecycle, planning
    from exam_app.juries.models import Commission, CommissionMember, MemberRole

    now = datetime.now(UTC)
    session = ExamSession(code=code, name=f"Bench {code}", year=2027)
    centre = Centre(session=session, code=f"{code}C", name="Centre bench")
    school = Establishment(uai=f"{code[:6]:0>7}B", name=f"Lycée {code}")
    db.session.add_all([session, centre, school])
    db.session.flush()
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E5",
                                   deadline_at=now - timedelta(days=30)))
    users = []
    for member in range(2):
        user = User(username=f"{code.lower()}-juror{member}", first_name="Juré", last_name=str(member),
                    session_token=uuid.uuid4().hex)
        user.set_password(PASSWORD)
        user.roles.append(RoleAssignment(role=Role.EXAMINATEUR.value))
        users.append(user)
    commission = Commission(session=session, unit_code="E5", form="ponctuel", code=f"E5-{code}",
                            centre=centre)
    commission.members = [
        CommissionMember(user=users[0], member_role=MemberRole.TEACHER.value),
        CommissionMember(user=users[1], member_role=MemberRole.PROFESSIONAL.value)]
    candidates = [Candidate(session=session, number=f"{code}{n:06d}", last_name="BENCH",
                            first_name=str(n), birth_date=date(2005, 1, 1), establishment=school,
                            centre=centre,
                            unit_forms=[CandidateUnitForm(unit_code="E5", form="ponctuel")])
                  for n in range(size)]
    db.session.add_all([commission, *candidates])
    db.session.flush()
    db.session.add_all([Dossier(candidate_id=c.id, unit_code="E5", decision_reasons=[],
                                decision=Decision.COMPLIANT.value, decided_at=now)
                        for c in candidates])
    passages = planning.assign_candidates(commission=commission,
                                          numbers=[c.number for c in candidates[:3]],
                                          variant_code="ponctuel", actor=None)
    for passage in passages[:2]:  # two candidates preparing; the third waits
        lifecycle.start_passage(passage=passage, actor=users[0], now=now)
    db.session.commit()
    return users[0].username, passages[0].id


def login(client, username: str) -> None:
    page = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/connexion", data={"username": username, "password": PASSWORD,
                                               "csrf_token": token})
    if response.status_code != 302:
        raise RuntimeError(f"login failed: {response.status_code}")


def timed(client, path: str, samples: dict) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    response = client.get(path)
    samples["wall"].append((time.perf_counter() - wall) * 1000)
    samples["cpu"].append((time.process_time() - cpu) * 1000)
    if response.status_code != 200:
        raise RuntimeError(f"{path}: {response.status_code}")


def summary(samples: dict) -> dict:
    wall = sorted(samples["wall"])
    return {"median_ms": round(statistics.median(wall), 2),
            "p99_ms": round(wall[min(len(wall) - 1, int(len(wall) * 0.99))], 2),
            "cpu_median_ms": round(statistics.median(samples["cpu"]), 2)}


def main() -> None:
    import sqlalchemy as sa
    from flask import jsonify

    from exam_app import create_app
    from exam_app.extensions import db

    with tempfile.TemporaryDirectory() as tmp:
        url, drop = prepare_database(tmp)
        try:
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                              "STORAGE_DIR": f"{tmp}/storage", "SESSION_COOKIE_SECURE": False,
                              "REMEMBER_COOKIE_SECURE": False})
            app.add_url_rule("/bench/nu", "bench_bare", lambda: jsonify({"ok": 1}))
            with app.app_context():
                db.create_all()
                sessions = {"small": seed_session("PS", SMALL), "large": seed_session("PL", LARGE)}
                engine = db.engine
            statements = {"n": 0}

            def count(*args):
                statements["n"] += 1

            clients = {}
            for name, (username, _) in sessions.items():
                clients[name] = app.test_client()
                login(clients[name], username)
            paths = {f"poll_{name}": (clients[name], f"/jury/passages/{passage}/etat")
                     for name, (_, passage) in sessions.items()}
            paths["heure"] = (clients["small"], "/jury/heure")
            paths["bare"] = (clients["small"], "/bench/nu")
            for client, path in paths.values():
                for _ in range(WARMUP):
                    client.get(path)
            samples = {key: {"wall": [], "cpu": []} for key in paths}
            per_poll = {}
            for _ in range(ROUNDS):
                for key, (client, path) in paths.items():
                    before = statements["n"]
                    sa.event.listen(engine, "before_cursor_execute", count)
                    for _ in range(REQUESTS // ROUNDS):
                        timed(client, path, samples[key])
                    sa.event.remove(engine, "before_cursor_execute", count)
                    per_poll[key] = (statements["n"] - before) / (REQUESTS // ROUNDS)
            with app.app_context():
                db.engine.dispose()
        finally:
            drop()
    figures = {key: summary(value) for key, value in samples.items()}
    print(json.dumps({
        "bench": "jury_poll", "database": "postgresql" if "postgresql" in url else "sqlite",
        "source": str(SOURCE), "candidates": {"small": SMALL, "large": LARGE},
        "requests": REQUESTS,
        **{key: {**value, "statements": per_poll[key]} for key, value in figures.items()},
        "statements_per_poll": per_poll["poll_large"],
        "poll_over_bare_median": round(figures["poll_large"]["median_ms"]
                                       / figures["bare"]["median_ms"], 1),
        "load_average": round(os.getloadavg()[0], 1),
    }))


if __name__ == "__main__":
    main()
