"""Benchmark: every result of a 5,000-candidate session through the results module.

Builds a session (a temporary SQLite database, or BENCH_DATABASE_URL: its tables are
dropped and recreated, use a scratch database) where every candidate sits E4
(ponctuel) and E5 (CCF A and B for three in four, ponctuel otherwise) and E6, with
final marks, absences, pending situations, bénéfices and dispenses, dossiers past
their deadline (conforme, non conforme, missing: NV), then times
``exam_app.results.compute.session_results`` (all units, all candidates), best and
median of REPEAT runs, and counts its SQL statements. Prints ONE JSON line; never
fails on a timing.

Then the relevé de notes pack of one establishment (the first: 625 candidates at
5,000), built and rendered as the gestionnaire's download does it: in parts of
``releve.PART_SIZE`` candidates, one PDF each (``documents.releve.pack_html`` with
``part``: the part's candidates, their results through the results module, one signed
QR code and page each, ONE HTML; then ``render_pdf`` with the thread's shared fonts),
against raw WeasyPrint rendering the same part's HTML string in the same process with
one FontConfiguration of its own reused (fonts shared as the app does), the stylesheet
linked as a file (the same ``print.css``), the default fetcher. Each part is timed
paired with its raw twin, ABBA over the rounds (raw, pack, then pack, raw), so that a
drift of the machine's load falls on both. ``releve_overhead_ratio`` = the pack's
seconds per page (HTML built AND rendered) / raw's seconds per page (rendering only),
on the process's CPU time, every part; ``releve_part_ratios`` each part's.

    .venv/bin/python bench/results.py
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
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
from pypdf import PdfReader  # noqa: E402

from exam_app import create_app  # noqa: E402
from exam_app.clock import utcnow  # noqa: E402
from exam_app.documents import releve  # noqa: E402
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
from exam_app.printing.pdf import STATIC_DIR, render_pdf  # noqa: E402
from exam_app.results import compute  # noqa: E402

CANDIDATES = int(os.environ.get("BENCH_CANDIDATES", "5000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "7"))
PUBLIC_URL = "https://examens.ac-exemple.fr"
# 2: raw, pack, pack, raw; 0: the results alone (no relevé pack)
ROUNDS = int(os.environ.get("BENCH_RELEVE_ROUNDS", "2"))
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


def raw_html(html: str) -> str:
    """The same HTML with the stylesheet linked as the file itself (raw WeasyPrint has
    no app fetcher: a root-relative /static/ link would not load)."""
    css = (STATIC_DIR / "css" / "print.css").as_uri()
    out, count = re.subn(r'href="[^"]*/static/css/print\.css[^"]*"', f'href="{css}"', html)
    assert count == 1, "the relevé links print.css once"
    return out


def releve_pack(app, session_id: int) -> dict:
    """Time the relevé pack of the first establishment against raw WeasyPrint, part by
    part as the download serves it (``releve.PART_SIZE`` candidates a PDF), each part
    paired with raw on the same part's HTML, ABBA (a drift of the load falls on both)."""
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    raw_fonts = FontConfiguration()
    with app.test_request_context("/", base_url=PUBLIC_URL + "/"):
        session = db.session.get(ExamSession, session_id)
        establishment_id = releve.establishments(session)[0][0].id
        count = len(releve.establishment_candidates(session, establishment_id))
        part_numbers = [number for number, _, _ in releve.parts(count)]

        def pack(part: int) -> tuple[tuple[float, float], float, int, bytes]:
            """The download of one part: its HTML built (candidates, results, signatures,
            QR codes, template) and rendered (``releve.pack_pdf``'s two steps, timed apart)."""
            db.session.expire_all()
            start, cpu = time.perf_counter(), time.process_time()
            html, pages = releve.pack_html(session, establishment_id, part=part)
            built = time.process_time()
            pdf = render_pdf(html)
            return ((time.perf_counter() - start, time.process_time() - cpu), built - cpu,
                    pages, pdf)

        def raw(html: str) -> tuple[float, float]:
            start, cpu = time.perf_counter(), time.process_time()
            HTML(string=html).write_pdf(font_config=raw_fonts)
            return time.perf_counter() - start, time.process_time() - cpu

        # Warm-up: fonts loaded on both sides, WeasyPrint imported, templates compiled.
        few = releve.render_html(session, releve.pages(
            session, releve.establishment_candidates(session, establishment_id)[:3],
            now=utcnow()), now=utcnow())
        render_pdf(few)
        raw(raw_html(few))
        # The HTML raw renders: each part built by the app, once, outside the timings.
        raw_htmls = {part: raw_html(releve.pack_html(session, establishment_id, part=part)[0])
                     for part in part_numbers}
        # samples[side][part] = [(wall, cpu), ...]; A B, then B A: raw, pack, pack, raw
        samples = {"raw": {p: [] for p in part_numbers}, "pack": {p: [] for p in part_numbers}}
        build_samples, pages, pdf_pages, pdf_bytes = [], {}, 0, 0
        for round_ in range(ROUNDS):
            for part in part_numbers:
                order = ("raw", "pack") if (round_ + part) % 2 == 0 else ("pack", "raw")
                for side in order:
                    if side == "raw":
                        samples["raw"][part].append(raw(raw_htmls[part]))
                    else:
                        times, built, pages[part], pdf = pack(part)
                        samples["pack"][part].append(times)
                        build_samples.append(built)
                        if round_ == 0:
                            pdf_pages += len(PdfReader(io.BytesIO(pdf)).pages)
                            pdf_bytes += len(pdf)
        total_pages = sum(pages.values())

    def per_page(side: str, index: int) -> float:
        """Seconds a page: every part's mean over the rounds, summed, over the pages."""
        return sum(statistics.mean(s[index] for s in samples[side][p])
                   for p in part_numbers) / total_pages

    def part_ratios(index: int) -> list[float]:
        return [round(statistics.mean(s[index] for s in samples["pack"][p])
                      / statistics.mean(s[index] for s in samples["raw"][p]), 3)
                for p in part_numbers]

    return {
        "releve_pages": total_pages, "releve_pdf_pages": pdf_pages,
        "releve_parts": len(part_numbers), "releve_part_size": releve.PART_SIZE,
        "releve_pdf_mb": round(pdf_bytes / 1e6, 2),
        "releve_pack_cpu_seconds": round(sum(s[1] for v in samples["pack"].values()
                                             for s in v), 2),
        "releve_build_cpu_seconds": round(sum(build_samples), 2),
        "releve_raw_cpu_seconds": round(sum(s[1] for v in samples["raw"].values()
                                            for s in v), 2),
        "releve_ms_per_page": round(per_page("pack", 0) * 1000, 1),
        "raw_ms_per_page": round(per_page("raw", 0) * 1000, 1),
        "releve_build_ms_per_page": round(sum(build_samples) / ROUNDS / total_pages * 1000, 2),
        # Per page, pack (HTML built + rendered) over raw WeasyPrint (rendered): on the
        # process's CPU time, which other processes on the shared machine do not inflate
        # (both sides are one thread); the wall-clock ratio beside it; each part's own.
        "releve_overhead_ratio": round(per_page("pack", 1) / per_page("raw", 1), 3),
        "releve_overhead_ratio_wall": round(per_page("pack", 0) / per_page("raw", 0), 3),
        "releve_part_ratios": part_ratios(1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    app = create_app({"SECRET_KEY": "bench", "PUBLIC_URL": PUBLIC_URL,
                      "SQLALCHEMY_DATABASE_URI": os.environ.get(
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
        samples, cpu_samples = [], []
        for _ in range(REPEAT):
            db.session.expire_all()
            start, cpu = time.perf_counter(), time.process_time()
            compute.session_results(session_id)
            samples.append(time.perf_counter() - start)
            cpu_samples.append(time.process_time() - cpu)
    pack = releve_pack(app, session_id) if ROUNDS else {"releve_overhead_ratio": None}
    print(json.dumps({
        "bench": "results",
        "database": "postgresql" if os.environ.get("BENCH_DATABASE_URL") else "sqlite",
        "candidates": CANDIDATES, "units": 3, "results": len(results),
        "results_seconds": round(statistics.median(samples), 3),
        "results_seconds_best": round(min(samples), 3),
        # This process's CPU time (SQLite: the queries too): what a loaded machine does
        # not inflate.
        "results_cpu_seconds": round(statistics.median(cpu_samples), 3),
        "statements": count, "kinds": kinds,
        **pack,
        "load": round(os.getloadavg()[0], 2)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
