"""Uploads racing on a live server (issue 12, items 1 and 4): requests from real
threads over HTTP, on the test database (SQLite, or PostgreSQL with
TEST_DATABASE_URL), served by werkzeug in a thread (one request per thread).

- One writer per upload: a PATCH stalled mid-body holds the upload; a second
  PATCH gets 409 with a French message; the stalled one then sends other
  bytes, and what is stored is exactly what was hashed, read-only.
- The per-piece file count and the dossier's size limit hold when a dozen
  uploads finish at once (on SQLite the row lock was a no-op).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import stat
import threading
import time
import urllib.parse
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from exam_app import create_app
from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.dossiers.models import DepositDeadline, Dossier, DossierFile, Upload
from exam_app.dossiers.storage import LocalStorage
from tests.browser.conftest import SERVED_CONFIG, serving
from tests.conftest import PASSWORD, csrf_token_from
from tests.dossiers.helpers import make_pdf

MIB = 1024 * 1024


class Candidate:
    """A candidate's HTTP session on the live server: cookies and the CSRF token."""

    def __init__(self, base: str, username: str) -> None:
        parsed = urllib.parse.urlsplit(base)
        self.host, self.port = parsed.hostname, parsed.port
        self.cookies: dict[str, str] = {}
        token = csrf_token_from(self.request("GET", "/connexion")[2].decode())
        form = urllib.parse.urlencode({"username": username, "password": PASSWORD,
                                       "csrf_token": token}).encode()
        status, _, _ = self.request("POST", "/connexion", form,
                                    {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 302
        self.token = csrf_token_from(self.request("GET", "/candidat/")[2].decode())

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=60)

    def headers(self, extra: dict | None = None) -> dict:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return {"Cookie": cookie, "X-CSRFToken": getattr(self, "token", ""),
                "Accept": "application/json", **(extra or {})}

    def keep_cookies(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=self.headers(headers))
            response = connection.getresponse()
            data = response.read()
            self.keep_cookies(response)
            return response.status, dict(response.headers), data
        finally:
            connection.close()

    def announce(self, piece: str, size: int, name: str) -> str:
        status, _, data = self.request(
            "POST", f"/candidat/{self.candidate_id}/dossiers/E4/envois",
            json.dumps({"piece": piece, "name": name, "size": size}).encode(),
            {"Content-Type": "application/json"})
        assert status == 201, data
        return json.loads(data)["url"]

    def patch(self, url: str, data: bytes, offset: int) -> tuple[int, dict]:
        status, _, body = self.request("PATCH", url, data, {
            "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
        return status, json.loads(body or b"{}")


@pytest.fixture()
def live(app, db, create_session, create_centre, create_candidate, create_user):
    """A candidate with an open E4 deposit, logged in on the app served over HTTP."""
    session = create_session()
    centre = create_centre(session)
    candidate = create_candidate(session, centre=centre)
    user = create_user(Role.CANDIDAT, candidate=candidate)
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                   deadline_at=utcnow() + timedelta(days=10)))
    db.session.commit()
    served = create_app({**SERVED_CONFIG,
                         "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                         "SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False,
                         "STORAGE_DIR": app.config["STORAGE_DIR"],
                         "DOSSIER_MAX_OPEN_UPLOADS": 20})
    with serving(served) as url:
        client = Candidate(url, user.username)
        client.candidate_id = candidate.id
        yield served, client, candidate


def _files(db, candidate_id: int) -> list[DossierFile]:
    db.session.rollback()
    db.session.expire_all()
    return list(db.session.scalars(sa.select(DossierFile).join(Dossier).where(
        Dossier.candidate_id == candidate_id).order_by(DossierFile.id)))


def _stall(client: Candidate, url: str, total: int, first: bytes) -> http.client.HTTPConnection:
    """A PATCH announcing ``total`` bytes that sends ``first`` and then waits."""
    connection = client.connection()
    connection.putrequest("PATCH", url)
    for name, value in client.headers({"Upload-Offset": "0", "Content-Length": str(total),
                                       "Content-Type": "application/offset+octet-stream"}).items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(first)
    return connection


def _wait_for_bytes(storage: LocalStorage, token: str, count: int) -> None:
    deadline = time.monotonic() + 20
    while storage.temp_size(token) < count:
        assert time.monotonic() < deadline, "the stalled request never wrote its first MiB"
        time.sleep(0.02)


def test_a_second_writer_is_refused_while_a_stalled_one_holds_the_upload(live, db):
    """The issue's attack: it can no longer complete the upload behind the stalled
    request, and the stalled request's other bytes are stored as what they are."""
    served, client, candidate = live
    genuine = make_pdf(1, marker="authentique", padding=1_300_000)
    forged = make_pdf(1, marker="contrefaite", padding=1_300_000)
    assert len(genuine) == len(forged) > MIB + 100_000
    url = client.announce("sommaire", len(genuine), "rapport.pdf")
    token = url.rsplit("/", 1)[-1]
    storage = LocalStorage(served.config["STORAGE_DIR"])
    # Someone else already deposited the genuine file: its object must stay intact.
    shared = storage.put_bytes(genuine)

    stalled = _stall(client, url, len(genuine), genuine[:MIB])
    try:
        _wait_for_bytes(storage, token, MIB)
        # The second PATCH resumes from the server's offset, as the attack did.
        status, body = client.patch(url, genuine[MIB:], MIB)
        assert status == 409
        assert body["error"] == "busy"
        assert body["message"].startswith("Ce fichier est déjà en cours d'envoi")
        status, body = client.patch(url, genuine, 0)  # from the start: refused too
        assert (status, body["error"]) == (409, "busy")
        assert _files(db, candidate.id) == []
        # The stalled request now sends other bytes through its own handle.
        stalled.send(forged[MIB:])
        response = stalled.getresponse()
        answer = json.loads(response.read())
    finally:
        stalled.close()
    assert response.status == 200, answer
    stored = genuine[:MIB] + forged[MIB:]  # what the one writer actually sent
    digest = hashlib.sha256(stored).hexdigest()
    assert answer["file"]["sha256"] == digest
    [file] = _files(db, candidate.id)
    assert (file.sha256, file.storage_key) == (digest, digest)
    path = storage.path(digest)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0  # read-only
    assert storage.path(shared).read_bytes() == genuine
    assert stat.S_IMODE(storage.path(shared).stat().st_mode) & 0o222 == 0
    # Nothing of the upload is left: no part file, no lock file, no row. The copy the fast
    # writer set aside (the object it replaced) is swept once the response has been sent
    # (``call_on_close``), which may come a moment after the client read the answer.
    deadline = time.monotonic() + 5
    while list(storage.tmp_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(storage.tmp_dir.iterdir()) == []
    assert list(storage.locks_dir.iterdir()) == []
    assert db.session.scalars(sa.select(Upload)).all() == []
    assert client.patch(url, forged[MIB:], MIB)[0] == 404


def test_an_object_altered_on_disk_is_replaced_by_the_verified_copy(live, db):
    """An object already stored under a hash is not reused as it is: the next deposit
    of that content stores the bytes it hashed (a poisoned object is repaired)."""
    served, client, candidate = live
    data = make_pdf(1, marker="partagé", padding=50_000)
    digest = hashlib.sha256(data).hexdigest()
    storage = LocalStorage(served.config["STORAGE_DIR"])
    poisoned = storage.path(digest)
    poisoned.parent.mkdir(parents=True, exist_ok=True)
    poisoned.write_bytes(b"%PDF-1.7 attacker's bytes")  # what the old code let happen
    url = client.announce("sommaire", len(data), "partage.pdf")
    status, body = client.patch(url, data, 0)
    assert status == 200, body
    assert body["file"]["sha256"] == digest
    assert poisoned.read_bytes() == data
    assert stat.S_IMODE(poisoned.stat().st_mode) & 0o222 == 0


@pytest.mark.parametrize("writer", ["fast", "reference"])
def test_twelve_uploads_at_once_to_a_one_file_piece_keep_one(live, db, writer):
    served, client, candidate = live
    served.config["DOSSIER_STORAGE_WRITER"] = writer
    datas = [make_pdf(1, marker=f"course-{writer}-{n}", padding=20_000) for n in range(12)]
    urls = [client.announce("sommaire", len(d), f"sommaire-{n}.pdf")
            for n, d in enumerate(datas)]
    results = _at_once([lambda u=u, d=d: client.patch(u, d, 0) for u, d in zip(urls, datas, strict=True)])
    statuses = sorted(r[0] for r in results)
    assert statuses == [200] + [409] * 11, results
    assert {r[1]["error"] for r in results if r[0] == 409} == {"piece_full"}
    assert len(_files(db, candidate.id)) == 1
    assert db.session.scalars(sa.select(Upload)).all() == []


def test_twelve_uploads_at_once_stay_within_the_dossier_limit(live, db):
    served, client, candidate = live
    datas = [make_pdf(1, marker=f"taille-{n}", padding=30_000) for n in range(12)]
    size = len(datas[0])
    served.config["DOSSIER_MAX_BYTES"] = 3 * size + size // 2  # room for three
    urls = [client.announce("attestations_stage", len(d), f"attestation-{n}.pdf")
            for n, d in enumerate(datas)]
    results = _at_once([lambda u=u, d=d: client.patch(u, d, 0) for u, d in zip(urls, datas, strict=True)])
    assert sorted(r[0] for r in results) == [200] * 3 + [413] * 9, results
    files = _files(db, candidate.id)
    assert len(files) == 3
    assert sum(f.size for f in files) <= served.config["DOSSIER_MAX_BYTES"]


def _at_once(calls) -> list:
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(slot: int, call) -> None:
        barrier.wait()
        try:
            results[slot] = call()
        except Exception as error:  # noqa: BLE001 - reported by the assertions
            results[slot] = (-1, {"exception": repr(error)})

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_claim_holds_across_processes(tmp_path):
    """The claim is an OS lock: another process holding it makes ours busy, and it is
    free again once that process exits (whatever way it exits)."""
    import subprocess
    import sys

    from exam_app.dossiers.storage import UploadBusy

    storage = LocalStorage(tmp_path)
    token = "p" * 24
    script = ("import sys, time; from exam_app.dossiers.storage import LocalStorage; "
              f"c = LocalStorage({str(tmp_path)!r}).claim({token!r}); "
              "print('held', flush=True); time.sleep(30)")
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                             text=True, cwd=Path(__file__).resolve().parents[2],
                             env={**os.environ})
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(UploadBusy):
            storage.claim(token)
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdout.close()
    storage.claim(token).release(ended=True)  # the kernel dropped the dead process's lock
    assert list(storage.locks_dir.iterdir()) == []


def test_claim_holds_across_threads_of_one_process(tmp_path):
    from exam_app.dossiers.storage import UploadBusy

    storage = LocalStorage(tmp_path)
    held = storage.claim("q" * 24)
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(
        pytest.raises(UploadBusy, storage.claim, "q" * 24) is not None))
    thread.start()
    thread.join()
    assert outcome == [True]
    held.release()
    storage.claim("q" * 24).release()

