"""Benchmark: the candidates list page with 10,000 candidates, against a trivial page.

Prints one JSON line. Runs on a temporary SQLite database, or on
BENCH_DATABASE_URL (its tables are dropped and recreated: use a scratch database).
Never fails on a timing: the figures are for BENCHMARKS.md.

    .venv/bin/python bench/candidates_list.py
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

TMP = tempfile.mkdtemp(prefix="bench-candidates-")
os.environ.setdefault("INSTANCE_PATH", TMP)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from exam_app import create_app  # noqa: E402
from exam_app.accounts.models import Role, RoleAssignment, User  # noqa: E402
from exam_app.clock import utcnow  # noqa: E402
from exam_app.enrolment.models import (  # noqa: E402
    Candidate,
    CandidateUnitForm,
    Centre,
    Establishment,
    ExamSession,
)
from exam_app.extensions import db  # noqa: E402

CANDIDATES = int(os.environ.get("BENCH_CANDIDATES", "10000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "40"))
PASSWORD = "bench-password"  # noqa: S105 - a throwaway account in a temporary database


def build(app) -> None:
    with app.app_context():
        db.drop_all()
        db.create_all()
        session = ExamSession(code="BENCH", name="BTS SAM bench", year=2027)
        db.session.add(session)
        centres = [Centre(session=session, code=f"C{i}", name=f"Centre {i}") for i in range(3)]
        establishments = [Establishment(uai=f"{i:07d}A", name=f"Lycée {i}") for i in range(8)]
        db.session.add_all(centres + establishments)
        db.session.flush()
        now = utcnow()
        db.session.execute(sa.insert(Candidate), [
            {"session_id": session.id, "number": f"02{i:09d}", "last_name": f"NOM{i:05d}",
             "first_name": "Élève", "birth_date": date(2005, 1, 1),
             "establishment_id": establishments[i % 8].id, "centre_id": centres[i % 3].id,
             "search_text": f"NOM{i:05d} ELEVE 02{i:09d}", "created_at": now, "updated_at": now}
            for i in range(CANDIDATES)
        ])
        ids = db.session.execute(sa.select(Candidate.id, Candidate.number)
                                 .where(Candidate.session_id == session.id)).all()
        db.session.execute(sa.insert(CandidateUnitForm), [
            {"candidate_id": id_, "unit_code": "E5",
             "form": "ccf" if int(number[2:]) % 4 else "ponctuel"}
            for id_, number in ids
        ])
        user = User(username="bench", first_name="Bench", last_name="Gestion")
        user.set_password(PASSWORD)
        user.roles.append(RoleAssignment(role=Role.GESTIONNAIRE.value))
        db.session.add(user)
        db.session.commit()


def timed(client, url: str, expected: int = 200) -> list[float]:
    client.get(url)  # warm-up (template compilation, caches)
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == expected, (url, response.status_code)
    return samples


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2)}


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{TMP}/bench.db"
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url,
                      "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False})
    build(app)
    anonymous = app.test_client()
    client = app.test_client()
    page = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    login = client.post("/connexion", data={"username": "bench", "password": PASSWORD,
                                            "csrf_token": token})
    assert login.status_code == 302, login.status_code

    base = "/gestion/sessions/BENCH/candidats"
    results = {
        "list_page_1": summary(timed(client, base)),
        "list_page_100": summary(timed(client, f"{base}?page=100")),
        "list_search": summary(timed(client, f"{base}?q=nom0999")),
        "list_filtered": summary(timed(client, f"{base}?centre=2&forme=ponctuel&page=3")),
        "trivial_login_page": summary(timed(anonymous, "/connexion")),
    }
    trivial = results["trivial_login_page"]["p50_ms"]
    print(json.dumps({
        "bench": "candidates_list",
        "database": sa.make_url(url).get_backend_name(),
        "candidates": CANDIDATES,
        "repeat": REPEAT,
        **results,
        "list_page_1_vs_trivial_p50": round(results["list_page_1"]["p50_ms"] / trivial, 2),
    }))
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


if __name__ == "__main__":
    main()
