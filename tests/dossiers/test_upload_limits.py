"""Bounded resources and failures of the deposit (issue 12, item 5 and the 500
bullet): unfinished uploads capped per candidate and purged when another
upload starts, internship periods capped, names without bidirectional or
other formatting characters, and nothing of an upload that failed with a 500."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from exam_app.clock import utcnow
from exam_app.dossiers.deposit import clean_filename
from exam_app.dossiers.models import DossierFile, InternshipPeriod, Upload
from exam_app.dossiers.storage import LocalStorage
from exam_app.extensions import db
from tests.dossiers.helpers import make_pdf


def _uploads() -> list[str]:
    db.session.expire_all()
    return [u.original_name for u in db.session.scalars(sa.select(Upload).order_by(Upload.id))]


def _leftovers(app) -> list[str]:
    storage = Path(app.config["STORAGE_DIR"])
    return sorted(str(p.relative_to(storage)) for p in storage.rglob("*")
                  if p.is_file() and p.relative_to(storage).parts[0] != "objects")


# ---- a 500 keeps nothing -------------------------------------------------------------

def _fail_on_promote(monkeypatch):
    def broken(self, token, sha256):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LocalStorage, "promote", broken)
    monkeypatch.setitem(__import__("flask").current_app.config, "PROPAGATE_EXCEPTIONS", False)


@pytest.mark.parametrize("chunk", [None, 40_000])
def test_an_upload_failing_with_a_500_leaves_no_part_file_and_no_row(app, depositor,
                                                                    monkeypatch, chunk):
    data = make_pdf(1, marker="panne", padding=60_000)
    with app.test_request_context():
        _fail_on_promote(monkeypatch)
    response = depositor.upload("sommaire", data, name="panne.pdf", chunk=chunk)
    assert response.status_code == 500
    assert "Rien n'a été enregistré" in response.get_json()["message"]
    assert _uploads() == []
    assert _leftovers(app) == []
    assert db.session.scalars(sa.select(DossierFile)).all() == []


def test_the_form_fallback_failing_with_a_500_leaves_nothing(app, depositor, monkeypatch):
    import io

    with app.test_request_context():
        _fail_on_promote(monkeypatch)
    response = depositor.client.post(
        f"/candidat/{depositor.candidate.id}/dossiers/E4/fichiers",
        data={"csrf_token": depositor.token, "uE4-piece": "sommaire",
              "uE4-file": (io.BytesIO(make_pdf(1, marker="form-panne")), "panne.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 500
    assert _uploads() == []
    assert _leftovers(app) == []


# ---- unfinished uploads ---------------------------------------------------------------

def test_unfinished_uploads_are_capped_per_candidate_until_idle_ones_make_room(
        app, depositor, monkeypatch):
    monkeypatch.setitem(app.config, "DOSSIER_MAX_OPEN_UPLOADS", 3)
    urls = [depositor.create("attestations_stage", 5000, f"a{n}.pdf").get_json()["url"]
            for n in range(3)]
    refused = depositor.create("attestations_stage", 5000, "a3.pdf")
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "too_many_uploads"
    assert refused.get_json()["message"].startswith(
        "Vous avez déjà 3 envois de fichiers en cours, non terminés")
    assert _uploads() == ["a0.pdf", "a1.pdf", "a2.pdf"]
    # The first one was left in a closed tab 20 minutes ago: it makes room.
    first = db.session.scalar(sa.select(Upload).where(Upload.original_name == "a0.pdf"))
    first.updated_at = utcnow() - timedelta(minutes=20)
    db.session.commit()
    assert depositor.create("attestations_stage", 5000, "a3.pdf").status_code == 201
    assert _uploads() == ["a1.pdf", "a2.pdf", "a3.pdf"]
    assert depositor.client.get(urls[0]).status_code == 404


def test_starting_an_upload_purges_abandoned_ones_but_not_one_being_written(app, depositor):
    data = make_pdf(1, marker="abandon", padding=5000)
    old_url = depositor.create("sommaire", len(data), "vieux.pdf").get_json()["url"]
    depositor.patch(old_url, data[:1000], 0)
    busy_url = depositor.create("non_plagiat", len(data), "occupe.pdf").get_json()["url"]
    depositor.patch(busy_url, data[:1000], 0)
    for upload in db.session.scalars(sa.select(Upload)):
        upload.updated_at = utcnow() - timedelta(hours=25)
    db.session.commit()
    storage = LocalStorage(app.config["STORAGE_DIR"])
    busy_token = busy_url.rsplit("/", 1)[-1]
    with storage.claim(busy_token):  # a request is writing this one right now
        assert depositor.create("description_missions", 10, "neuf.pdf").status_code == 201
    assert _uploads() == ["occupe.pdf", "neuf.pdf"]
    assert depositor.client.get(old_url).status_code == 404
    assert not storage.temp_path(old_url.rsplit("/", 1)[-1]).exists()
    assert storage.temp_size(busy_token) == 1000


def test_cancel_while_a_chunk_is_being_written_is_refused(app, depositor):
    url = depositor.create("sommaire", 5000, "annule.pdf").get_json()["url"]
    storage = LocalStorage(app.config["STORAGE_DIR"])
    with storage.claim(url.rsplit("/", 1)[-1]):
        busy = depositor.client.delete(url, headers={"X-CSRFToken": depositor.token,
                                                     "Accept": "application/json"})
    assert (busy.status_code, busy.get_json()["error"]) == (409, "busy")
    done = depositor.client.delete(url, headers={"X-CSRFToken": depositor.token})
    assert done.status_code == 204
    assert _uploads() == []
    assert _leftovers(app) == []


# ---- internships ---------------------------------------------------------------------

def test_internship_periods_are_capped_per_candidate(app, depositor, monkeypatch):
    monkeypatch.setitem(app.config, "DOSSIER_MAX_INTERNSHIPS", 2)
    url = f"/candidat/{depositor.candidate.id}/stages"
    pages = [depositor.client.post(url, data={
        "csrf_token": depositor.token, "stage-organisation": f"Cabinet {n}",
        "stage-start_date": f"2027-0{n + 1}-04", "stage-end_date": f"2027-0{n + 1}-08"},
        follow_redirects=True).get_data(as_text=True) for n in range(3)]
    assert "Période de stage enregistrée." in pages[1]
    assert ("Vous avez déjà déclaré 2 périodes de stage, le maximum" in pages[2])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InternshipPeriod)) == 2


# ---- file names ----------------------------------------------------------------------

@pytest.mark.parametrize(("given", "kept"), [
    ("facture\u202efdp.exe", "facturefdp.exe"),  # RIGHT-TO-LEFT OVERRIDE: displayed "exe.pdf"
    ("rapport\u2066\u2069\u200b\u200e\u200f\u061c.pdf", "rapport.pdf"),  # isolates, ZW, marks
    ("\u202dstage\u202c\ufeff.pdf", "stage.pdf"),  # LRO/PDF, BOM
    ("ligne\u2028\u2029\x85\x7f.pdf", "ligne.pdf"),
    ("Résumé d'été — version 2.pdf", "Résumé d'été — version 2.pdf"),
    ("\u202e", "document.pdf"),
])
def test_file_names_lose_bidirectional_and_other_invisible_characters(given, kept):
    assert clean_filename(given) == kept


def test_an_uploaded_name_with_a_right_to_left_override_is_stored_without_it(depositor):
    data = make_pdf(1, marker="bidi")
    response = depositor.upload("sommaire", data, name="rapport\u202efdp.exe")
    # (Refused or not as a PDF, the name shown never carries the override.)
    assert response.status_code == 200
    assert response.get_json()["file"]["name"] == "rapportfdp.exe"
