import shutil
import subprocess

import pytest

from exam_app.printing import verification
from exam_app.printing.pdf import RefusedURL, StaticOnlyFetcher, render_pdf
from exam_app.printing.qr import qr_svg
from exam_app.printing.signing import make_token, read_token
from exam_app.printing.verification import Status, Verification

needs_poppler_zbar = pytest.mark.skipif(
    not (shutil.which("pdftoppm") and shutil.which("zbarimg")),
    reason="pdftoppm (poppler-utils) and zbarimg (zbar-tools) are needed to decode QR codes",
)


def test_fetcher_serves_static_files_only():
    fetcher = StaticOnlyFetcher()
    response = fetcher.fetch("https://exam-app.invalid/static/css/app.css")
    assert response.content_type == "text/css"
    assert b"--blue" in response.read()
    for url in ("file:///etc/passwd", "http://example.com/x.css",
                "https://exam-app.invalid/static/../../pyproject.toml",
                "https://exam-app.invalid/secret", "https://evil.example/static/css/app.css"):
        with pytest.raises((RefusedURL, ValueError)):
            fetcher.fetch(url)


def test_render_pdf_never_fetches_outside_static():
    fetcher = StaticOnlyFetcher()
    html = (
        '<html><head><link rel="stylesheet" href="/static/css/app.css"></head><body>'
        '<img src="file:///etc/passwd"><img src="http://127.0.0.1:9/x.png">'
        '<p>Bonjour</p></body></html>'
    )
    pdf = render_pdf(html, fetcher=fetcher)
    assert pdf.startswith(b"%PDF-")
    assert sorted(fetcher.refused) == ["file:///etc/passwd", "http://127.0.0.1:9/x.png"]


def test_token_round_trip_and_tampering():
    token = make_token(secret_key="k", kind="receipt", ids=[3, 7], content={"a": 1})
    payload = read_token(secret_key="k", token=token)
    assert payload.kind == "receipt"
    assert payload.ids == (3, 7)
    assert read_token(secret_key="other", token=token) is None
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert read_token(secret_key="k", token=tampered) is None
    assert read_token(secret_key="k", token="garbage") is None


@needs_poppler_zbar
def test_qr_in_a_rendered_pdf_decodes_to_its_data(tmp_path):
    data = "https://examens.example/verifier/abc.DEF-123"
    html = f'<html><body><div style="width:5cm">{qr_svg(data)}</div></body></html>'
    (tmp_path / "doc.pdf").write_bytes(render_pdf(html))
    subprocess.run(["pdftoppm", "-png", "-r", "150", str(tmp_path / "doc.pdf"),
                    str(tmp_path / "page")], check=True)
    page = sorted(tmp_path.glob("page*.png"))[0]
    decoded = subprocess.run(["zbarimg", "--raw", "-q", str(page)], capture_output=True,
                             text=True, check=True).stdout.strip()
    assert decoded == data


def test_verification_page_says_not_authentic_for_a_forged_token(client):
    response = client.get("/verifier/forged-token")
    assert response.status_code == 200
    assert "Document non authentique." in response.get_data(as_text=True)


def test_verification_page_uses_the_registered_check(client, app):
    verification.register("test-kind", lambda payload: Verification(
        Status.SUPERSEDED, "Bordereau", (("Commission", f"C{payload.ids[0]}"),)))
    token = make_token(secret_key=app.config["SECRET_KEY"], kind="test-kind", ids=[12],
                       content={})
    page = client.get(f"/verifier/{token}").get_data(as_text=True)
    assert "Document authentique mais remplacé" in page
    assert "C12" in page


def test_qr_svg_path_covers_exactly_the_dark_modules():
    import re

    import qrcode

    data = "https://examens.example/verifier/abc.def"
    code = qrcode.QRCode(border=2)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    drawn = set()
    for x, y, width in re.findall(r"M(\d+),(\d+)h(\d+)v1h-\3z", qr_svg(data)):
        drawn |= {(int(x) + i, int(y)) for i in range(int(width))}
    assert drawn == {(x, y) for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark}


def test_documents_rendered_into_one_file_keep_order_and_refuse_fetches(tmp_path, monkeypatch):
    from pypdf import PdfReader

    from exam_app.printing.pdf import render_pdfs_to_file

    refused = []
    fetch = StaticOnlyFetcher.fetch

    def spy(self, url, headers=None):
        try:
            return fetch(self, url, headers)
        except RefusedURL:
            refused.append(url)
            raise

    monkeypatch.setattr(StaticOnlyFetcher, "fetch", spy)
    htmls = [f'<p>Document {n}</p><img src="file:///etc/passwd">' for n in range(3)]
    path = tmp_path / "three.pdf"
    assert render_pdfs_to_file(htmls, path) == 3
    texts = [page.extract_text() for page in PdfReader(path).pages]
    assert texts == ["Document 0", "Document 1", "Document 2"]
    assert refused == ["file:///etc/passwd"] * 3


def test_every_printed_kind_has_its_check_registered_by_create_app(app):
    from exam_app.documents import attendance, bordereau, convocation, evaluation
    from exam_app.dossiers import receipts
    from exam_app.e6 import documents as e6_documents
    from exam_app.results import e6_bordereau

    expected = {receipts.KIND, e6_documents.COPY_KIND, e6_bordereau.BORDEREAU_KIND,
                e6_documents.SHEET_KIND, bordereau.KIND, evaluation.KIND, convocation.KIND,
                attendance.KIND}
    assert len(expected) == 8
    assert expected <= set(verification._CHECKS)
