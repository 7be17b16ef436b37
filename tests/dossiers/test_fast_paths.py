"""The upload fast paths against their plain reference implementations.

Each fast path sits beside a reference with the same interface, chosen by a
configuration key (default: fast):

- ``DOSSIER_STORAGE_WRITER``: ``storage_fast.FastLocalStorage`` / ``storage.LocalStorage``;
- ``DOSSIER_BODY_READER``: ``body_fast.request_body`` (gunicorn's socket) /
  ``body.request_body`` (werkzeug's stream over ``wsgi.input``);
- ``DOSSIER_PDF_READER``: ``pdfcheck_fast`` then pypdf / pypdf only (compared file by
  file in ``test_pdfcheck_fast.py``).

Here both run on the same inputs and every observable result is compared:
stored bytes, hashes, what the watchers saw, lost connections, database rows,
audit events and HTTP responses. The rest of ``tests/dossiers`` runs with the
fast paths; to run it all with the references instead:

    DOSSIER_BODY_READER=reference DOSSIER_STORAGE_WRITER=reference \\
        DOSSIER_PDF_READER=reference python -m pytest tests/dossiers

(``.ci/run`` does, on both databases.)
"""

from __future__ import annotations

import hashlib
import io
import logging
import socket
import threading
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader
from werkzeug.wsgi import LimitedStream

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.clock import utcnow
from exam_app.dossiers import body, body_fast, pdfcheck
from exam_app.dossiers.models import DepositDeadline, Dossier, DossierFile, Upload
from exam_app.dossiers.storage import (
    CHUNK_SIZE,
    ClientDisconnected,
    LocalStorage,
    storage_class,
)
from exam_app.dossiers.storage_fast import FastLocalStorage
from exam_app.extensions import db as database
from tests.conftest import csrf_token_from
from tests.dossiers.helpers import make_pdf

TOKEN = "e" * 24
OTHER = "f" * 24
BIG = bytes(range(256)) * (CHUNK_SIZE // 256 * 5 // 2) + b"tail"  # 2.5 MiB: several buffers


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class _ShortReads:
    """``read`` only, at most ``step`` bytes at a time (a slow client)."""

    def __init__(self, data: bytes, step: int = 7000):
        self._data = io.BytesIO(data)
        self._step = step

    def read(self, size: int) -> bytes:
        return self._data.read(min(size, self._step))


class _FailsAfter:
    """A stream whose connection drops after ``limit`` bytes (the read raises)."""

    def __init__(self, data: bytes, limit: int):
        self._data = io.BytesIO(data[:limit])

    def readinto(self, buffer) -> int:
        n = self._data.readinto(buffer)
        if not n:
            raise ConnectionResetError("connection reset by peer")
        return n

    def read(self, size: int) -> bytes:
        data = self._data.read(size)
        if not data:
            raise ConnectionResetError("connection reset by peer")
        return data


def _append(storage, token, stream, *, offset, length, scan=False):
    """(what append returned or raised, what a watcher saw, the bytes held)."""
    seen = bytearray()
    watchers = [lambda chunk: seen.extend(chunk)] if scan else ()
    try:
        outcome = storage.append(token, stream, offset=offset, length=length, watchers=watchers)
    except ClientDisconnected as lost:
        outcome = ("disconnected", str(lost))
    return outcome, hashlib.sha256(seen).hexdigest(), storage.temp_size(token)


def _storage_scenarios(storage) -> list:
    """The same uploads through one storage: everything it answers, in order."""
    pdf = make_pdf(2, marker="equivalence", padding=50_000)
    js = b"%PDF-1.7\n" + b"z" * (CHUNK_SIZE - 20) + b"/S /JavaScript /JS (x)" + b"z" * 100
    results = [
        # Whole files in one call, hashed and scanned while streaming.
        _append(storage, TOKEN, io.BytesIO(pdf), offset=0, length=len(pdf), scan=True),
        _append(storage, OTHER, _ShortReads(BIG), offset=0, length=len(BIG), scan=True),
        _append(storage, "j" * 24, io.BytesIO(js), offset=0, length=len(js), scan=True),
        storage.promote(TOKEN, hashlib.sha256(pdf).hexdigest()),
        storage.promote(OTHER, hashlib.sha256(BIG).hexdigest()),
        # Empty, truncated (the stream ends early), disconnected (the read fails).
        _append(storage, "a" * 24, io.BytesIO(b""), offset=0, length=0, scan=True),
        _append(storage, "b" * 24, io.BytesIO(BIG[:300_000]), offset=0, length=len(BIG),
                scan=True),
        _append(storage, "c" * 24, _FailsAfter(BIG, CHUNK_SIZE + 12_345), offset=0,
                length=len(BIG), scan=True),
        # Resumed at offsets, in uneven chunks, one of them sent again from an earlier
        # offset (the bytes past it are dropped first).
        _append(storage, "d" * 24, io.BytesIO(BIG[:100_000]), offset=0, length=100_000),
        _append(storage, "d" * 24, _ShortReads(BIG[100_000:1_500_000]), offset=100_000,
                length=1_400_000),
        _append(storage, "d" * 24, io.BytesIO(BIG[900_000:1_200_000]), offset=900_000,
                length=300_000),
        _append(storage, "d" * 24, io.BytesIO(BIG[1_200_000:]), offset=1_200_000,
                length=len(BIG) - 1_200_000, scan=True),
        storage.hash_temp("d" * 24),
        storage.read_head_tail("d" * 24, pdfcheck.HEAD_TAIL),
        # A duplicate: the same content promoted again keeps the stored object.
        _append(storage, "g" * 24, io.BytesIO(pdf), offset=0, length=len(pdf)),
        storage.promote("g" * 24, hashlib.sha256(pdf).hexdigest()),
        storage.put_bytes(b"%PDF-1.4 small"),
    ]
    storage.discard("j" * 24)
    storage.sweep()  # what the response's close does
    results.append(_tree(storage.root))
    with storage.open(hashlib.sha256(BIG).hexdigest()) as handle:
        results.append(hashlib.sha256(handle.read()).hexdigest())
    return results


def test_fast_and_reference_storage_store_and_answer_the_same(tmp_path):
    fast = _storage_scenarios(FastLocalStorage(tmp_path / "fast"))
    reference = _storage_scenarios(LocalStorage(tmp_path / "reference"))
    assert fast == reference
    # The scenarios mean something: hashes computed, a lost connection kept its bytes.
    assert fast[1][0] == (len(BIG), hashlib.sha256(BIG).hexdigest())
    assert fast[1][1] == hashlib.sha256(BIG).hexdigest()  # the watcher saw every byte
    assert fast[6][0] == ("disconnected", "300000")
    assert fast[7][0] == ("disconnected", str(CHUNK_SIZE + 12_345))
    assert fast[10][0] == (1_200_000, None)  # what lay past 1 200 000 was dropped
    assert fast[12] == hashlib.sha256(BIG).hexdigest()


def test_writer_and_reader_are_chosen_by_configuration():
    assert storage_class("fast") is FastLocalStorage
    assert storage_class("reference") is LocalStorage
    assert body.body_reader({}) is body_fast.request_body
    assert body.body_reader({"DOSSIER_BODY_READER": "reference"}) is body.request_body
    with pytest.raises(ValueError, match="DOSSIER_STORAGE_WRITER"):
        storage_class("turbo")
    with pytest.raises(ValueError, match="DOSSIER_BODY_READER"):
        body.body_reader({"DOSSIER_BODY_READER": "turbo"})


# ---- body readers, over a real socket and gunicorn's own classes ------------------------

needs_supported_gunicorn = pytest.mark.skipif(
    not body_fast.gunicorn_supported(),
    reason="the installed gunicorn is outside body_fast.GUNICORN_VERSIONS: the fast reader is "
           "not used (the fallback is tested below)")


def _gunicorn_request(sock: socket.socket, length: int, already_read: bytes = b""):
    """What gunicorn hands the app, and werkzeug's stream over it (the reference)."""
    unreader = SocketUnreader(sock)
    if already_read:
        unreader.unread(already_read)
    wsgi_input = Body(LengthReader(unreader, length))
    return SimpleNamespace(environ={"gunicorn.socket": sock, "wsgi.input": wsgi_input},
                           content_length=length, max_content_length=None,
                           stream=LimitedStream(wsgi_input, length))


def _through(reader, data: bytes, *, length: int, sent: bytes, already_read: int,
             storage_root: Path):
    """Send ``sent`` on a socket, read the body with ``reader`` into a storage: the outcome,
    the stored bytes, and what is left on the socket after the body."""
    server, client = socket.socketpair()
    server.settimeout(10)
    with server, client:
        request = _gunicorn_request(server, length, already_read=data[:already_read])

        def send():
            client.sendall(sent)
            client.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        storage = FastLocalStorage(storage_root)
        try:
            outcome = storage.append(TOKEN, reader(request), offset=0, length=length)
        except ClientDisconnected as lost:
            outcome = ("disconnected", str(lost))
        sender.join()
        # What follows the body: still in gunicorn's buffer, or on the socket.
        rest = request.environ["wsgi.input"].reader.unreader.buf.getvalue()
        while chunk := server.recv(65536):
            rest += chunk
        return outcome, storage.temp_path(TOKEN).read_bytes(), rest


@needs_supported_gunicorn
@pytest.mark.parametrize(("case", "already_read"), [("whole", 0), ("whole", 5000),
                                                     ("lost", 0), ("lost", 5000)])
def test_fast_and_reference_body_readers_read_the_same_bytes(tmp_path, case, already_read):
    data = BIG
    next_request = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    if case == "whole":
        sent, length = data[already_read:] + next_request, len(data)
    else:  # the client goes away 400 kB before the announced end
        sent, length = data[already_read:-400_000], len(data)
    fast = _through(body_fast.request_body, data, length=length, sent=sent,
                    already_read=already_read, storage_root=tmp_path / "fast")
    reference = _through(body.request_body, data, length=length, sent=sent,
                         already_read=already_read, storage_root=tmp_path / "reference")
    assert fast == reference
    if case == "whole":
        assert fast == ((len(data), hashlib.sha256(data).hexdigest()), data, next_request)
    else:
        assert fast[0] == ("disconnected", str(len(data) - 400_000))


def test_fast_reader_falls_back_to_the_reference_on_another_gunicorn(monkeypatch, caplog):
    monkeypatch.setattr(body_fast, "GUNICORN_VERSIONS", ((1, 0), (1, 1)))
    monkeypatch.setattr(body_fast, "_logged", set())
    server, client = socket.socketpair()
    with server, client, caplog.at_level(logging.INFO, logger=body_fast.__name__):
        request = _gunicorn_request(server, 10)
        assert body_fast.request_body(request) is request.stream
        assert body_fast.request_body(request) is request.stream
    lines = [r for r in caplog.records if r.name == body_fast.__name__]
    assert len(lines) == 1  # one line, not one per request
    assert lines[0].levelno == logging.WARNING
    assert "reference reader" in lines[0].getMessage()


def test_fast_reader_off_gunicorn_is_the_reference_with_one_log_line(monkeypatch, caplog):
    monkeypatch.setattr(body_fast, "_logged", set())
    request = SimpleNamespace(environ={"wsgi.input": io.BytesIO(b"abc")}, content_length=3,
                              max_content_length=None, stream=io.BytesIO(b"abc"))
    with caplog.at_level(logging.INFO, logger=body_fast.__name__):
        assert body_fast.request_body(request) is request.stream
        assert body_fast.request_body(request) is request.stream
    assert len([r for r in caplog.records if r.name == body_fast.__name__]) == 1


# ---- the whole deposit over HTTP, once per configuration ---------------------------------

def _normalised(response) -> tuple:
    """Status, the Upload-Offset header and the JSON body without random tokens and ids."""
    data = response.get_json(silent=True)
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in {"token", "url"}}
        if "removed" in data:
            data["removed"] = "<id>"
        if isinstance(data.get("file"), dict):
            data["file"] = {k: v for k, v in data["file"].items() if k != "id"}
    return response.status_code, response.headers.get("Upload-Offset"), data


def _deposit_scenarios(app, client, candidate, user, login_as) -> dict:
    """Uploads through the HTTP API (whole, chunked, lost and resumed, wrong offset,
    duplicate, not a PDF, removed and sent again): every answer, row and stored byte."""
    login_as(user)
    token = csrf_token_from(client.get("/candidat/").get_data(as_text=True))
    headers = {"X-CSRFToken": token, "Accept": "application/json"}
    answers = []

    def keep(response):
        answers.append(_normalised(response))
        response.close()  # what the WSGI server does once the response is sent
        return response

    def create(piece, data, name):
        return keep(client.post(f"/candidat/{candidate.id}/dossiers/E4/envois",
                                json={"piece": piece, "name": name, "size": len(data)},
                                headers=headers)).get_json()["url"]

    def patch(url, chunk, offset, **extra):
        return keep(client.patch(url, data=chunk, headers={
            **headers, "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream"}, **extra))

    whole = make_pdf(2, marker="http-whole")
    patch(create("sommaire", whole, "Sommaire été.pdf"), whole, 0)
    chunked = make_pdf(1, marker="http-chunked", padding=250_000)
    url = create("description_missions", chunked, "missions.pdf")
    patch(url, chunked[:100_000], 0)
    keep(client.patch(url, input_stream=io.BytesIO(chunked[100_000:160_000]),
                      environ_overrides={"CONTENT_LENGTH": str(len(chunked) - 100_000)},
                      headers={**headers, "Upload-Offset": "100000",
                               "Content-Type": "application/offset+octet-stream"}))
    keep(client.get(url, headers=headers))
    patch(url, chunked[100_000:], 100_000)  # wrong offset: the server holds 160 000
    patch(url, chunked[160_000:], 160_000)
    patch(create("non_plagiat", whole, "copie.pdf"), whole, 0)  # duplicate content
    not_pdf = b"MZ\x90\x00" + b"\x00" * 5000
    patch(create("non_plagiat", not_pdf, "setup.pdf"), not_pdf, 0)
    first = db_file(candidate, "sommaire")
    keep(client.post(f"/candidat/fichiers/{first.id}/supprimer",
                     data={"csrf_token": token}, headers=headers))
    patch(create("sommaire", whole, "Sommaire été.pdf"), whole, 0)  # the same bytes again
    dossier_id = database.session.scalar(
        sa.select(Dossier.id).where(Dossier.candidate_id == candidate.id))
    return {
        "answers": answers,
        "files": [(f.piece_code, f.original_name, f.size, f.pages, f.sha256, f.storage_key,
                   f.has_javascript, f.has_embedded_files)
                  for f in database.session.scalars(
                      sa.select(DossierFile).where(DossierFile.dossier_id == dossier_id)
                      .order_by(DossierFile.id))],
        "uploads": [(u.piece_code, u.original_name, u.size, u.received)
                    for u in database.session.scalars(
                        sa.select(Upload).where(Upload.dossier_id == dossier_id)
                        .order_by(Upload.id))],
        "audit": [(e.action, e.object_type, _without_ids(e.before), _without_ids(e.after))
                  for e in database.session.scalars(
                      sa.select(AuditEvent).where(AuditEvent.actor_id == user.id)
                      .order_by(AuditEvent.id))],
        "stored": _tree(Path(app.config["STORAGE_DIR"])),
    }


def db_file(candidate, piece: str) -> DossierFile:
    return database.session.scalar(sa.select(DossierFile).join(Dossier).where(
        Dossier.candidate_id == candidate.id, DossierFile.piece_code == piece))


def _without_ids(payload):
    if not isinstance(payload, dict):
        return payload
    return {k: v for k, v in payload.items() if k != "file_id"}


def test_fast_and_reference_paths_answer_and_store_the_same_over_http(
        app, client, login_as, monkeypatch, tmp_path, db, create_session, create_centre,
        create_candidate, create_user):
    session = create_session()
    centre = create_centre(session)
    for unit in ("E4", "E5"):
        db.session.add(DepositDeadline(session_id=session.id, unit_code=unit,
                                       deadline_at=utcnow() + timedelta(days=10)))
    db.session.flush()
    runs = {}
    for paths in ("fast", "reference"):
        monkeypatch.setitem(app.config, "DOSSIER_STORAGE_WRITER", paths)
        monkeypatch.setitem(app.config, "DOSSIER_BODY_READER", paths)
        monkeypatch.setitem(app.config, "DOSSIER_PDF_READER", paths)
        monkeypatch.setitem(app.config, "STORAGE_DIR", str(tmp_path / paths))
        candidate = create_candidate(session, centre=centre)
        user = create_user(Role.CANDIDAT, candidate=candidate)
        runs[paths] = _deposit_scenarios(app, client, candidate, user, login_as)
    assert runs["fast"] == runs["reference"]
    statuses = [a[0] for a in runs["fast"]["answers"]]
    # whole; chunked: created, 1st chunk, lost, status, wrong offset, last; duplicate;
    # not a PDF; removal; sent again.
    assert statuses == [201, 200, 201, 200, 400, 200, 409, 200, 201, 409, 201, 422, 200, 201, 200]
    assert [f[0] for f in runs["fast"]["files"]] == ["description_missions", "sommaire"]
    assert runs["fast"]["uploads"] == []
    assert not [name for name in runs["fast"]["stored"] if name.startswith("tmp/")]
