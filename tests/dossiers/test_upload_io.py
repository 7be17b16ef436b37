"""The upload's I/O path below the views: gunicorn's socket read and the storage
copy (hash, watchers, lost connections).

Storage tests run on both writers (``FastLocalStorage``, the default, and the
reference ``LocalStorage``); ``test_fast_paths.py`` compares them directly."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import time
from types import SimpleNamespace

import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader

from exam_app.dossiers import storage as storage_module
from exam_app.dossiers.body_fast import GunicornSocketBody, gunicorn_supported, request_body
from exam_app.dossiers.storage import CHUNK_SIZE, ClientDisconnected, LocalStorage, Received
from exam_app.dossiers.storage_fast import FastLocalStorage

TOKEN = "t" * 24


def _sockets():
    server, client = socket.socketpair()
    server.settimeout(10)
    return server, client


def _gunicorn_request(server: socket.socket, length: int, already_read: bytes = b"",
                      max_content_length: int | None = None):
    """What gunicorn hands the app: a Body over a LengthReader over the socket."""
    unreader = SocketUnreader(server)
    if already_read:
        unreader.unread(already_read)  # read with the headers
    body = Body(LengthReader(unreader, length))
    environ = {"gunicorn.socket": server, "wsgi.input": body}
    return SimpleNamespace(environ=environ, content_length=length,
                           max_content_length=max_content_length,
                           stream=io.BytesIO(b"werkzeug stream")), body


def _send(client: socket.socket, data: bytes, close: bool = True) -> threading.Thread:
    def run():
        client.sendall(data)
        if close:
            client.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


needs_supported_gunicorn = pytest.mark.skipif(
    not gunicorn_supported(),
    reason="the installed gunicorn is outside body_fast.GUNICORN_VERSIONS: the fast reader is "
           "not used (test_fast_paths.py tests the fallback)")


@needs_supported_gunicorn
def test_gunicorn_body_reads_what_gunicorn_holds_then_the_socket(tmp_path):
    data = bytes(range(256)) * 12_000  # 3 MB: several buffers
    server, client = _sockets()
    with server, client:
        request, body = _gunicorn_request(server, len(data), already_read=data[:5000])
        stream = request_body(request)
        assert isinstance(stream, GunicornSocketBody)
        sender = _send(client, data[5000:] + b"GET /next HTTP/1.1\r\n")
        storage = FastLocalStorage(tmp_path)
        held, digest = storage.append(TOKEN, stream, offset=0, length=len(data))
        sender.join()
        assert (held, digest) == (len(data), hashlib.sha256(data).hexdigest())
        assert storage.temp_path(TOKEN).read_bytes() == data
        assert body.reader.length == 0
        # Not a byte past the body: the next request is still in the socket.
        assert server.recv(100) == b"GET /next HTTP/1.1\r\n"


def test_gunicorn_body_keeps_what_arrived_before_a_lost_connection(tmp_path):
    data = b"%PDF-" + b"x" * 200_000
    server, client = _sockets()
    with server, client:
        request, body = _gunicorn_request(server, 500_000)
        sender = _send(client, data)
        storage = FastLocalStorage(tmp_path)
        with pytest.raises(ClientDisconnected) as lost:
            storage.append(TOKEN, request_body(request), offset=0, length=500_000)
        sender.join()
        assert str(lost.value) == str(len(data))
        assert storage.temp_path(TOKEN).read_bytes() == data


def test_request_body_over_the_global_limit_is_werkzeugs_stream():
    server, client = _sockets()
    with server, client:
        request, _ = _gunicorn_request(server, 2000, max_content_length=1000)
        assert request_body(request) is request.stream


def test_request_body_off_gunicorn_is_werkzeugs_stream():
    request = SimpleNamespace(environ={"wsgi.input": io.BytesIO(b"abc")}, content_length=3,
                              max_content_length=None, stream=io.BytesIO(b"abc"))
    assert request_body(request) is request.stream


@needs_supported_gunicorn
def test_request_body_after_a_partial_read_is_werkzeugs_stream():
    server, client = _sockets()
    with server, client:
        request, body = _gunicorn_request(server, 100, already_read=b"a" * 100)
        assert isinstance(request_body(request), GunicornSocketBody)
        assert body.read(10) == b"a" * 10  # something read the start of the body
        assert request_body(request) is request.stream


WRITERS = pytest.mark.parametrize("storage_class", [FastLocalStorage, LocalStorage],
                                  ids=["fast", "reference"])


@WRITERS
def test_append_hashes_and_feeds_the_watchers_across_the_chunk_boundary(tmp_path, storage_class):
    data = b"%PDF-1.7\n" + bytes(range(256)) * (CHUNK_SIZE // 256 + 10)
    seen = bytearray()
    held, digest = storage_class(tmp_path).append(
        TOKEN, io.BytesIO(data), offset=0, length=len(data), watchers=[seen.extend])
    assert (held, digest, bytes(seen)) == (len(data), hashlib.sha256(data).hexdigest(), data)


class _ReadOnly:
    """A stream with ``read`` only, returning short reads."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def read(self, size: int) -> bytes:
        return self._data.read(min(size, 7000))


@WRITERS
def test_append_continued_in_this_process_returns_the_whole_files_hash(tmp_path, storage_class):
    # The browser's chunks, one after the other, served by this process: the hash goes on
    # from where the previous chunk left it (storage.Received); watchers see only the first.
    storage = storage_class(tmp_path)
    data = bytes(range(256)) * 100
    seen = []
    assert storage.append(TOKEN, _ReadOnly(data[:1000]), offset=0, length=1000,
                          watchers=[lambda c: seen.append(len(c))]) == (
        1000, hashlib.sha256(data[:1000]).hexdigest())
    assert storage.append(TOKEN, _ReadOnly(data[1000:]), offset=1000, length=len(data) - 1000,
                          watchers=[lambda c: seen.append(-1)]) == (
        len(data), hashlib.sha256(data).hexdigest())
    assert seen == [1000]
    assert storage.temp_path(TOKEN).read_bytes() == data
    assert storage.received(TOKEN).sha256 == storage.hash_temp(TOKEN)


@WRITERS
def test_append_resumed_without_this_process_state_returns_no_hash(tmp_path, storage_class):
    # Another gunicorn worker received the first chunk: nothing to continue from.
    storage = storage_class(tmp_path)
    data = bytes(range(256)) * 100
    storage.append(TOKEN, _ReadOnly(data[:1000]), offset=0, length=1000)
    storage_module.forget_received()
    assert storage.append(TOKEN, _ReadOnly(data[1000:]), offset=1000,
                          length=len(data) - 1000) == (len(data), None)
    assert storage.received(TOKEN) is None
    assert storage.temp_path(TOKEN).read_bytes() == data


@WRITERS
@pytest.mark.parametrize("alteration", ["rewritten", "recreated", "extended", "from_an_earlier_offset"])
def test_a_file_changed_between_two_chunks_is_hashed_again(tmp_path, storage_class, alteration):
    # Whatever touched the .part outside the protocol (a write through another handle,
    # the file replaced, bytes added, a chunk resent from before the end), the state
    # kept is not continued and the finalisation hashes the file as it is.
    import os

    storage = storage_class(tmp_path)
    data = bytes(range(256)) * 100
    path = storage.temp_path(TOKEN)
    storage.append(TOKEN, io.BytesIO(data[:1000]), offset=0, length=1000)
    offset = 1000
    if alteration == "rewritten":  # same size, other bytes, same inode
        time.sleep(0.02)  # past the timestamps' clock tick (see storage.Received)
        with open(path, "r+b") as handle:
            handle.write(b"X" * 10)
    elif alteration == "recreated":  # same bytes, another inode
        copy = path.with_suffix(".copy")
        copy.write_bytes(path.read_bytes())
        os.replace(copy, path)
    elif alteration == "extended":
        with open(path, "ab") as handle:
            handle.write(b"more")
        offset = 1004
    else:
        offset = 500
    held, digest = storage.append(TOKEN, io.BytesIO(data[offset:]), offset=offset,
                                  length=len(data) - offset)
    assert digest is None
    assert storage.received(TOKEN) is None
    assert storage.hash_temp(TOKEN) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_state_is_not_trusted_at_finalisation_after_the_file_changed(tmp_path):
    storage = FastLocalStorage(tmp_path)
    data = b"%PDF-1.7 " + bytes(range(256)) * 10
    storage.append(TOKEN, io.BytesIO(data), offset=0, length=len(data))
    assert storage.received(TOKEN).sha256 == hashlib.sha256(data).hexdigest()
    time.sleep(0.02)  # past the timestamps' clock tick (see storage.Received)
    with open(storage.temp_path(TOKEN), "r+b") as handle:
        handle.write(b"%PDF-1.4")
    assert storage.received(TOKEN) is None


def test_promote_and_discard_forget_the_state(tmp_path):
    storage = LocalStorage(tmp_path)
    for token in (TOKEN, "o" * 24):
        storage.append(token, io.BytesIO(b"%PDF-1.7 x"), offset=0, length=10)
    storage.promote(TOKEN, hashlib.sha256(b"%PDF-1.7 x").hexdigest())
    storage.discard("o" * 24)
    assert [key for key in storage_module._received if key[0] == str(tmp_path)] == []


def _all_xrefs(data: bytes) -> list[int]:
    found, at = [], data.find(b"xref")
    while at != -1:
        found.append(at)
        at = data.find(b"xref", at + 1)
    return found


@pytest.mark.parametrize("seed", range(6))
def test_received_finds_every_xref_whatever_the_chunking(seed):
    import random

    rng = random.Random(seed)
    data = bytearray(rng.randbytes(50_000))
    for at in [0, 7, 4093, 4094, 4095, 4096, 20_000, 49_996]:  # around chunk boundaries too
        data[at:at + 4] = b"xref"
    data = bytes(data)
    state = Received()
    position = 0
    while position < len(data):
        step = rng.choice([1, 2, 3, 5, 4096, rng.randrange(1, 9000)])
        piece = data[position:position + step]
        if rng.random() < 0.5:  # the fast writer feeds its bytearray buffers
            buffer = bytearray(len(piece) + 10)
            buffer[:len(piece)] = piece
            state.update(buffer, len(piece))
        else:
            state.update(piece)
        position += len(piece)
    assert list(state.marks) == _all_xrefs(data)
    assert state.sha256 == hashlib.sha256(data).hexdigest()


def test_received_gives_up_its_marks_past_the_limit(monkeypatch):
    monkeypatch.setattr(storage_module, "MAX_XREF_MARKS", 3)
    state = Received()
    state.update(b"xref " * 3)
    assert list(state.marks) == [0, 5, 10]
    state.update(b"xref")
    assert state.marks is None  # pdfcheck then searches the file itself
    assert state.sha256 == hashlib.sha256(b"xref " * 3 + b"xref").hexdigest()


def test_promote_of_content_already_stored_sets_the_copy_aside_until_sweep(tmp_path):
    storage = FastLocalStorage(tmp_path)
    data = b"%PDF-1.7 same bytes"
    key = storage.put_bytes(data)
    _, digest = storage.append(TOKEN, io.BytesIO(data), offset=0, length=len(data))
    assert storage.promote(TOKEN, digest) == key
    assert storage.path(key).read_bytes() == data
    assert [p.name for p in storage.tmp_dir.iterdir()] == [f"{TOKEN}.done"]
    storage.sweep()
    assert list(storage.tmp_dir.iterdir()) == []
    assert storage.path(key).read_bytes() == data


def test_reference_promote_of_content_already_stored_deletes_the_copy_at_once(tmp_path):
    storage = LocalStorage(tmp_path)
    data = b"%PDF-1.7 same bytes"
    key = storage.put_bytes(data)
    _, digest = storage.append(TOKEN, io.BytesIO(data), offset=0, length=len(data))
    assert storage.promote(TOKEN, digest) == key
    assert list(storage.tmp_dir.iterdir()) == []
    assert storage.path(key).read_bytes() == data


def test_sending_a_removed_file_again_deposits_it_and_leaves_no_copy(app, depositor):
    from tests.dossiers.helpers import make_pdf

    data = make_pdf(1, marker="encore")
    first = depositor.upload("sommaire", data, name="encore.pdf").get_json()["file"]
    removed = depositor.client.post(f"/candidat/fichiers/{first['id']}/supprimer",
                                    data={"csrf_token": depositor.token})
    assert removed.status_code == 302
    again = depositor.upload("sommaire", data, name="encore.pdf")
    assert again.status_code == 200
    assert again.get_json()["file"]["sha256"] == hashlib.sha256(data).hexdigest()
    storage = LocalStorage(app.config["STORAGE_DIR"])
    assert storage.path(first["sha256"]).read_bytes() == data
    # The fast writer sets the new copy aside until the response is sent; the
    # reference deletes it at once.
    fast = app.config["DOSSIER_STORAGE_WRITER"] == "fast"
    assert [p.suffix for p in storage.tmp_dir.iterdir()] == ([".done"] if fast else [])
    again.close()  # what the WSGI server does once the response is sent
    assert list(storage.tmp_dir.iterdir()) == []


def test_states_kept_are_bounded_the_oldest_forgotten_first(tmp_path, monkeypatch):
    monkeypatch.setattr(storage_module, "_RECEIVED_KEEP", 3)
    storage = LocalStorage(tmp_path)
    tokens = [c * 24 for c in "abcd"]
    for token in tokens:
        storage.append(token, io.BytesIO(b"%PDF-1.7 x"), offset=0, length=10)
    assert storage.received(tokens[0]) is None  # the oldest, forgotten: hashed from disk
    assert [storage.received(t).sha256 for t in tokens[1:]] == [
        hashlib.sha256(b"%PDF-1.7 x").hexdigest()] * 3
