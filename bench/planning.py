"""Benchmark: the planning solver (``exam_app/juries/solver.py``) on a generated académie.

Generates, in a temporary SQLite database (or BENCH_DATABASE_URL), an académie of
BENCH_CANDIDATES candidates (default 1,500) spread over BENCH_CENTRES centres (default
8) and 12 establishments: everyone sits E4 ponctuel, a third sits E5 ponctuel (the
others E5 in CCF, planned by their establishment), 5 % have a third of extra time. Each
centre has 8 preparation workstations and enough E4 and E5 commissions over BENCH_DAYS
days (default 3) with about 30 % slack; every commission's teacher teaches in one of
the establishments (conflicts of interest), and in each centre one teacher sits in an
E4 and an E5 commission (one juror, two commissions).

Runs ``propose_plan`` with BENCH_TIME_LIMIT seconds (default 58: the limit covers
reading the session and the greedy plan) and prints ONE JSON line: candidates, demands
(passages to plan), commissions, commission_days, solve_seconds (wall clock of
``propose_plan``), first_plan_seconds (until the first complete plan, the greedy one),
planned, status, days_used, days_lower_bound (``solver.lower_bounds``: per centre and
unit, with breaks and lunch), minutes_lower_bound (the issue's coarse bound: per centre,
jury minutes ÷ day length), gap (days used ÷ days_lower_bound − 1), solver_gap
(CP-SAT's relative gap on its whole objective, None when its parts fell back to the
greedy plan), load_spread_minutes (per centre and unit, the most minutes a commission
hears minus the fewest, over the commissions used; the largest), violations (the
independent checker; must be 0) and load_average (the machine is shared).

Then the repair (issue 15, "Repair on the morning"): the plan is applied, the busiest
commission-day is lost, ``propose_repair`` (BENCH_REPAIR_LIMIT seconds, default 20)
re-places its candidates and the repair is applied; the line adds repair_seconds,
lost_candidates (that commission-day's candidates), least_moves (``repair.least_moves``:
no repair can move fewer), moved, moved_ratio (moved ÷ least_moves; target ≤ 1.10),
minutes_moved, relaxed and repair_violations (the independent checker on the written
plan after the repair).

    .venv/bin/python bench/planning.py
    BENCH_CANDIDATES=300 BENCH_CENTRES=4 BENCH_TIME_LIMIT=30 .venv/bin/python bench/planning.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

TMP = tempfile.mkdtemp(prefix="bench-planning-")
os.environ.setdefault("INSTANCE_PATH", TMP)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exam_app import create_app  # noqa: E402
from exam_app.accounts.models import User  # noqa: E402
from exam_app.enrolment.models import (  # noqa: E402
    Candidate,
    Centre,
    CentreRoom,
    Establishment,
    ExamSession,
)
from exam_app.extensions import db  # noqa: E402
from exam_app.juries import repair, solver  # noqa: E402
from exam_app.juries.models import (  # noqa: E402
    Commission,
    CommissionDay,
    CommissionMember,
    MemberRole,
)

CANDIDATES = int(os.environ.get("BENCH_CANDIDATES", "1500"))
CENTRES = int(os.environ.get("BENCH_CENTRES", "8"))
TIME_LIMIT = float(os.environ.get("BENCH_TIME_LIMIT", "58"))
REPAIR_LIMIT = float(os.environ.get("BENCH_REPAIR_LIMIT", "20"))
DAYS = [date(2027, 5, 18) + timedelta(days=i)
        for i in range(int(os.environ.get("BENCH_DAYS", "3")))]
PER_DAY = {"E4": 8, "E5": 9}  # passages a commission hears in a day (8:00–18:30)


def build(app) -> ExamSession:
    with app.app_context():
        db.drop_all()
        db.create_all()
        session = ExamSession(code="BENCH", name="BTS SAM bench", year=2027)
        centres = [Centre(session=session, code=f"C{i}", name=f"Centre {i}")
                   for i in range(CENTRES)]
        for centre in centres:
            centre.rooms.append(CentreRoom(name="Salle info", capacity=20, workstations=8))
        schools = [Establishment(uai=f"{i:07d}A", name=f"Lycée {i}") for i in range(12)]
        db.session.add_all([session, *centres, *schools])
        db.session.flush()
        count = {(c.id, u): 0 for c in centres for u in ("E4", "E5")}
        for i in range(CANDIDATES):
            centre = centres[i % CENTRES]
            candidate = Candidate(session=session, number=f"02{i:09d}", last_name=f"NOM{i:05d}",
                                  first_name="Élève", birth_date=date(2005, 1, 1),
                                  establishment=schools[(i // CENTRES + i) % 12],
                                  centre=centre,
                                  extra_time="1/3" if i % 20 == 0 else None)
            form = "ponctuel" if i % 3 == 0 else "ccf"
            candidate.set_form("E5", form)
            count[(centre.id, "E4")] += 1
            count[(centre.id, "E5")] += form == "ponctuel"
            db.session.add(candidate)
        users = iter(range(1_000_000))

        def juror() -> User:
            n = next(users)
            user = User(username=f"juror{n}", first_name="Juré", last_name=f"N{n}",
                        password_hash="!", session_token=f"t{n}")  # noqa: S106 - no login
            db.session.add(user)
            return user

        for centre in centres:
            shared = juror()
            for unit in ("E4", "E5"):
                # Enough commission-days with about 30 % slack, over the days.
                needed = -(-count[(centre.id, unit)] * 13 // 10 // PER_DAY[unit])
                for k in range(max(1, -(-needed // len(DAYS)))):
                    teacher = shared if k == 0 else juror()
                    commission = Commission(session=session, unit_code=unit, form="ponctuel",
                                            code=f"{unit}-{centre.code}-{k}", centre=centre)
                    commission.members = [
                        CommissionMember(user=teacher, member_role=MemberRole.TEACHER.value,
                                         establishment=schools[(k * 5 + centre.id) % 12]),
                        CommissionMember(user=juror(),
                                         member_role=MemberRole.PROFESSIONAL.value)]
                    commission.days = [CommissionDay(day=d) for d in DAYS]
                    db.session.add(commission)
        db.session.commit()
        return session.id


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{TMP}/bench.db"
    app = create_app({"SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": url})
    session_id = build(app)
    with app.app_context():
        session = db.session.get(ExamSession, session_id)
        began, first = time.monotonic(), {}

        def progress(step: dict) -> None:
            # The first complete plan (the greedy one, then each better one).
            if step["planned"] == step["demands"] and "seconds" not in first:
                first["seconds"] = time.monotonic() - began

        proposal = solver.propose_plan(session=session, time_limit=TIME_LIMIT,
                                       progress=progress)
        solve_seconds = time.monotonic() - began
        commissions = db.session.query(Commission).count()
        data = solver.extract(session)
        loads = _loads(data, proposal)
        figures = {
            "candidates": CANDIDATES, "demands": proposal.demands, "commissions": commissions,
            "commission_days": len(data.cdays), "solve_seconds": round(solve_seconds, 1),
            "first_plan_seconds": round(first.get("seconds", solve_seconds), 1),
            "planned": len(proposal.passages), "status": proposal.status,
            "days_used": proposal.days_used, "days_lower_bound": proposal.days_lower_bound,
            "minutes_lower_bound": solver.minutes_lower_bound_days(data),
            "gap": round(proposal.days_used / max(1, proposal.days_lower_bound) - 1, 4),
            "solver_gap": None if proposal.gap is None else round(proposal.gap, 4),
            "load_spread_minutes": loads,
            "violations": len(proposal.violations), "reasons": proposal.reasons}
        if proposal.complete:
            figures.update(_repair(session, proposal))
        figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(figures))


def _loads(data, proposal) -> int:
    """The load spread: per centre and unit, the most minutes a commission hears
    minus the fewest (over the commissions used), the largest such difference."""
    from collections import defaultdict

    jury = {(d.candidate_id, d.unit_code): d.jury for d in data.demands}
    minutes = defaultdict(int)
    for p in proposal.passages:
        minutes[p.commission_id] += jury[(p.candidate_id, p.unit_code)]
    groups = defaultdict(list)
    for cid, total in minutes.items():
        info = data.commissions[cid]
        groups[(info.centre_id, info.unit_code)].append(total)
    return max((max(v) - min(v) for v in groups.values()), default=0)


def _repair(session: ExamSession, proposal) -> dict:
    """Apply the plan, lose its busiest commission-day, repair, apply, check."""
    from collections import Counter

    from exam_app.clock import local_zone

    solver.apply_plan(session=session, proposal=proposal, actor=None)
    db.session.commit()
    busiest = Counter((p.commission_id, p.scheduled_at.astimezone(local_zone()).date())
                      for p in proposal.passages)
    (commission_id, day), lost = busiest.most_common(1)[0]
    fix = repair.propose_repair(session=session,
                                lost=[repair.Lost(day, commission_id=commission_id)],
                                time_limit=REPAIR_LIMIT)
    if fix.complete:
        repair.apply_repair(session=session, repair=fix, actor=None)
        db.session.commit()
    data = solver.extract(session)
    for c in data.cdays:
        if (c.commission_id, c.day) == (commission_id, day):
            c.available = False  # the checker refuses any passage left on the lost day
    after = solver.check(data, repair.applied(data))
    return {"repair_seconds": round(fix.seconds, 1), "lost_candidates": lost,
            "least_moves": fix.least_moves,
            "moved": len(fix.moves),
            "moved_ratio": round(len(fix.moves) / max(1, fix.least_moves or lost), 3),
            "minutes_moved": fix.minutes_moved, "relaxed": fix.relaxed,
            "repair_complete": fix.complete, "repair_violations": len(after)}


if __name__ == "__main__":
    main()
