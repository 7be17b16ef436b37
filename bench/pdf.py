"""Benchmark: bordereaux and fiches d'évaluation for N candidates (default 500).

In one run, on the same HTML:
  1. app: the app's code builds each document (queries, content hash, signed
     QR as one SVG path, template; the fiches through ``evaluation.build_many``
     as a print pack builds them, its batch queries counted) and renders it
     with ``render_pdf`` (the static-only url_fetcher), one process;
  2. raw: WeasyPrint renders the same HTML strings in one process of its own
     (a child started with ``spawn``; each document is sent to it right after
     the app rendered it, so both alternate and see the same machine load),
     default fetcher, and ONE font configuration shared by all its documents
     as the app shares one (``printing.pdf.font_config``; WeasyPrint's default,
     a new one per document, reloads the fonts each time and made the raw side
     slower than the app: issue 16 §3, compare like with like), the stylesheet
     link pointing to the same file on disk (``file://``; a root-relative
     ``/static/...`` link does not resolve against a ``file:`` base URL, and
     the raw rendering used to run without any stylesheet);
  3. pack: a print pack as the app makes one (``packs.write_pack``: the day's
     fiches and bordereaux of the centre), its HTML BUILT in the pack's time
     (queries, QR codes, templates), then rendered by 2 processes (chunks of
     documents into temporary files, merged into one output file).
     The raw process also renders each document a second time with Python's
     garbage collector paused, as the app renders (``printing.pdf.collector_paused``):
     that is the like-with-like baseline of the headline figures, so the
     collector's share of the gain is not counted as the app's;
overhead_ratio = app / raw with its collector paused (``overhead_ratio_vs_raw_gc_running``:
against the raw renderer with the collector on, as WeasyPrint runs by default);
parallel_speedup = pack pages/s / raw pages/s (collector paused; and
``parallel_speedup_vs_raw_gc_running``);
parent_peak_rss_mb = this process (the test data, step 1, then the pack's parent),
workers_peak_rss_mb = the largest peak RSS reported by the pack's workers,
peak_rss_mb = the larger of the two; raw_peak_rss_mb = the raw process (WeasyPrint's
default font configuration grows by about 0.25 MB a document), for comparison.
Prints ONE JSON line; never fails on a timing.

    .venv/bin/python bench/pdf.py            # BENCH_CANDIDATES=500 by default
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
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
TAGGED_EVERY = 5  # step 4 renders one document in 5 twice (untagged, tagged)
DAY_START = datetime(2027, 5, 12, 6, 0, tzinfo=UTC)


def build_world(db):
    from exam_app.accounts.models import User
    from exam_app.enrolment.models import Candidate, CandidateUnitForm, Centre, Establishment, ExamSession
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
                              establishment=school, centre=centre,
                              unit_forms=[CandidateUnitForm(unit_code="E5", form="ponctuel")])
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


def raw_renderer(connection) -> None:
    """The raw side, in its own process: render each HTML received twice, WeasyPrint as
    it comes and with the garbage collector paused; answer both times in seconds."""
    import gc

    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    from exam_app.printing.pdf import STATIC_DIR

    base = STATIC_DIR.parent.as_uri() + "/"
    fonts = FontConfiguration()  # one for all documents, as the app keeps one per thread

    def timed(html: str, paused: bool) -> float:
        if paused:
            gc.disable()
        start = time.perf_counter()
        HTML(string=html, base_url=base).write_pdf(font_config=fonts)
        seconds = time.perf_counter() - start
        gc.enable()
        return seconds

    count = 0
    while (html := connection.recv()) is not None:
        count += 1  # the two renderings alternate their order, document by document
        if count % 2:
            plain = timed(html, False)
            paused = timed(html, True)
        else:
            paused = timed(html, True)
            plain = timed(html, False)
        connection.send((plain, paused))
    connection.send(peak_rss_mb())


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def tagged_cost(htmls: list[str]) -> dict:
    """4. tagged: what PDF/UA-1 (the candidates' documents) costs per page: every
    ``TAGGED_EVERY``-th document rendered untagged then tagged, alternated (same load)."""
    from pypdf import PdfReader

    from exam_app.printing.pdf import render_pdf

    sample = htmls[::TAGGED_EVERY]
    plain_s = tagged_s = 0.0
    plain_bytes = tagged_bytes = pages = 0
    for html in sample:
        t = time.perf_counter()
        plain = render_pdf(html)
        middle = time.perf_counter()
        tagged = render_pdf(html, tagged=True)
        plain_s += middle - t
        tagged_s += time.perf_counter() - middle
        plain_bytes += len(plain)
        tagged_bytes += len(tagged)
        pages += len(PdfReader(io.BytesIO(plain)).pages)
    return {"tagged_documents": len(sample), "tagged_pages": pages,
            "untagged_ms_per_page": round(1000 * plain_s / pages, 1),
            "tagged_ms_per_page": round(1000 * tagged_s / pages, 1),
            "tagged_extra_ms_per_page": round(1000 * (tagged_s - plain_s) / pages, 1),
            "tagged_time_ratio": round(tagged_s / plain_s, 3),
            "tagged_kb_per_page": round(tagged_bytes / pages / 1024, 1),
            "untagged_kb_per_page": round(plain_bytes / pages / 1024, 1)}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-pdf-"))
    os.environ.setdefault("SECRET_KEY", "bench-secret")
    import multiprocessing

    from pypdf import PdfReader

    from exam_app import create_app
    from exam_app.documents import bordereau, evaluation, packs
    from exam_app.extensions import db
    from exam_app.printing.pdf import STATIC_DIR, render_pdf

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db",
                      "SECRET_KEY": "bench-secret", "STORAGE_DIR": str(tmp / "storage"),
                      "PUBLIC_URL": "https://examens.example"})
    raw_side, raw_end = multiprocessing.get_context("spawn").Pipe()
    raw_process = multiprocessing.get_context("spawn").Process(target=raw_renderer,
                                                               args=(raw_end,))
    raw_process.start()

    def raw_render(html: str) -> tuple[float, float]:
        raw_side.send(raw_html(html))
        return raw_side.recv()

    def raw_html(html: str) -> str:
        return html.replace('href="/static/', f'href="{STATIC_DIR.as_uri()}/')

    with app.app_context():
        db.create_all()
        commissions, passages = build_world(db)
        db.session.expire_all()
        with app.test_request_context("/"):
            # Warm-up (fonts, template compilation), not measured.
            warm = bordereau.build(commissions[0]).html
            render_pdf(warm)
            raw_render(warm)
            # App and raw alternate document by document, so both see the same machine load.
            htmls: list[str] = []
            pages = 0
            build_seconds = app_seconds = raw_seconds = raw_paused_seconds = 0.0
            builders = [lambda c=c: bordereau.build(c) for c in commissions]
            fiches = evaluation.build_many(passages)
            builders += [lambda: next(fiches)] * len(passages)
            for builder in builders:
                t = time.perf_counter()
                html = builder().html
                built = time.perf_counter()
                pdf = render_pdf(html)
                done = time.perf_counter()
                plain, paused = raw_render(html)
                raw_seconds += plain
                raw_paused_seconds += paused
                build_seconds += built - t
                app_seconds += done - t
                pages += len(PdfReader(io.BytesIO(pdf)).pages)
                htmls.append(html)
            del pdf
            raw_side.send(None)
            raw_rss = raw_side.recv()
            raw_process.join()

            # The pack as the app makes it: build every document's HTML (timed), render.
            db.session.expire_all()
            output = tmp / "pack.pdf"
            start = time.perf_counter()
            stats = packs.write_pack(commissions[0].centre, DAY_START.date(),
                                     ["fiche", "bordereau"], output, workers=2)
            pack_seconds = time.perf_counter() - start
    pack_pages = len(PdfReader(output).pages)
    assert pack_pages == stats.pages == pages, (pack_pages, stats.pages, pages)

    tagged = tagged_cost(htmls)

    raw_rate = pages / raw_seconds
    parent_rss = peak_rss_mb()
    workers_rss = round(stats.worker_peak_rss_mb, 1)
    print(json.dumps({
        "bench": "pdf", "candidates": CANDIDATES, "documents": len(htmls), "pages": pages,
        "seconds": round(app_seconds, 2), "raw_seconds": round(raw_seconds, 2),
        "overhead_ratio": round(app_seconds / raw_paused_seconds, 3),
        "raw_gc_paused_seconds": round(raw_paused_seconds, 2),
        "overhead_ratio_vs_raw_gc_running": round(app_seconds / raw_seconds, 3),
        "build_seconds": round(build_seconds, 2),
        "render_seconds": round(app_seconds - build_seconds, 2),
        "pages_per_s": round(pages / app_seconds, 2), "raw_pages_per_s": round(raw_rate, 2),
        "raw_gc_paused_pages_per_s": round(pages / raw_paused_seconds, 2),
        "pack_seconds": round(pack_seconds, 2), "pack_pages": pack_pages,
        "pack_pages_per_s": round(pack_pages / pack_seconds, 2),
        "parallel_speedup": round((pack_pages / pack_seconds) / (pages / raw_paused_seconds), 2),
        "parallel_speedup_vs_raw_gc_running": round((pack_pages / pack_seconds) / raw_rate, 2),
        "parent_peak_rss_mb": parent_rss, "workers_peak_rss_mb": workers_rss,
        "peak_rss_mb": max(parent_rss, workers_rss), "raw_peak_rss_mb": raw_rss,
        **tagged,
    }))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
