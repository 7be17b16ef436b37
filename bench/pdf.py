"""Benchmark: bordereaux and fiches d'évaluation for N candidates (default 500).

In one run, on the same HTML:
  1. app: the app's code builds each document (queries, content hash, signed
     QR as one SVG path, template) and renders it with ``render_pdf`` (the
     static-only url_fetcher), one process;
  2. raw: WeasyPrint renders the same HTML strings, one process, default
     fetcher (the stylesheet read from disk);
  3. pack: the print-pack renderer (``packs.render_all``) on the same HTML with
     PRINT_PACK_WORKERS=2 processes, plus the pypdf merge.
overhead_ratio = app / raw; parallel_speedup = pack pages/s / raw pages/s;
peak_rss_mb = the largest peak RSS of this process and of the pool's workers.
Prints ONE JSON line; never fails on a timing.

    .venv/bin/python bench/pdf.py            # BENCH_CANDIDATES=500 by default
"""

from __future__ import annotations

import io
import json
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CANDIDATES = int(os.environ.get("BENCH_CANDIDATES", 500))
PER_COMMISSION = 25
DAY_START = datetime(2027, 5, 12, 6, 0, tzinfo=UTC)


def build_world(db):
    from exam_app.accounts.models import User
    from exam_app.enrolment.models import Candidate, Centre, Establishment, ExamSession
    from exam_app.juries.models import AGREED, Commission, CommissionMember, Grid, GridField, Passage

    session = ExamSession(code="BENCH", name="BTS SAM session 2027", year=2027,
                          academie="Académie de Lyon")
    centre = Centre(session=session, code="C1", name="Lycée Ampère",
                    address="31 rue de la Bourse", postal_code="69002", city="Lyon")
    school = Establishment(uai="0690001A", name="Lycée du Parc")
    db.session.add_all([session, centre, school])
    commissions, passages = [], []
    for n in range(CANDIDATES):
        if n % PER_COMMISSION == 0:
            k = len(commissions)
            members = []
            for role in ("enseignant", "professionnel"):
                user = User(username=f"jury{k}{role}", first_name="Juré", last_name=f"{role}{k}",
                            password_hash="x",  # noqa: S106 - not a password
                            session_token=f"bench-{k}-{role}")
                members.append(CommissionMember(user=user, member_role=role))
            commission = Commission(session=session, unit_code="E4", form="ponctuel",
                                    code=f"E4-{k:03d}", centre=centre, members=members)
            commissions.append(commission)
            db.session.add(commission)
        candidate = Candidate(session=session, number=f"{n:011d}", last_name=f"NOM{n}",
                              first_name=f"Prénom{n}", birth_date=date(2005, 1, 1),
                              establishment=school, centre=centre, e5_form="ponctuel")
        absent = n % 20 == 7
        passage = Passage(commission=commission, candidate=candidate, unit_code="E4",
                          variant_code="ponctuel", room="B12", position=n,
                          scheduled_at=DAY_START + timedelta(minutes=n),
                          attendance="absent" if absent else "present",
                          final_mark=None if absent else Decimal(n % 41) / 2,
                          finalized_at=None if absent else DAY_START + timedelta(hours=10))
        grid = Grid(key=AGREED)
        grid.fields = [GridField(name="c:posture", value="S"),
                       GridField(name="appreciation", value="Prestation solide et claire.")]
        db.session.add_all([candidate, passage])
        passages.append((passage, grid))
    db.session.flush()
    for passage, grid in passages:
        grid.passage_id = passage.id
        db.session.add(grid)
    db.session.commit()
    return commissions, [p for p, _ in passages]


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-pdf-"))
    os.environ.setdefault("SECRET_KEY", "bench-secret")
    from pypdf import PdfReader
    from weasyprint import HTML

    from exam_app import create_app
    from exam_app.documents import bordereau, evaluation, packs
    from exam_app.documents.pdf import STATIC_DIR, render_pdf
    from exam_app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db",
                      "SECRET_KEY": "bench-secret", "STORAGE_DIR": str(tmp / "storage"),
                      "PUBLIC_URL": "https://examens.example"})
    with app.app_context():
        db.create_all()
        commissions, passages = build_world(db)
        with app.test_request_context("/"):
            # Warm-up (fonts, template compilation), not measured.
            render_pdf(bordereau.build(commissions[0]).html)
            # App and raw alternate document by document, so both see the same machine load.
            raw_base = STATIC_DIR.parent.as_uri() + "/"
            htmls, pdfs = [], []
            build_seconds = app_seconds = raw_seconds = 0.0
            jobs = [(bordereau.build, c) for c in commissions] + [
                (evaluation.build, p) for p in passages]
            for builder, subject in jobs:
                t = time.perf_counter()
                html = builder(subject).html
                built = time.perf_counter()
                pdfs.append(render_pdf(html))
                done = time.perf_counter()
                HTML(string=html, base_url=raw_base).write_pdf()
                raw_seconds += time.perf_counter() - done
                build_seconds += built - t
                app_seconds += done - t
                htmls.append(html)
    pages = sum(len(PdfReader(io.BytesIO(pdf)).pages) for pdf in pdfs)
    del pdfs

    start = time.perf_counter()
    merged = packs.merge(packs.render_all(htmls, workers=2))
    pack_seconds = time.perf_counter() - start
    pack_pages = len(PdfReader(io.BytesIO(merged)).pages)

    raw_rate = pages / raw_seconds
    print(json.dumps({
        "bench": "pdf", "candidates": CANDIDATES, "documents": len(htmls), "pages": pages,
        "seconds": round(app_seconds, 2), "raw_seconds": round(raw_seconds, 2),
        "overhead_ratio": round(app_seconds / raw_seconds, 3),
        "build_seconds": round(build_seconds, 2),
        "pages_per_s": round(pages / app_seconds, 2), "raw_pages_per_s": round(raw_rate, 2),
        "pack_seconds": round(pack_seconds, 2), "pack_pages": pack_pages,
        "pack_pages_per_s": round(pack_pages / pack_seconds, 2),
        "parallel_speedup": round((pack_pages / pack_seconds) / raw_rate, 2),
        "peak_rss_mb": peak_rss_mb(),
    }))


if __name__ == "__main__":
    main()
