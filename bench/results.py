"""Benchmark: every result of a 5,000-candidate session through the results module.

Builds a session (a temporary SQLite database, or BENCH_DATABASE_URL: its tables are
dropped and recreated, use a scratch database) where every candidate sits E4
(ponctuel) and E5 (CCF A and B for three in four, ponctuel otherwise) and E6, with
final marks, absences, pending situations, bénéfices and dispenses, dossiers past
their deadline (conforme, non conforme, missing: NV), then times
``exam_app.results.compute.session_results`` (all units, all candidates), best and
median of REPEAT runs, and counts its SQL statements. Prints ONE JSON line; never
fails on a timing.

The relevé de notes pack (``releve_overhead_ratio``) does not exist yet: printed as
null with a note.

    .venv/bin/python bench/results.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

TMP = tempfile.mkdtemp(prefix="bench-results-")
os.environ.setdefault("INSTANCE_PATH", TMP)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from exam_app import create_app  # noqa: E402
from exam_app.clock import utcnow  # noqa: E402
from exam_app.dossiers.models import Decision, Dossier  # noqa: E402
from exam_app.e6.models import E6Copy  # noqa: E402
from exam_app.enrolment.models import (  # noqa: E402
    Attendance,
    Candidate,
    Centre,
    DepositDeadline,
    Establishment,
    ExamSession,
    RegistrationKind,
    UnitRegistration,
)
from exam_app.extensions import db  # noqa: E402
from exam_app.juries.models import Commission, Passage  # noqa: E402
from exam_app.results import compute  # noqa: E402

CANDIDATES = int(os.environ.get("BENCH_CANDIDATES", "5000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "7"))
FINAL = datetime(2027, 5, 12, 10, 0, tzinfo=UTC)


def build(app) -> int:
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
            for i in range(CANDIDATES)])
        ids = [id_ for (id_,) in db.session.execute(
            sa.select(Candidate.id).where(Candidate.session_id == session.id)
            .order_by(Candidate.number))]
        commissions = {}
        for unit, form in (("E4", "ponctuel"), ("E5", "ponctuel"), ("E5", "ccf")):
            commission = Commission(session_id=session.id, unit_code=unit, form=form,
                                    code=f"{unit}-{form}")
            db.session.add(commission)
            commissions[(unit, form)] = commission
        db.session.flush()
        registrations, passages, copies, dossiers = [], [], [], []
        # Deposit deadlines passed: dossiers decided conforme for most, a few non conformes
        # and undecided ones without files (NV), so that NV is really computed.
        db.session.add_all([DepositDeadline(session_id=session.id, unit_code=unit,
                                            deadline_at=now - timedelta(days=30))
                            for unit in ("E4", "E5")])

        def passage(i, unit, form, variant, *, mark=None, absent=False, final=True):
            passages.append({
                "commission_id": commissions[(unit, form)].id, "candidate_id": ids[i],
                "unit_code": unit, "variant_code": variant,
                "attendance": Attendance.ABSENT if absent else Attendance.PRESENT,
                "final_mark": mark if final and not absent else None,
                "finalized_at": FINAL if final and not absent else None})

        for i, cid in enumerate(ids):
            mark = Decimal(8 + i % 12)
            for unit in ("E4", "E5"):
                if i % 70 != 11:  # else: no dossier at the deadline, NV
                    dossiers.append({"candidate_id": cid, "unit_code": unit,
                                     "decision": Decision.NON_COMPLIANT if i % 90 == 13
                                     else Decision.COMPLIANT, "decision_reasons": []})
            if i % 40 == 0:  # bénéfice for E4
                registrations.append({"candidate_id": cid, "unit_code": "E4",
                                      "kind": RegistrationKind.BENEFICE,
                                      "kept_mark": Decimal("14.5"), "kept_year": 2025})
            else:
                passage(i, "E4", "ponctuel", "ponctuel", mark=mark, absent=i % 50 == 1)
            if i % 4:
                registrations.append({"candidate_id": cid, "unit_code": "E5", "kind":
                                      RegistrationKind.SIT, "form": "ccf"})
                passage(i, "E5", "ccf", "ccf_a", absent=i % 60 == 3)
                passage(i, "E5", "ccf", "ccf_b", mark=mark, final=i % 30 != 5)
            else:
                registrations.append({"candidate_id": cid, "unit_code": "E5", "kind":
                                      RegistrationKind.SIT, "form": "ponctuel"})
                passage(i, "E5", "ponctuel", "ponctuel", mark=mark)
            if i % 45 == 7:
                registrations.append({"candidate_id": cid, "unit_code": "E6",
                                      "kind": RegistrationKind.DISPENSE, "reason": "VAE"})
            else:
                copies.append({"session_id": session.id, "candidate_id": cid,
                               "anonymous_number": f"A{i:06d}", "raw_total": mark,
                               "mark": mark + 1 if i % 3 else mark})
        db.session.execute(sa.insert(UnitRegistration), registrations)
        db.session.execute(sa.insert(Passage), passages)
        db.session.execute(sa.insert(E6Copy), copies)
        db.session.execute(sa.insert(Dossier), dossiers)
        db.session.commit()
        return session.id


def main() -> None:
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": os.environ.get(
        "BENCH_DATABASE_URL", f"sqlite:///{TMP}/bench.db")})
    session_id = build(app)
    with app.app_context():
        statements = []

        def count_statement(*args):
            statements.append(args[2])

        sa.event.listen(db.engine, "before_cursor_execute", count_statement)
        results = compute.session_results(session_id)
        sa.event.remove(db.engine, "before_cursor_execute", count_statement)
        count = len(statements)
        kinds: dict[str, int] = {}
        for result in results.values():
            kinds[result.kind.value] = kinds.get(result.kind.value, 0) + 1
        samples = []
        for _ in range(REPEAT):
            db.session.expire_all()
            start = time.perf_counter()
            compute.session_results(session_id)
            samples.append(time.perf_counter() - start)
    print(json.dumps({
        "bench": "results",
        "database": "postgresql" if os.environ.get("BENCH_DATABASE_URL") else "sqlite",
        "candidates": CANDIDATES, "units": 3, "results": len(results),
        "results_seconds": round(statistics.median(samples), 3),
        "results_seconds_best": round(min(samples), 3),
        "statements": count, "kinds": kinds,
        "releve_overhead_ratio": None,
        "note": "relevé de notes pack not built yet (issue 14 §4): no ratio",
        "load": round(os.getloadavg()[0], 2)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
