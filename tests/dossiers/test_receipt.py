"""The accusé de dépôt: its hashes are the stored files' and its QR code verifies it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.dossiers.conftest import pdf_text, squeeze
from tests.dossiers.helpers import make_pdf
from tests.pdf_tags import pdfinfo, tagging


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


def _receipt_from_host(depositor, host: str):
    client = depositor.client
    for name in ("session", "exam_app_device"):  # the browser's cookies, sent to that host
        client.set_cookie(name, client.get_cookie(name).value, domain=host)
    return client.get(f"/dossiers/{depositor.candidate.id}/E4/accuse-de-depot.pdf",
                      base_url=f"http://{host}")


def test_receipt_qr_link_never_follows_the_host_header(depositor):
    # The link is PUBLIC_URL's (https://examens.example in the tests), whatever the Host.
    depositor.upload("sommaire", make_pdf(1, marker="h"), name="h.pdf")
    response = _receipt_from_host(depositor, "evil.example")
    assert response.status_code == 200
    text = squeeze(pdf_text(response.get_data()))
    assert "https://examens.example/verifier/" in text
    assert "evil.example" not in text


def test_receipt_without_public_url_is_refused_not_pointed_at_the_host(app, depositor,
                                                                      monkeypatch):
    # Was: without PUBLIC_URL, "Host: evil.example" printed a QR code to http://evil.example/.
    import html

    depositor.upload("sommaire", make_pdf(1, marker="p"), name="p.pdf")
    monkeypatch.setitem(app.config, "PUBLIC_URL", "")
    response = _receipt_from_host(depositor, "evil.example")
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    page = html.unescape(response.get_data(as_text=True))
    assert ("Impossible de produire ce document signé : l'adresse publique du site "
            "(PUBLIC_URL) n'est pas configurée") in page


def test_receipt_is_a_tagged_french_pdf_with_a_title(depositor):
    depositor.upload("sommaire", make_pdf(1, marker="ua"), name="Sommaire.pdf")
    response = depositor.client.get(
        f"/dossiers/{depositor.candidate.id}/E4/accuse-de-depot.pdf")
    assert response.status_code == 200
    found = tagging(response.get_data())
    assert found["marked"] and found["struct_tree"] and found["display_title"]
    assert found["lang"] == "fr"
    assert found["title"].startswith("Accusé de dépôt")


@pytest.mark.skipif(not shutil.which("pdfinfo"), reason="pdfinfo (poppler-utils) is absent")
def test_pdfinfo_says_the_receipt_is_tagged(depositor, tmp_path):
    depositor.upload("sommaire", make_pdf(1, marker="ua2"), name="Sommaire.pdf")
    pdf = depositor.client.get(
        f"/dossiers/{depositor.candidate.id}/E4/accuse-de-depot.pdf").get_data()
    info = pdfinfo(pdf, tmp_path)
    assert info["Tagged"] == "yes"
    assert info["Title"].startswith("Accusé de dépôt")


def test_receipt_prints_each_hash_on_one_line_and_its_date_once(depositor, tmp_path):
    """Issue 17: each SHA-256 on one unbroken line; « Édité le » once (the running foot)."""
    data = make_pdf(1, marker="one-line")
    depositor.upload("sommaire", data, name="Sommaire.pdf")
    pdf = depositor.client.get(
        f"/dossiers/{depositor.candidate.id}/E4/accuse-de-depot.pdf").get_data()
    (tmp_path / "r.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    sha = hashlib.sha256(data).hexdigest()
    assert [line.split()[-1] for line in text.splitlines() if sha[:16] in line] == [sha]
    assert text.count("Édité le") == 1
