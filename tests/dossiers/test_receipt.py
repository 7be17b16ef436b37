"""The accusé de dépôt: its hashes are the stored files' and its QR code verifies it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.dossiers.conftest import pdf_text, squeeze
from tests.dossiers.helpers import make_pdf


def test_receipt_lists_every_file_with_the_stored_files_hashes(app, depositor):
    datas = [make_pdf(1, marker="r1"), make_pdf(2, marker="r2")]
    depositor.upload("sommaire", datas[0], name="Sommaire.pdf")
    depositor.upload("description_missions", datas[1], name="Missions.pdf")
    response = depositor.client.get(f"/dossiers/{depositor.candidate.id}/E4/accuse-de-depot.pdf")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    text = pdf_text(response.get_data())
    storage = Path(app.config["STORAGE_DIR"]) / "objects"
    stored = sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in storage.rglob("*")
                    if p.is_file())
    assert stored == sorted(hashlib.sha256(d).hexdigest() for d in datas)
    for sha in stored:
        assert sha in squeeze(text)
    assert "Sommaire.pdf" in squeeze(text)
    assert "Missions.pdf" in squeeze(text)
    assert depositor.candidate.number in text


@pytest.mark.skipif(not (shutil.which("pdftoppm") and shutil.which("zbarimg")),
                    reason="pdftoppm and zbarimg decode the QR code")
def test_receipt_qr_code_verifies_then_says_superseded_after_a_change(app, depositor, tmp_path):
    depositor.upload("sommaire", make_pdf(1, marker="qr"), name="qr.pdf")
    pdf = depositor.client.get(f"/dossiers/{depositor.candidate.id}/E4/accuse-de-depot.pdf")
    (tmp_path / "r.pdf").write_bytes(pdf.get_data())
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", str(tmp_path / "r.pdf"),
                    str(tmp_path / "p")], check=True)
    page = sorted(tmp_path.glob("p*.png"))[0]
    url = subprocess.run(["zbarimg", "--raw", "-q", str(page)], capture_output=True, text=True,
                         check=True).stdout.strip()
    path = url[url.index("/verifier/"):]
    assert "Document authentique et à jour." in depositor.client.get(path).get_data(as_text=True)
    depositor.upload("description_missions", make_pdf(1, marker="qr2"))
    assert "Document authentique mais remplacé" in depositor.client.get(path).get_data(as_text=True)
