"""The PDFs a candidate receives are tagged (PDF/UA-1), in French, with a title (issue 17):
the convocation (one PDF per candidate in a ZIP pack) here, and the accusé de dépôt in
tests/dossiers/test_receipt.py."""

from __future__ import annotations

import io
import zipfile

from exam_app.documents import packs
from tests.documents.conftest import DAY
from tests.pdf_tags import tagging


def test_each_convocation_of_a_zip_pack_is_a_tagged_french_pdf_with_a_title(jury_day, app):
    with app.test_request_context("/"):
        data = packs.build_pack(jury_day["centre"], DAY, ["convocation", "emargement"],
                                fmt="zip", workers=1)
    archive = zipfile.ZipFile(io.BytesIO(data))
    convocations = [n for n in archive.namelist() if "convocation" in n]
    assert len(convocations) == 3
    session_name = jury_day["centre"].session.name
    for name in convocations:
        assert tagging(archive.read(name)) == {
            "marked": True, "struct_tree": True, "lang": "fr", "display_title": True,
            "title": f"Convocation E4 — {session_name}"}
    # The émargement is for the centre's printer: untagged, as before.
    sheet = next(n for n in archive.namelist() if "emargement" in n)
    assert tagging(archive.read(sheet))["marked"] is False
