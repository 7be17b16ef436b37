"""Benchmark: the main pages of each role, in a 150- and a 5,000-candidate demo session.

Issue 16, item 2: a page's cost must depend on what it shows, not on the session's
size. Loads ``exam_app.demo.load(candidates=N)`` for each size into a fresh SQLite file
(or into BENCH_DATABASE_URL, whose tables are dropped and recreated: a scratch
database), then times each page in process (Flask's test client: the app's own time,
no HTTP server), the median of BENCH_REPEAT requests after a warm-up, and counts the
SQL statements of one request on the engine. Documents (attendance sheets, bordereau)
are timed as the print pack builds them: their HTML, signed, before WeasyPrint (whose
cost depends on the document alone).

Each size has its own SQLite file, and the sizes are timed in turn (a page's run at 150,
then at 5,000, then again), so that the load of a shared machine, which changes from
minute to minute, weighs on both sides of a ratio alike. With BENCH_DATABASE_URL (one
database) the sizes are loaded and timed one after the other, as before.

BENCH_DB_DIR keeps the SQLite files there and loads each size once: a second run (e.g.
the code before a change, with BENCH_SOURCE) measures the same databases.

The results exports and the deposits CSV are streamed: their first piece is timed as a
page (``gestion_results_*_first_byte``, ``gestion_deposits_csv_first_byte``), their whole
download is printed beside (``whole_exports_ms_5000``) and left out of the maximum, as it
lists every candidate.

Prints one JSON line: ``max_ms_5000`` (the worst page at 5,000; target <= 300),
``max_growth`` (the worst 5,000 / 150 ratio of the medians; target <= 2) and each
page's figures; ``max_growth_cpu`` is the same ratio on the process's CPU time (which
other programs of a shared machine move least). BENCH_ONLY=name,name times those pages
only. Never fails on a timing.

    .venv/bin/python bench/pages.py
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/h_pages .venv/bin/python bench/pages.py
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

TMP = tempfile.mkdtemp(prefix="bench-pages-")
os.environ.setdefault("INSTANCE_PATH", TMP)
os.environ.setdefault("STORAGE_DIR", str(Path(TMP) / "storage"))
sys.path.insert(0, os.environ.get("BENCH_SOURCE") or str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from exam_app import create_app  # noqa: E402
from exam_app.extensions import db  # noqa: E402

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "150,5000").split(",")]
REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
ONLY = [p for p in os.environ.get("BENCH_ONLY", "").split(",") if p]


class Counter:
    """The SQL statements sent on the engine while active."""

    engine = None  # set once the app exists (listening needs no app context)

    def __init__(self):
        self.count = 0

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1

    def __enter__(self):
        self.count = 0
        sa.event.listen(Counter.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc):
        sa.event.remove(Counter.engine, "before_cursor_execute", self)


def login(app, username: str):
    from exam_app.demo import demo_password

    client = app.test_client()
    page = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    response = client.post("/connexion", data={"username": username, "password": demo_password(),
                                               "csrf_token": token})
    assert response.status_code == 302, (username, response.status_code)
    return client


def measure(calls: dict) -> dict:
    """Per size: the median wall time of its call (ms) and the median CPU time of the
    process, over REPEAT runs after a warm-up, the statements of one run, and the size
    of its answer. ``calls``: size -> (engine, call). The sizes are timed in turn, run
    after run (150, 5,000, 150, ...), so that a change of the shared machine's load
    falls on both. A call may leave part of its time out (``untimed``: a streamed answer
    read after its first piece)."""
    sizes = {size: call() for size, (_, call) in calls.items()}
    samples = {size: [] for size in calls}
    cpu = {size: [] for size in calls}
    for _ in range(REPEAT):
        for size, (_, call) in calls.items():
            if hasattr(call, "untimed"):
                call.untimed, call.untimed_cpu = 0.0, 0.0
            start, start_cpu = time.perf_counter(), time.process_time()
            call()
            samples[size].append((time.perf_counter() - start - getattr(call, "untimed", 0))
                                 * 1000)
            cpu[size].append((time.process_time() - start_cpu
                              - getattr(call, "untimed_cpu", 0)) * 1000)
    out = {}
    for size, (engine, call) in calls.items():
        Counter.engine = engine
        with Counter() as counter:
            call()
        out[size] = {"ms": round(statistics.median(samples[size]), 1),
                     "cpu_ms": round(statistics.median(cpu[size]), 1),
                     "statements": counter.count, "bytes": sizes[size]}
    return out


def get(client, url: str):
    def call():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return len(response.get_data())
    return call


def first_piece(client, url: str):
    """Until the first piece of a streamed answer (the rest is read, untimed, after)."""
    def call():
        response = client.get(url, buffered=False)
        assert response.status_code == 200, (url, response.status_code)
        pieces = iter(response.response)
        size = len(next(pieces))
        # Time stops here; the rest is drained so that the request ends as it would.
        timed_out, timed_out_cpu = time.perf_counter(), time.process_time()
        size += sum(len(p) for p in pieces)
        response.close()
        call.untimed += time.perf_counter() - timed_out
        call.untimed_cpu += time.process_time() - timed_out_cpu
        return size
    call.untimed, call.untimed_cpu = 0.0, 0.0
    return call


def build_session(app, candidates: int) -> dict:
    """Load the demo; the ids and logins the pages need."""
    from exam_app import demo
    from exam_app.accounts.models import User
    from exam_app.clock import to_local, utcnow
    from exam_app.e6.models import E6Lot
    from exam_app.enrolment.models import ExamSession
    from exam_app.juries.models import Commission, Passage

    with app.app_context():
        start = time.perf_counter()
        if app.config.get("BENCH_REUSE"):
            logins = demo.logins_for_display()  # loaded by an earlier run (BENCH_DB_DIR)
            load_s = None
        else:
            db.drop_all()
            db.create_all()
            with app.test_request_context():
                logins = demo.load(candidates=candidates)
            db.session.commit()
            load_s = round(time.perf_counter() - start, 1)
        session = db.session.scalar(sa.select(ExamSession).where(ExamSession.code == demo.DEMO_CODE))
        e4 = db.session.scalar(sa.select(Commission).where(Commission.session_id == session.id,
                                                           Commission.code == "E4-LYO01"))
        passage = db.session.scalar(sa.select(Passage).where(Passage.commission_id == e4.id)
                                    .order_by(Passage.scheduled_at, Passage.id))
        centre = e4.centre
        by_role = {}
        for entry in logins:
            by_role.setdefault(entry.role, entry.username)
        lot = db.session.scalar(sa.select(E6Lot).join(User, User.id == E6Lot.corrector_id)
                                .where(User.username == by_role["correcteur"])
                                .order_by(E6Lot.id))
        # The first centre's head (LYO01, where the demo's jury day is).
        head = by_role["chef de centre"]
        return {"code": session.code, "session_id": session.id, "commission_id": e4.id,
                "passage_id": passage.id, "centre_id": centre.id,
                "lot_id": lot.id if lot else None, "day": to_local(utcnow()).date(),
                "gestion": by_role["gestionnaire"], "juror": by_role["examinateur E4"],
                "centre_head": head, "correcteur": by_role["correcteur"], "load_s": load_s}


def pages(app, facts: dict) -> tuple[dict, dict]:
    """The calls that time each page (then each export) of the session."""
    from exam_app.documents import bordereau, packs
    from exam_app.enrolment.models import Centre
    from exam_app.juries.models import Commission
    from exam_app.printing import signing

    code = facts["code"]
    gestion = login(app, facts["gestion"])
    juror = login(app, facts["juror"])
    head = login(app, facts["centre_head"])
    correcteur = login(app, facts["correcteur"])
    with app.test_request_context():
        commission = db.session.get(Commission, facts["commission_id"])
        rows = bordereau.bordereau_rows(commission)
        token = signing.app_token(bordereau.KIND, [commission.id, signing.stamp(facts["now"])],
                                  bordereau.bordereau_context(commission, rows),
                                  bordereau.FIELDS)
        db.session.rollback()

    def document(build):
        def call():
            with app.test_request_context():
                size = sum(len(p.html) for p in build())
                db.session.rollback()
                return size
        return call

    def sheets():
        centre = db.session.get(Centre, facts["centre_id"])
        return packs.pack_documents(centre, facts["day"], ["emargement"])

    def bordereau_doc():
        return [bordereau.build(db.session.get(Commission, facts["commission_id"]))]

    base = f"/gestion/sessions/{code}"
    table = {
        "gestion_dashboard": get(gestion, f"{base}/"),
        "gestion_candidates": get(gestion, f"{base}/candidats"),
        "gestion_conformity_E4": get(gestion, f"{base}/conformite/E4"),
        # The deposit dashboard with a filter, so that its list (a page) shows too.
        "gestion_deposits_E4": get(gestion, f"{base}/dossiers/?unite=E4&statut=missing"),
        # Streamed: its first piece counts as a page, the whole file is printed beside.
        "gestion_deposits_csv_first_byte": first_piece(gestion, f"{base}/dossiers/depots.csv"
                                                       "?unite=E4"),
        "gestion_deposits_csv": get(gestion, f"{base}/dossiers/depots.csv?unite=E4"),
        "gestion_live_board": get(gestion, f"{base}/suivi"),
        "gestion_planning": get(gestion, f"/gestion/commissions/{facts['commission_id']}/planning"),
        "gestion_commissions": get(gestion, f"{base}/commissions"),
        "gestion_e6_harmonisation": get(gestion, f"{base}/e6/harmonisation"),
        "gestion_e6_correspondence": get(gestion, f"{base}/e6/correspondance"),
        "verify_bordereau": get(app.test_client(), f"/verifier/{token}"),
        "juror_home": get(juror, "/jury/"),
        "juror_passage": get(juror, f"/jury/passages/{facts['passage_id']}"),
        "centre_home": get(head, "/centre/"),
        "centre_print_packs": get(head, f"/centres/{facts['centre_id']}/impressions"),
        "doc_attendance_sheets_day": document(sheets),
        "doc_bordereau_commission": document(bordereau_doc),
    }
    if facts["lot_id"]:
        table["correcteur_lot"] = get(correcteur, f"/correction/lots/{facts['lot_id']}")
    # The exports need the levée d'anonymat, whose blockers the demo does not clear: the
    # bench records it directly (a scratch database), around the exports' timing.
    exports = {}
    for name, url in (("gestion_results_csv", f"{base}/e6/resultats.csv"),
                      ("gestion_results_xlsx", f"{base}/e6/resultats.xlsx")):
        # Streamed: the first piece (what the person waits for before the download
        # starts), and the whole file (which grows with the session by nature).
        exports[f"{name}_first_byte"] = first_piece(gestion, url)
        exports[name] = get(gestion, url)
    return table, exports


def released(app, facts: dict, lifted: bool) -> None:
    """Record (or remove) the session's levée d'anonymat, directly."""
    from exam_app.clock import utcnow
    from exam_app.e6.models import E6Release

    with app.app_context():
        if lifted:
            db.session.add(E6Release(session_id=facts["session_id"], lifted_at=utcnow()))
        else:  # the database as loaded, for the next run (BENCH_DB_DIR)
            db.session.execute(sa.delete(E6Release)
                               .where(E6Release.session_id == facts["session_id"]))
        db.session.commit()


def run(apps: dict, only_sizes: list[int]) -> dict:
    """Time every page for the sizes given (together, in turn), as ``measure`` does."""
    tables = {size: pages(apps[size][0], apps[size][1]) for size in only_sizes}
    engines = {}
    for size in only_sizes:
        # No app context around the requests: each request has its own (and its own ``g``,
        # where Flask-Login keeps the user).
        with apps[size][0].app_context():
            engines[size] = db.engine
    results = {size: {} for size in only_sizes}
    for part in (0, 1):
        if part == 1:
            for size in only_sizes:
                released(*apps[size], True)
        for name in tables[only_sizes[0]][part]:
            if all(name in tables[size][part] for size in only_sizes) and (
                    not ONLY or name.removesuffix("_first_byte") in ONLY or name in ONLY):
                timed = measure({size: (engines[size], tables[size][part][name])
                                 for size in only_sizes})
                for size in only_sizes:
                    results[size][name] = timed[size]
    for size in only_sizes:
        released(*apps[size], False)
    return results


def main() -> None:
    from exam_app.clock import utcnow

    results, loads, apps = {}, {}, {}
    keep = os.environ.get("BENCH_DB_DIR")  # SQLite files kept there, loaded once
    shared = os.environ.get("BENCH_DATABASE_URL")  # one database: a size at a time
    for size in SIZES:
        path = Path(keep or TMP) / f"bench-{size}.db"
        reuse = keep is not None and path.exists()
        url = shared or f"sqlite:///{path}"
        app = create_app({"BENCH_REUSE": reuse,"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                          "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                          "PUBLIC_URL": "https://examens.example.org",
                          "STORAGE_DIR": str(Path(keep or TMP) / f"storage-{size}")})
        facts = build_session(app, size)
        facts["now"] = utcnow()
        loads[size] = facts["load_s"]
        apps[size] = (app, facts)
        if shared:  # the next size replaces this one in the database: time it now
            results.update(run(apps, [size]))
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    if not shared:  # each size in its own file: the sizes timed in turn, page by page
        results = run(apps, SIZES)
    for size in SIZES:
        print(json.dumps({"size": size, "pages": results[size]}), file=sys.stderr, flush=True)
    small, large = SIZES[0], SIZES[-1]
    figures = {name: {f"ms_{small}": results[small][name]["ms"],
                      f"ms_{large}": results[large][name]["ms"],
                      "growth": round(results[large][name]["ms"] / max(results[small][name]["ms"],
                                                                       0.1), 2),
                      f"cpu_ms_{small}": results[small][name]["cpu_ms"],
                      f"cpu_ms_{large}": results[large][name]["cpu_ms"],
                      "growth_cpu": round(results[large][name]["cpu_ms"]
                                          / max(results[small][name]["cpu_ms"], 0.1), 2),
                      f"statements_{small}": results[small][name]["statements"],
                      f"statements_{large}": results[large][name]["statements"],
                      f"kb_{small}": round(results[small][name]["bytes"] / 1024, 1),
                      f"kb_{large}": round(results[large][name]["bytes"] / 1024, 1)}
               for name in results[large]}
    # The whole exports grow with the session by nature (every candidate is a row): they
    # are streamed, their first piece counts as the page; their whole time is printed.
    whole = {"gestion_results_csv", "gestion_results_xlsx", "gestion_deposits_csv"}
    paged = [n for n in figures if n not in whole]
    worst = max(paged, key=lambda n: figures[n][f"ms_{large}"])
    steepest = max(paged, key=lambda n: figures[n]["growth"])
    steepest_cpu = max(paged, key=lambda n: figures[n]["growth_cpu"])
    print(json.dumps({
        "bench": "pages",
        "database": sa.make_url(os.environ.get("BENCH_DATABASE_URL")
                                or "sqlite://").get_backend_name(),
        "sizes": SIZES, "repeat": REPEAT, "load_s": loads,
        "interleaved": not os.environ.get("BENCH_DATABASE_URL"),
        f"max_ms_{large}": figures[worst][f"ms_{large}"], "worst_page": worst,
        "max_growth": figures[steepest]["growth"], "steepest_page": steepest,
        # The same ratio on the process's CPU time (the app and SQLite run in it): what
        # other programs on a shared machine move least. The target is on "max_growth".
        "max_growth_cpu": figures[steepest_cpu]["growth_cpu"], "steepest_page_cpu": steepest_cpu,
        f"whole_exports_ms_{large}": {n: figures[n][f"ms_{large}"] for n in whole if n in figures},
        "load_average": os.getloadavg()[0],
        "pages": figures,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
