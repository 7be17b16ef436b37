import io
import time
from datetime import UTC, date, datetime

from pypdf import PdfReader

from exam_app.accounts.models import Role
from exam_app.cli import print_pack_command
from exam_app.documents import packs
from exam_app.documents.models import PackState, PrintPack
from exam_app.extensions import db as _db
from tests.conftest import csrf_token_from
from tests.documents.conftest import DAY, finalize, pdf_text

ALL = ["convocation", "emargement", "fiche", "bordereau"]


def _pages(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def test_pack_documents_come_in_print_order(jury_day, app):
    with app.test_request_context("/"):
        printed = packs.pack_documents(jury_day["centre"], DAY, ALL)
    assert [p.kind for p in printed] == ["convocation"] * 3 + ["emargement"] + ["fiche"] * 3 + [
        "bordereau"]


def test_build_pack_in_two_processes_merges_every_page(jury_day, app):
    finalize(jury_day["passages"][0], "14,5")
    with app.test_request_context("/"):
        pdf = packs.build_pack(jury_day["centre"], DAY, ALL, workers=2)
    text = pdf_text(pdf)
    assert _pages(pdf) == 8
    assert text.count("Convocation — épreuve E4") == 3
    assert "14,5" in text and "ABS" in text and "NV" in text


def test_build_pack_zip_has_one_pdf_per_document(jury_day, app):
    import zipfile

    with app.test_request_context("/"):
        data = packs.build_pack(jury_day["centre"], DAY, ["convocation"], fmt="zip", workers=1)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names == [f"00{n}-convocation-E4-{c.number}.pdf" for n, c in
                     enumerate((jury_day["marked"], jury_day["absent"], jury_day["nv"]), 1)]


def test_request_pack_twice_shares_one_job(jury_day):
    centre, actor = jury_day["centre"], jury_day["gestionnaire"]
    first, run_first = packs.request_pack(centre=centre, day=DAY, kinds=["fiche", "convocation"],
                                          fmt="pdf", actor=actor)
    second, run_second = packs.request_pack(centre=centre, day=DAY,
                                            kinds=["convocation", "fiche"], fmt="pdf",
                                            actor=actor)
    assert (first.id, run_first, run_second) == (second.id, True, False)
    assert first.kinds == "convocation,fiche"
    assert _db.session.query(PrintPack).count() == 1


def test_request_pack_refuses_unknown_kinds(jury_day):
    import pytest

    with pytest.raises(packs.PackError):
        packs.request_pack(centre=jury_day["centre"], day=DAY, kinds=["convocation", "x"],
                           fmt="pdf", actor=jury_day["gestionnaire"])


def _post_pack(client, centre_id, day="2027-05-12", kinds=("convocation", "bordereau")):
    page = client.get(f"/centres/{centre_id}/impressions").get_data(as_text=True)
    return client.post(f"/centres/{centre_id}/impressions",
                       data={"csrf_token": csrf_token_from(page), "day": day,
                             "kinds": list(kinds), "fmt": "pdf"})


def test_pack_page_runs_inline_then_downloads_and_does_not_rerun(
        jury_day, client, login_as, create_user, app, monkeypatch):
    monkeypatch.setitem(app.config, "PRINT_PACK_INLINE", True)
    monkeypatch.setitem(app.config, "PRINT_PACK_WORKERS", 1)
    centre = jury_day["centre"]
    login_as(create_user(Role.CHEF_CENTRE, centre=centre))
    response = _post_pack(client, centre.id)
    assert response.status_code == 302
    pack_id = int(response.headers["Location"].rstrip("/").split("/")[-1])
    state = client.get(f"/impressions/{pack_id}/etat").get_json()
    assert (state["state"], state["done"], state["total"], state["percent"]) == (
        "done", 4, 4, 100)
    download = client.get(state["download_url"])
    data = download.data
    download.close()
    assert download.mimetype == "application/pdf"
    assert _pages(data) == 4
    finished = _db.session.get(PrintPack, pack_id).finished_at

    again = _post_pack(client, centre.id, kinds=("bordereau", "convocation"))
    assert again.headers["Location"].endswith(f"/impressions/{pack_id}")
    page = client.get(f"/impressions/{pack_id}").get_data(as_text=True)
    assert "Ce lot est à jour : généré le " in page
    assert "rien n&#39;a changé depuis. Téléchargez-le ci-dessous." in page
    assert _db.session.get(PrintPack, pack_id).finished_at == finished

    # Issue 17: asked again after the data changed, the pack is generated again.
    from exam_app.audit.services import record

    record(actor=None, action="mark.change", object_type="passage",
           object_id=jury_day["passages"][0].id, session_id=centre.session_id)
    _db.session.commit()
    third = _post_pack(client, centre.id, kinds=("bordereau", "convocation"))
    assert third.headers["Location"].endswith(f"/impressions/{pack_id}")
    page = client.get(f"/impressions/{pack_id}").get_data(as_text=True)
    assert ("Les données ont changé depuis la dernière génération : le lot est régénéré."
            in page)
    _db.session.expire_all()
    assert _db.session.get(PrintPack, pack_id).finished_at > finished


def test_pack_of_an_empty_day_is_refused_on_the_form(jury_day, client, login_as, app,
                                                      monkeypatch):
    """Issue 17: a day without passages is a form error; no job is created."""
    monkeypatch.setitem(app.config, "PRINT_PACK_INLINE", True)
    login_as(jury_day["gestionnaire"])
    response = _post_pack(client, jury_day["centre"].id, day="2027-05-13")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    code = jury_day["centre"].code
    assert (f"Aucun passage n&#39;est planifié au centre {code} le 13/05/2027 : il n&#39;y a "
            "rien à imprimer ce jour-là. Choisissez un jour d&#39;épreuves.") in html
    assert "Génération lancée" not in html
    assert _db.session.query(PrintPack).count() == 0


def test_a_pack_job_of_an_empty_day_still_fails_with_a_clear_message(jury_day, app):
    """The job itself still refuses an empty day (the passages moved after the request)."""
    with app.test_request_context("/"), __import__("pytest").raises(packs.PackError) as caught:
        packs.build_pack(jury_day["centre"], date(2027, 5, 13), ["convocation"], workers=1)
    assert str(caught.value) == ("Aucun document à imprimer pour ce centre ce jour-là "
                                 "(aucun passage planifié).")


def test_pack_runs_in_a_background_thread(jury_day, client, login_as, app, monkeypatch):
    monkeypatch.setitem(app.config, "PRINT_PACK_INLINE", False)
    login_as(jury_day["gestionnaire"])
    response = _post_pack(client, jury_day["centre"].id, kinds=("emargement",))
    url = response.headers["Location"] + "/etat"
    deadline = time.monotonic() + 60
    state = client.get(url).get_json()
    while state["state"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        state = client.get(url).get_json()
    assert (state["state"], state["total"]) == ("done", 1)
    download = client.get(state["download_url"])
    data = download.data
    download.close()
    assert _pages(data) == 1


def test_chef_of_another_centre_cannot_see_the_pack(
        jury_day, client, login_as, create_user, create_centre):
    job, _ = packs.request_pack(centre=jury_day["centre"], day=DAY, kinds=["fiche"], fmt="pdf",
                                actor=jury_day["gestionnaire"])
    other = create_centre(jury_day["session"])
    login_as(create_user(Role.CHEF_CENTRE, centre=other))
    assert client.get(f"/impressions/{job.id}").status_code == 403
    assert client.get(f"/impressions/{job.id}/etat").status_code == 403
    assert client.get(f"/centres/{jury_day['centre'].id}/impressions").status_code == 403


def test_print_pack_cli_writes_the_pdf(jury_day, app, tmp_path):
    _db.session.commit()
    output = tmp_path / "pack.pdf"
    result = app.test_cli_runner().invoke(print_pack_command, [
        "--centre", jury_day["centre"].code, "--date", "2027-05-12", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert _pages(output.read_bytes()) == 8
    assert "NGUYEN" in pdf_text(output.read_bytes())


def test_print_pack_cli_unknown_centre(app, db, tmp_path):
    result = app.test_cli_runner().invoke(print_pack_command, [
        "--centre", "NOPE", "--date", "2027-05-12", "--output", str(tmp_path / "x.pdf")])
    assert result.exit_code == 1
    assert "Centre « NOPE » inconnu." in result.output


def test_pack_state_labels_are_french():
    assert PackState.DONE.label == "Terminé"
    assert date(2027, 5, 12) == DAY


def test_pack_merged_from_chunk_files_has_every_page_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(packs, "CHUNK_MAX", 2)
    htmls = [f"<p>Page {n:02d}</p>" for n in range(7)]
    progress = []
    output = tmp_path / "pack.pdf"
    stats = packs.render_to_file(htmls, output, workers=2, on_done=progress.append)
    reader = PdfReader(output)
    assert [page.extract_text() for page in reader.pages] == [f"Page {n:02d}" for n in range(7)]
    assert (stats.documents, stats.pages) == (7, 7)
    assert progress == sorted(progress) and progress[-1] == 7 and len(progress) > 1
    assert stats.worker_peak_rss_mb > 0
    assert list(tmp_path.iterdir()) == [output]  # the chunk files are gone


def test_chunks_cover_every_document_once_smaller_at_the_end():
    parts = packs.chunks(100, 2)
    assert [i for part in parts for i in part] == list(range(100))
    assert max(len(p) for p in parts) == packs.CHUNK_MAX
    assert len(parts[-1]) == 1
    assert packs.chunks(0, 2) == []


def test_run_moves_progress_to_the_total(jury_day, app, monkeypatch):
    monkeypatch.setitem(app.config, "PRINT_PACK_WORKERS", 2)
    seen = []
    real = packs.render_to_file

    def spy(htmls, output, *, workers, on_done=None):
        def record(count):
            seen.append(count)
            on_done(count)
        return real(htmls, output, workers=workers, on_done=record)

    monkeypatch.setattr(packs, "render_to_file", spy)
    monkeypatch.setattr(packs, "CHUNK_MAX", 1)
    job, _ = packs.request_pack(centre=jury_day["centre"], day=DAY, kinds=ALL, fmt="pdf",
                                actor=jury_day["gestionnaire"])
    _db.session.commit()
    packs.run(app, job.id)
    job = _db.session.get(PrintPack, job.id)
    assert (job.state, job.done, job.total) == (PackState.DONE.value, 8, 8)
    assert len(seen) > 1 and seen[-1] == 8
    assert _pages(packs.result_file(app, job).read_bytes()) == 8


NO_PUBLIC_URL = "l'adresse publique du site (PUBLIC_URL) n'est pas configurée"


def test_print_pack_cli_refuses_without_public_url(jury_day, app, tmp_path, monkeypatch):
    # Was: the pack was printed with QR codes to http://localhost/verifier/..., silently.
    monkeypatch.setitem(app.config, "PUBLIC_URL", "")
    _db.session.commit()
    output = tmp_path / "pack.pdf"
    result = app.test_cli_runner().invoke(print_pack_command, [
        "--centre", jury_day["centre"].code, "--date", "2027-05-12", "--output", str(output)])
    assert result.exit_code == 1
    assert NO_PUBLIC_URL in result.output
    assert "Définissez PUBLIC_URL, par exemple : PUBLIC_URL=https://examens.example.fr" in \
        result.output
    assert list(tmp_path.iterdir()) == []


def test_pack_page_refuses_without_public_url_and_records_nothing(
        jury_day, client, login_as, app, monkeypatch):
    import html

    monkeypatch.setitem(app.config, "PRINT_PACK_INLINE", True)
    monkeypatch.setitem(app.config, "PUBLIC_URL", "")
    login_as(jury_day["gestionnaire"])
    response = _post_pack(client, jury_day["centre"].id)
    assert response.status_code == 200
    assert NO_PUBLIC_URL in html.unescape(response.get_data(as_text=True))
    assert _db.session.query(PrintPack).count() == 0


def test_a_pack_job_without_public_url_fails_with_the_reason(jury_day, app, monkeypatch):
    job, _ = packs.request_pack(centre=jury_day["centre"], day=DAY, kinds=["convocation"],
                                fmt="pdf", actor=jury_day["gestionnaire"])
    _db.session.commit()
    monkeypatch.setitem(app.config, "PUBLIC_URL", "")  # unset between request and run
    packs.run(app, job.id)
    job = _db.session.get(PrintPack, job.id)
    assert job.state == PackState.FAILED.value
    assert NO_PUBLIC_URL in job.error


# ---- one global limit (issue 12, item 5) ------------------------------------------------

def test_pack_slots_let_only_their_count_render_at_once_across_threads(tmp_path):
    import threading

    for count in (1, 2):
        slots = packs.PackSlots(tmp_path / f"slots-{count}", count)
        running, peak, lock = [0], [0], threading.Lock()

        def render(slots=slots, running=running, peak=peak, lock=lock):
            with slots.held(poll=0.01):
                with lock:
                    running[0] += 1
                    peak[0] = max(peak[0], running[0])
                time.sleep(0.05)
                with lock:
                    running[0] -= 1

        threads = [threading.Thread(target=render) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert (peak[0], running[0]) == (count, 0)


def test_pack_slot_held_by_another_process_makes_the_pack_wait(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    slots = packs.PackSlots(tmp_path, 1)
    script = ("import fcntl, os, time; "
              f"fd = os.open({str(tmp_path / '0.lock')!r}, os.O_RDWR | os.O_CREAT); "
              "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    try:
        assert child.stdout.readline().strip() == "held"
        assert slots.try_acquire() is None
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdout.close()
    fd = slots.try_acquire()
    assert fd is not None
    import os
    os.close(fd)


def test_a_pack_waits_en_attente_while_the_slot_is_taken(jury_day, client, login_as, app,
                                                         monkeypatch):
    import os

    monkeypatch.setitem(app.config, "PRINT_PACK_INLINE", False)
    monkeypatch.setitem(app.config, "PRINT_PACK_WORKERS", 1)
    monkeypatch.setitem(app.config, "PRINT_PACK_SLOTS", 1)
    slot = packs.PackSlots.for_app(app).try_acquire()  # another pack is rendering
    assert slot is not None
    try:
        login_as(jury_day["gestionnaire"])
        response = _post_pack(client, jury_day["centre"].id, kinds=("emargement",))
        url = response.headers["Location"] + "/etat"
        time.sleep(1.0)
        state = client.get(url).get_json()
        assert (state["state"], state["label"]) == ("pending", "En attente")
    finally:
        os.close(slot)
    deadline = time.monotonic() + 60
    while state["state"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        state = client.get(url).get_json()
    assert (state["state"], state["total"]) == ("done", 1)


def test_pack_page_lists_the_centres_exam_days_and_fills_in_the_next(
        jury_day, client, login_as, create_user, create_centre):
    """The chef de centre need not know the day: the page lists the days with planned
    passages (in the session's zone) and fills in the next one; a centre with none says
    why there is nothing to print yet."""
    import re

    centre = jury_day["centre"]
    jury_day["passages"][2].scheduled_at = datetime(2027, 5, 13, 21, 30, tzinfo=UTC)
    _db.session.flush()  # 23 h 30 in Paris on the 13th: the 13th, not the 14th
    login_as(create_user(Role.GESTIONNAIRE))
    page = client.get(f"/centres/{centre.id}/impressions").get_data(as_text=True)
    days = re.search(r'<p id="exam-days">(.*?)</p>', page, re.S).group(1)
    assert " ".join(re.sub(r"<[^>]+>", " ", days).split()) == (
        "Jours d'épreuves du centre : mercredi 12 mai 2027 (2 passages), "
        "jeudi 13 mai 2027 (1 passage).")
    assert re.search(r'id="day" name="day"[^>]*value="2027-05-12"', page)
    second = client.get(f"/centres/{centre.id}/impressions?jour=2027-05-13").get_data(
        as_text=True)
    assert re.search(r'id="day" name="day"[^>]*value="2027-05-13"', second)
    empty = create_centre(jury_day["session"], code="C9", name="Lycée vide")
    none = client.get(f"/centres/{empty.id}/impressions").get_data(as_text=True)
    assert "Aucun passage n'est encore planifié dans ce centre" in none
    assert re.search(r'id="day" name="day"[^>]*value=""', none)


def test_requested_on_shows_the_last_request(jury_day, client, login_as):
    """Issue 17: « Demandé le » is the last request (here a regeneration), not the first."""
    from datetime import UTC, datetime

    from exam_app.formatting import local_datetime

    centre, actor = jury_day["centre"], jury_day["gestionnaire"]
    first = datetime(2027, 5, 10, 7, 0, tzinfo=UTC)
    again = datetime(2027, 5, 11, 15, 30, tzinfo=UTC)
    job, _ = packs.request_pack(centre=centre, day=DAY, kinds=["convocation"], fmt="pdf",
                                actor=actor, now=first)
    job.state = PackState.DONE.value
    assert packs.regenerate(job=job, actor=actor, now=again)
    _db.session.commit()
    login_as(actor)
    page = client.get(f"/centres/{centre.id}/impressions").get_data(as_text=True)
    row = page.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert f"<td>{local_datetime(again)}</td>" in row
    assert local_datetime(first) not in row
