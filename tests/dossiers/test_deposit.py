"""The deposit path over HTTP: raw resumable uploads, every check with a real bad file."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from exam_app.clock import utcnow
from exam_app.dossiers import deposit as deposit_services
from exam_app.dossiers.deadlines import session_deadline
from exam_app.dossiers.models import DepositDeadline, Dossier, DossierFile, Upload
from exam_app.extensions import db
from tests.dossiers.helpers import make_pdf


def _files(candidate_id: int) -> list[DossierFile]:
    return list(db.session.scalars(sa.select(DossierFile).join(Dossier).where(
        Dossier.candidate_id == candidate_id).order_by(DossierFile.id)))


def test_upload_raw_body_stores_file_under_its_hash(app, depositor):
    data = make_pdf(3, marker="sommaire")
    response = depositor.upload("sommaire", data, name="Sommaire.pdf")
    assert response.status_code == 200
    body = response.get_json()
    sha = hashlib.sha256(data).hexdigest()
    assert body["complete"] is True
    assert body["file"]["sha256"] == sha
    assert body["file"]["pages"] == 3
    [file] = _files(depositor.candidate.id)
    assert (file.piece_code, file.original_name, file.size, file.pages, file.sha256) == (
        "sommaire", "Sommaire.pdf", len(data), 3, sha)
    stored = Path(app.config["STORAGE_DIR"]) / "objects" / sha[:2] / sha
    assert stored.read_bytes() == data
    assert list((Path(app.config["STORAGE_DIR"]) / "tmp").glob("*.part")) == []
    assert db.session.scalar(sa.select(sa.func.count(Upload.id))) == 0


def test_upload_resumes_from_the_servers_offset_after_a_lost_connection(depositor):
    data = make_pdf(2, marker="resume", padding=300_000)
    created = depositor.create("sommaire", len(data), "gros.pdf")
    url = created.get_json()["url"]
    first = depositor.patch(url, data[:100_000], 0)
    assert first.get_json()["offset"] == 100_000
    # The connection drops mid-chunk: the body ends before its announced length.
    lost = depositor.client.patch(
        url, input_stream=io.BytesIO(data[100_000:150_000]),
        environ_overrides={"CONTENT_LENGTH": str(len(data) - 100_000)},
        headers={"X-CSRFToken": depositor.token, "Upload-Offset": "100000",
                 "Content-Type": "application/offset+octet-stream"})
    assert lost.status_code == 400
    status = depositor.client.get(url, headers={"Accept": "application/json"})
    assert status.get_json() == {"offset": 150_000, "size": len(data)}
    assert status.headers["Upload-Offset"] == "150000"
    wrong = depositor.patch(url, data[100_000:], 100_000)
    assert wrong.status_code == 409
    assert wrong.headers["Upload-Offset"] == "150000"
    done = depositor.patch(url, data[150_000:], 150_000)
    assert done.status_code == 200
    assert done.get_json()["file"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_upload_refuses_an_executable_renamed_pdf(app, depositor):
    data = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 4000 + b"%%EOF"
    response = depositor.upload("sommaire", data, name="setup.pdf")
    assert response.status_code == 422
    assert response.get_json()["message"].startswith("Ce fichier n'est pas un PDF")
    assert _files(depositor.candidate.id) == []
    assert list((Path(app.config["STORAGE_DIR"]) / "tmp").glob("*.part")) == []


def test_upload_refuses_an_empty_file(depositor):
    response = depositor.create("sommaire", 0, "vide.pdf")
    assert response.status_code == 422
    assert response.get_json()["message"] == "Le fichier est vide (0 octet)."


def test_upload_refuses_a_pdf_cut_in_half(depositor):
    data = make_pdf(4, marker="coupe")
    response = depositor.upload("sommaire", data[: len(data) // 2])
    assert response.status_code == 422
    assert "incomplet ou tronqué" in response.get_json()["message"]


def test_upload_refuses_an_encrypted_pdf(depositor):
    response = depositor.upload("sommaire", make_pdf(1, encrypt="secret"))
    assert response.status_code == 422
    assert "protégé par un mot de passe" in response.get_json()["message"]


def test_upload_refuses_a_file_over_the_size_limit_before_reading_it(app, depositor):
    app.config["DOSSIER_FILE_MAX_BYTES"] = 50_000
    try:
        response = depositor.create("sommaire", 50_400, "gros.pdf")
    finally:
        app.config["DOSSIER_FILE_MAX_BYTES"] = 20 * 1000 * 1000
    assert response.status_code == 413
    assert response.get_json()["message"] == (
        "Le fichier fait 50 Ko : la taille maximale est de 50 Ko par fichier. "
        "Réduisez-le (export PDF « taille réduite ») et recommencez.")


def test_upload_refuses_a_body_longer_than_announced(depositor):
    created = depositor.create("sommaire", 100, "petit.pdf")
    response = depositor.patch(created.get_json()["url"], b"x" * 101, 0)
    assert response.status_code == 413
    assert response.get_json()["message"] == "Ce morceau dépasse la taille annoncée du fichier."


def test_request_over_the_global_limit_gets_413_in_french(app, depositor):
    created = depositor.create("sommaire", 100, "petit.pdf")
    response = depositor.client.patch(
        created.get_json()["url"], input_stream=io.BytesIO(b""),
        environ_overrides={"CONTENT_LENGTH": str(app.config["MAX_CONTENT_LENGTH"] + 1)},
        headers={"X-CSRFToken": depositor.token, "Upload-Offset": "0", "Accept": "application/json",
                 "Content-Type": "application/offset+octet-stream"})
    assert response.status_code == 413
    assert response.get_json() == {
        "error": "too_large", "field": None, "details": [],
        "message": "Le fichier envoyé dépasse la taille autorisée. Rien n'a été enregistré."}


def test_upload_refuses_to_exceed_the_dossier_limit(app, depositor):
    first = make_pdf(1, marker="a", padding=20_000)
    assert depositor.upload("sommaire", first).status_code == 200
    app.config["DOSSIER_MAX_BYTES"] = len(first) + 1000
    try:
        response = depositor.create("description_missions", 2000, "b.pdf")
    finally:
        app.config["DOSSIER_MAX_BYTES"] = 60 * 1000 * 1000
    assert response.status_code == 413
    assert response.get_json()["message"].startswith("Le dossier dépasserait")


def test_upload_refuses_a_fiche_over_the_sessions_page_cap(depositor):
    response = depositor.upload("fiches_mission", make_pdf(3, marker="fiche"), name="fiche.pdf")
    assert response.status_code == 422
    assert response.get_json()["message"] == (
        "« fiche.pdf » compte 3 pages : la pièce « Fiches descriptives de mission » est "
        "limitée à 2 page(s) par fichier.")
    assert depositor.upload("fiches_mission", make_pdf(2, marker="fiche2")).status_code == 200


def test_upload_refuses_a_duplicate_of_a_file_in_the_dossier(depositor):
    data = make_pdf(1, marker="double")
    assert depositor.upload("sommaire", data, name="a.pdf").status_code == 200
    response = depositor.upload("description_missions", data, name="b.pdf")
    assert response.status_code == 409
    assert response.get_json()["message"] == (
        "Ce fichier est identique à « a.pdf », déjà déposé dans le dossier : il n'a pas été ajouté.")
    assert [f.original_name for f in _files(depositor.candidate.id)] == ["a.pdf"]


def test_upload_keeps_only_the_base_name_and_accents(app, depositor):
    data = make_pdf(1, marker="nom")
    response = depositor.upload("sommaire", data, name="../../../etc/Résumé d'été\x07.pdf")
    assert response.status_code == 200
    [file] = _files(depositor.candidate.id)
    assert file.original_name == "Résumé d'été.pdf"
    storage = Path(app.config["STORAGE_DIR"])
    assert sorted(p.name for p in storage.rglob("*") if p.is_file()) == [file.sha256]


def test_two_uploads_of_the_same_piece_at_once_keep_one(depositor):
    a, b = make_pdf(1, marker="un", padding=2000), make_pdf(1, marker="deux", padding=2000)
    first = depositor.create("sommaire", len(a), "un.pdf").get_json()["url"]
    second = depositor.create("sommaire", len(b), "deux.pdf").get_json()["url"]
    assert depositor.patch(first, a[:500], 0).status_code == 200
    assert depositor.patch(second, b[:500], 0).status_code == 200
    assert depositor.patch(second, b[500:], 500).status_code == 200
    late = depositor.patch(first, a[500:], 500)
    assert late.status_code == 409
    assert late.get_json()["error"] == "piece_full"
    assert [f.original_name for f in _files(depositor.candidate.id)] == ["deux.pdf"]


def test_upload_finishing_one_second_after_the_deadline_is_refused(monkeypatch, depositor):
    kept = make_pdf(1, marker="garde")
    assert depositor.upload("sommaire", kept, name="garde.pdf").status_code == 200
    data = make_pdf(1, marker="tard")
    url = depositor.create("description_missions", len(data), "tard.pdf").get_json()["url"]
    assert depositor.patch(url, data[:300], 0).status_code == 200
    deadline = session_deadline(session_id=depositor.session.id, unit_code="E4")
    monkeypatch.setattr(deposit_services, "utcnow", lambda: deadline + timedelta(seconds=1))
    response = depositor.patch(url, data[300:], 300)
    assert response.status_code == 409
    assert response.get_json()["error"] == "late"
    assert "Le délai de dépôt est dépassé" in response.get_json()["message"]
    assert [(f.original_name, f.sha256) for f in _files(depositor.candidate.id)] == [
        ("garde.pdf", hashlib.sha256(kept).hexdigest())]
    removed = depositor.client.post(f"/candidat/fichiers/{_files(depositor.candidate.id)[0].id}/supprimer",
                                    data={"csrf_token": depositor.token})
    assert removed.status_code == 302
    assert len(_files(depositor.candidate.id)) == 1


def test_replacing_a_file_swaps_it(depositor):
    depositor.upload("sommaire", make_pdf(1, marker="v1"), name="v1.pdf")
    old = _files(depositor.candidate.id)[0]
    response = depositor.upload("sommaire", make_pdf(1, marker="v2"), name="v2.pdf",
                                replaces=old.id)
    assert response.status_code == 200
    assert [f.original_name for f in _files(depositor.candidate.id)] == ["v2.pdf"]


def test_multipart_fallback_deposits_a_file(depositor):
    data = make_pdf(1, marker="multipart")
    response = depositor.client.post(
        f"/candidat/{depositor.candidate.id}/dossiers/E4/fichiers",
        data={"csrf_token": depositor.token, "uE4-piece": "sommaire",
              "uE4-file": (io.BytesIO(data), "Sommaire sans JS.pdf")},
        content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    assert "« Sommaire sans JS.pdf » est déposé (1 page(s))." in response.get_data(as_text=True)
    assert [f.sha256 for f in _files(depositor.candidate.id)] == [hashlib.sha256(data).hexdigest()]


def test_remove_file_before_the_deadline(depositor):
    depositor.upload("sommaire", make_pdf(1, marker="retire"), name="retire.pdf")
    file = _files(depositor.candidate.id)[0]
    response = depositor.client.post(f"/candidat/fichiers/{file.id}/supprimer",
                                     data={"csrf_token": depositor.token}, follow_redirects=True)
    assert "« retire.pdf » est retiré du dossier." in response.get_data(as_text=True)
    assert _files(depositor.candidate.id) == []


def test_candidate_home_shows_pieces_deadline_and_state(depositor):
    depositor.upload("sommaire", make_pdf(1, marker="home"), name="home.pdf")
    page = depositor.client.get("/candidat/").get_data(as_text=True)
    assert "Dossier E4 — Optimisation des processus administratifs" in page
    assert "Fiches descriptives de mission" in page
    assert "Compte rendu de veille informationnelle" in page
    assert "home.pdf" in page
    assert "il reste 9 j" in page or "il reste 10 j" in page


def test_purge_command_forgets_abandoned_uploads_only(app, depositor):
    data = make_pdf(1, marker="abandon", padding=5000)
    old_url = depositor.create("sommaire", len(data), "vieux.pdf").get_json()["url"]
    depositor.patch(old_url, data[:1000], 0)
    fresh_url = depositor.create("description_missions", len(data), "neuf.pdf").get_json()["url"]
    old = db.session.scalar(sa.select(Upload).where(Upload.original_name == "vieux.pdf"))
    old.updated_at = utcnow() - timedelta(days=3)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["dossiers", "purge-uploads"])
    assert result.output == "1 envoi(s) abandonné(s) supprimé(s).\n"
    db.session.expire_all()
    assert [u.original_name for u in db.session.scalars(sa.select(Upload))] == ["neuf.pdf"]
    assert depositor.client.get(old_url).status_code == 404
    assert depositor.client.get(fresh_url).status_code == 200


def test_after_the_deadline_the_page_is_read_only_and_the_fallback_refuses(depositor):
    depositor.upload("sommaire", make_pdf(1, marker="avant"), name="avant.pdf")
    deadline = db.session.scalar(sa.select(DepositDeadline).where(
        DepositDeadline.session_id == depositor.session.id,
        DepositDeadline.unit_code == "E4"))
    deadline.deadline_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    page = depositor.client.get("/candidat/").get_data(as_text=True)
    e4 = page[page.index('id="dossier-E4"'):page.index('id="dossier-E5"')]
    assert "Le délai de dépôt est dépassé : le dossier est en lecture seule." in e4
    assert "Supprimer" not in e4
    assert "data-drop" not in e4
    response = depositor.client.post(
        f"/candidat/{depositor.candidate.id}/dossiers/E4/fichiers",
        data={"csrf_token": depositor.token, "uE4-piece": "description_missions",
              "uE4-file": (io.BytesIO(make_pdf(1, marker="apres")), "apres.pdf")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "Le délai de dépôt est dépassé" in response.get_data(as_text=True)
    assert [f.original_name for f in _files(depositor.candidate.id)] == ["avant.pdf"]


def test_refusals_are_service_errors_in_the_one_json_shape(depositor):
    from exam_app.dossiers.common import DepositError
    from exam_app.errors import ServiceError

    assert issubclass(DepositError, ServiceError)
    data = make_pdf(1, marker="forme")
    url = depositor.create("sommaire", len(data), "forme.pdf").get_json()["url"]
    assert depositor.patch(url, data[:200], 0).status_code == 200
    wrong = depositor.patch(url, data[100:], 100)
    # The upload script resumes on error == "offset" from the Upload-Offset header.
    assert (wrong.status_code, wrong.headers["Upload-Offset"]) == (409, "200")
    assert wrong.get_json() == {
        "error": "offset", "field": None, "details": [],
        "message": "Décalage incorrect : le serveur détient 200 octets, reprise à partir de là."}
    no_json = depositor.client.post(f"/candidat/{depositor.candidate.id}/dossiers/E4/envois",
                                    data="x", headers={"X-CSRFToken": depositor.token})
    assert no_json.status_code == 400
    assert no_json.get_json() == {
        "error": "bad_request", "field": None, "details": [],
        "message": "Requête invalide : JSON attendu (pièce, nom, taille)."}


def test_a_file_sent_in_chunks_is_not_read_again_when_this_process_received_it_all(
        app, monkeypatch, depositor):
    # The browser's chunks (issue 16 §3): the hash and the "xref" offsets computed while
    # receiving go on from chunk to chunk (storage.Received), so the finalisation neither
    # hashes nor searches the file again; without them (each chunk served by another
    # worker) it does, and the deposit is the same.
    from exam_app.dossiers import pdfcheck, storage, storage_fast

    reads = []
    hash_temp, find_all = storage.LocalStorage.hash_temp, pdfcheck._find_all
    monkeypatch.setattr(storage.LocalStorage, "hash_temp",
                        lambda self, token: reads.append("hash") or hash_temp(self, token))
    monkeypatch.setattr(pdfcheck, "_find_all",
                        lambda data, needle: reads.append("scan") or find_all(data, needle))
    kept = make_pdf(3, marker="reçu ici", padding=400_000)
    lost = make_pdf(3, marker="reçu ailleurs", padding=400_000)
    first = depositor.upload("sommaire", kept, chunk=150_000)
    assert first.status_code == 200, first.get_json()
    assert reads == []
    for module in (storage, storage_fast):
        monkeypatch.setattr(module, "_keep_received", lambda *args: None)
    second = depositor.upload("non_plagiat", lost, chunk=150_000)
    assert second.status_code == 200, second.get_json()
    assert reads == ["scan", "hash"]
    assert [(f.sha256, f.pages, f.active_content, f.repairs)
            for f in _files(depositor.candidate.id)] == [
        (hashlib.sha256(kept).hexdigest(), 3, [], []),
        (hashlib.sha256(lost).hexdigest(), 3, [], [])]
    for data in (kept, lost):
        sha = hashlib.sha256(data).hexdigest()
        assert (Path(app.config["STORAGE_DIR"]) / "objects" / sha[:2] / sha).read_bytes() == data
