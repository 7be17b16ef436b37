"""Where an autosave request's time goes, in-process (no gunicorn, one thread).

Seeds the autosave bench's database (``bench/autosave.py``), logs one juror in
through Flask's test client and times, request by request, the bare endpoint
(no login, no database), ``/jury/heure`` and the autosave of one field (the
request ``jury-passage.js`` sends). For each, medians of: the service time,
this thread's CPU time (less sensitive to a loaded machine), the time inside
``cursor.execute`` ("db"; the rest is the app's own Python), the SQL statements
run by the last request (the lone-field path's statements, which run on the
driver's cursor outside SQLAlchemy's events, are counted and timed around their run)
and, on PostgreSQL, the most server round trips a request took (psycopg's waits). With
``BENCH_PROFILE=1`` it also prints cProfile's top functions of the autosave (or of the
case named by ``BENCH_PROFILE_CASE``). The contended case's requests are timed too: a
validation that goes through, one refused, the state read, a save of the mark.
Prints ONE JSON line.

    .venv/bin/python bench/autosave_profile.py
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/autosave_profile.py
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_CONNECTIONS", "2")
os.environ.setdefault("BENCH_REQUESTS", "4")

from bench import autosave as bench  # noqa: E402 - after the path is set
from bench.autosave_app import add_bare_endpoint  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_PROFILE_REQUESTS", 400))


def main() -> int:
    import sqlalchemy as sa

    from exam_app import create_app
    from exam_app.extensions import db

    tmp = Path(tempfile.mkdtemp(prefix="bench-autosave-profile-"))
    database_url, drop_database = bench.prepare_database(tmp)
    try:
        [juror, *_] = bench.seed(database_url, tmp)
        app = add_bare_endpoint(create_app({
            "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "bench",
            "SESSION_COOKIE_SECURE": False, "STORAGE_DIR": str(tmp / "storage")}))
        statements: list[str] = []
        db_time = [0.0]

        with app.app_context():
            engine = db.engine

        @sa.event.listens_for(engine, "before_cursor_execute")
        def before(conn, cursor, statement, parameters, context, executemany):
            conn.info["started"] = time.perf_counter()

        @sa.event.listens_for(engine, "after_cursor_execute")
        def after(conn, cursor, statement, parameters, context, executemany):
            db_time[0] += time.perf_counter() - conn.info.pop("started")
            statements.append(statement.split(None, 1)[0] + " " + statement[:90].replace("\n", " "))

        # The autosave's lone-field path runs its statements on the driver's cursor,
        # outside SQLAlchemy's events: counted and timed here the same way.
        from exam_app.juries import autosave_lone

        run = autosave_lone._Compiled.run

        def counted(compiled, cursor, values):
            started = time.perf_counter()
            try:
                return run(compiled, cursor, values)
            finally:
                db_time[0] += time.perf_counter() - started
                statements.append(compiled.sql.split(None, 1)[0] + " "
                                  + compiled.sql[:90].replace("\n", " "))

        autosave_lone._Compiled.run = counted

        # PostgreSQL: the round trips of each request (pool ping, BEGIN, statements,
        # COMMIT, ROLLBACK): psycopg's Connection.wait runs a generator that yields each
        # time it waits for the server's answer (Wait.R; a BEGIN sent before a statement
        # is a wait of its own; a small answer is read in one).
        round_trips = [0]
        if database_url.startswith("postgresql"):
            import psycopg
            from psycopg.waiting import Wait

            wait = psycopg.Connection.wait

            def on_the_wire(generator):
                try:
                    sent = next(generator)
                    while True:
                        if sent == Wait.R:
                            round_trips[0] += 1
                        sent = generator.send((yield sent))
                except StopIteration as stop:
                    return stop.value

            def counted_wait(connection, generator, *args, **kwargs):
                return wait(connection, on_the_wire(generator), *args, **kwargs)

            psycopg.Connection.wait = counted_wait

        client = app.test_client()
        page = client.get("/connexion").data
        token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post("/connexion", data={"username": juror["username"],
                                                    "password": bench.PASSWORD,
                                                    "csrf_token": token.decode()})
        assert response.status_code == 302, response.status_code
        page = client.get(f"/jury/passages/{juror['passage']}").data
        csrf = re.search(rb'data-csrf="([^"]+)"', page).group(1).decode()
        version = [0]

        def bare():
            assert client.get("/bench/nu").status_code == 200

        def heure():
            assert client.get("/jury/heure").status_code == 200

        def save():
            body = json.dumps({"ops": [{"op": str(uuid.uuid4()), "field": juror["field"],
                                        "value": f"valeur {uuid.uuid4().hex}",
                                        "base": version[0]}]})
            response = client.post(
                f"/jury/passages/{juror['passage']}/grilles/commune/champs", data=body,
                headers={"Content-Type": "application/json", "X-CSRFToken": csrf,
                         "Accept": "application/json"})
            assert response.status_code == 200, response.data
            [result] = response.get_json()["results"]
            assert result["status"] == "ok", result
            version[0] = result["version"]

        # The contended case's requests on one of the pair's passages: the mark saved once
        # (revision 1), then a validation that goes through (the juror's own row, again, at the last
        # revision),
        # one refused without the lock (an older revision), a save of the mark, the state.
        contended = juror["contended"][0]
        json_headers = {"Content-Type": "application/json", "X-CSRFToken": csrf,
                        "Accept": "application/json"}
        mark_version, revision = [0], [0]

        def save_mark(value="12"):
            body = json.dumps({"ops": [{"op": str(uuid.uuid4()), "field": "mark",
                                        "value": value, "base": mark_version[0]}]})
            response = client.post(f"/jury/passages/{contended}/grilles/commune/champs",
                                   data=body, headers=json_headers)
            assert response.status_code == 200, response.data
            answer = response.get_json()
            mark_version[0] = answer["results"][0]["version"]
            revision[0] = answer["revision"] or revision[0]

        save_mark()

        def validate_ok():
            response = client.post(f"/jury/passages/{contended}/valider",
                                   data=json.dumps({"revision": revision[0]}), headers=json_headers)
            assert response.status_code == 200, response.data

        def validate_refused():
            response = client.post(f"/jury/passages/{contended}/valider",
                                   data=json.dumps({"revision": 0}), headers=json_headers)
            assert response.status_code == 409, response.data

        def change_mark():
            save_mark("13" if mark_version[0] % 2 else "12")

        def state():
            assert client.get(f"/jury/passages/{contended}/etat").status_code == 200

        out = {"bench": "autosave_profile",
               "database": "postgresql" if database_url.startswith("postgresql") else "sqlite"}
        cases = (("bare", bare), ("heure", heure), ("autosave", save),
                 ("validate_ok", validate_ok), ("validate_refused", validate_refused),
                 ("state", state), ("save_mark_same_value", save_mark),
                 ("save_mark_change", change_mark))
        for name, call in cases:
            for _ in range(20):  # warm up
                call()
            times, cpu_times, db_times, counts, trips = [], [], [], [], []
            for _ in range(REQUESTS):
                statements.clear()
                db_time[0] = 0.0
                round_trips[0] = 0
                started, cpu_started = time.perf_counter(), time.thread_time()
                call()
                times.append((time.perf_counter() - started) * 1000)
                cpu_times.append((time.thread_time() - cpu_started) * 1000)
                db_times.append(db_time[0] * 1000)
                counts.append(len(statements))
                trips.append(round_trips[0])
            out[name] = {"median_ms": round(statistics.median(times), 3),
                         "cpu_median_ms": round(statistics.median(cpu_times), 3),
                         "db_median_ms": round(statistics.median(db_times), 3),
                         "statements": max(counts), "round_trips": max(trips),
                         "sql": list(statements)}
        for name, _ in cases[1:]:
            out[f"{name}_over_bare"] = round(out[name]["median_ms"] / out["bare"]["median_ms"], 2)
            out[f"{name}_cpu_over_bare"] = round(out[name]["cpu_median_ms"]
                                                 / out["bare"]["cpu_median_ms"], 2)
        out["load_average_1min"] = round(os.getloadavg()[0], 2)
        if os.environ.get("BENCH_PROFILE"):
            profile = cProfile.Profile()
            profile.enable()
            target = dict(cases)[os.environ.get("BENCH_PROFILE_CASE", "autosave")]
            for _ in range(REQUESTS):
                target()
            profile.disable()
            text = io.StringIO()
            order = os.environ.get("BENCH_PROFILE_SORT", "cumulative")  # or tottime
            pstats.Stats(profile, stream=text).sort_stats(order).print_stats(45)
            print(text.getvalue(), file=sys.stderr)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        drop_database()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
