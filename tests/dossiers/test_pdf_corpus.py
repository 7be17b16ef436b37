"""Real candidates' PDFs must pass (issue 12): files from the producers candidates
use, made here at test time (never downloaded), each accepted with the right
page count and no finding, in one request and in chunks.

Producers: WeasyPrint, Chromium's print to PDF (Playwright, in a child process),
qpdf (linearized, object streams, encrypted with an owner password only),
Ghostscript, a pypdf incremental update (as signing tools append), Pillow's
image PDF (as scanners and img2pdf make), and a 12 MB scan sent in the
browser's 8 MiB chunks. A producer missing here skips its case with the reason.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from exam_app.dossiers.models import Dossier, DossierFile
from exam_app.extensions import db

CHROMIUM = "/usr/bin/chromium"
BROWSER_CHUNK = 8 * 1024 * 1024  # static/js/dossier-upload.js

HTML = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Dossier</title>
<style>section { page-break-after: always; } h1 { font-family: serif; }</style></head><body>
<section><h1>Sommaire</h1><p>Épreuve E4 — <a href="https://example.org/">lien</a></p></section>
<section><h1>Missions</h1><p>Une mission menée en entreprise, décrite en détail.</p></section>
<section><h1>Annexe</h1><p>Fin du document, accentuée : àéèùç.</p></section></body></html>"""


def _weasyprint() -> bytes:
    from weasyprint import HTML as Html

    return Html(string=HTML).write_pdf()


_CHROMIUM_SCRIPT = """
import sys
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=sys.argv[1], args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page()
    page.set_content(sys.stdin.read())
    sys.stdout.buffer.write(page.pdf(format="A4"))
    browser.close()
"""


def _chromium() -> bytes:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} absent : cas Chromium ignoré")
    try:
        done = subprocess.run([sys.executable, "-c", _CHROMIUM_SCRIPT, CHROMIUM], input=HTML.encode(),
                              capture_output=True, timeout=120, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"Chromium (Playwright) n'a pas produit de PDF : {exc}")
    return done.stdout


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} absent : cas {name} ignoré (apt-get install -y {name})")
    return path


def _qpdf(*args: str) -> bytes:
    def make(tmp: Path) -> bytes:
        source, out = tmp / "in.pdf", tmp / "out.pdf"
        source.write_bytes(_weasyprint())
        subprocess.run([_tool("qpdf"), *args, str(source), str(out)], check=True, timeout=60)
        return out.read_bytes()
    return make


def _qpdf_encrypted(bits: str, *extra: str):
    def make(tmp: Path) -> bytes:
        source, out = tmp / "in.pdf", tmp / "out.pdf"
        source.write_bytes(_weasyprint())
        # Empty user password: it opens without one; the owner password limits printing.
        subprocess.run([_tool("qpdf"), "--encrypt", "", "proprietaire", bits, *extra,
                        "--print=none", "--modify=none", "--", str(source), str(out)],
                       check=True, timeout=60)
        return out.read_bytes()
    return make


def _ghostscript(tmp: Path) -> bytes:
    source, out = tmp / "in.pdf", tmp / "out.pdf"
    source.write_bytes(_weasyprint())
    subprocess.run([_tool("gs"), "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite",
                    f"-sOutputFile={out}", str(source)], check=True, timeout=120)
    return out.read_bytes()


def _incremental(tmp: Path) -> bytes:
    from pypdf import PdfWriter
    from pypdf.annotations import FreeText

    original = _weasyprint()
    writer = PdfWriter(io.BytesIO(original), incremental=True)
    writer.add_annotation(0, FreeText(text="Signé le 2 décembre", rect=(50, 50, 250, 80)))
    writer.add_metadata({"/Subject": "attestation signée"})
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()
    assert data.startswith(original)  # an update appended to the original bytes
    return data


def _scan(pages: int, width: int, height: int, quality: int):
    def make(tmp: Path) -> bytes:
        from PIL import Image

        rng = random.Random(pages * width)
        images = [Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
                  for _ in range(pages)]
        out = io.BytesIO()
        images[0].save(out, "PDF", resolution=150, save_all=True, append_images=images[1:],
                       quality=quality)
        return out.getvalue()
    return make


PRODUCERS = {
    "weasyprint": (lambda tmp: _weasyprint(), 3),
    "chromium": (lambda tmp: _chromium(), 3),
    "qpdf_linearized": (_qpdf("--linearize"), 3),
    "qpdf_object_streams": (_qpdf("--object-streams=generate"), 3),
    "qpdf_owner_password_aes256": (_qpdf_encrypted("256"), 3),
    "qpdf_owner_password_aes128": (_qpdf_encrypted("128", "--use-aes=y"), 3),
    "ghostscript": (_ghostscript, 3),
    "pypdf_incremental_update": (_incremental, 3),
    "pillow_image_pdf": (_scan(2, 400, 560, 85), 2),
    "scan_12mb_in_browser_chunks": (_scan(1, 2550, 2550, 100), 1),
}


def _files(candidate_id: int) -> list[DossierFile]:
    return list(db.session.scalars(sa.select(DossierFile).join(Dossier).where(
        Dossier.candidate_id == candidate_id).order_by(DossierFile.id)))


@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_real_producers_pdfs_are_accepted_whole_and_chunked(tmp_path, depositor, producer):
    make, pages = PRODUCERS[producer]
    data = make(tmp_path)
    chunk = BROWSER_CHUNK if len(data) > BROWSER_CHUNK else len(data) // 3 + 1
    if producer.startswith("scan_12mb"):
        assert len(data) > 12_000_000
    whole = depositor.upload("sommaire", data, name=f"{producer}.pdf")
    assert whole.status_code == 200, whole.get_json()
    first = _files(depositor.candidate.id)[0]
    # The same bytes in chunks, replacing the first (a duplicate is refused otherwise).
    chunked = depositor.upload("sommaire", data, name=f"{producer}-morceaux.pdf", chunk=chunk,
                               replaces=first.id)
    assert chunked.status_code == 200, chunked.get_json()
    db.session.expire_all()
    found = [(f.original_name, f.pages, f.active_content, f.repairs)
             for f in _files(depositor.candidate.id)]
    assert found == [(f"{producer}-morceaux.pdf", pages, [], [])]
    assert whole.get_json()["file"]["pages"] == pages
