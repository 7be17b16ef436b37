"""The upload's I/O path below the views: gunicorn's socket read, the streaming
JavaScript scan and the storage copy (hash, watchers, lost connections).

Storage tests run on both writers (``FastLocalStorage``, the default, and the
reference ``LocalStorage``); ``test_fast_paths.py`` compares them directly."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
from types import SimpleNamespace

import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader

from exam_app.dossiers import pdfcheck
from exam_app.dossiers.body_fast import GunicornSocketBody, gunicorn_supported, request_body
from exam_app.dossiers.storage import CHUNK_SIZE, ClientDisconnected, LocalStorage
from exam_app.dossiers.storage_fast import FastLocalStorage

TOKEN = "t" * 24


def _scan(chunks: list[bytes]) -> bool:
    scanner = pdfcheck.ActiveContentScanner()
    for chunk in chunks:
        scanner.feed(memoryview(bytearray(chunk)))
    return scanner.found


SAMPLES = [
    b"<< /S /JavaScript /JS (app.alert(1)) >>",
    b"<< /JS\n\n  <6170703b> >>",
    b"/JS" + b" " * 600 + b"(x)",
    b"x" * 300 + b"/JS" + b"\n" * 300 + b"<",
    b"/Java /JS /J/JSx /JavaScrip",
    b"/JS" + b" " * 600 + b"x(",
    b"plain text without any action / J S",
]


@pytest.mark.parametrize("data", SAMPLES)
def test_scanner_agrees_with_a_whole_file_search_at_every_split(data):
    expected = pdfcheck._ACTIVE.search(data) is not None
    for cut in range(len(data) + 1):
        assert _scan([data[:cut], data[cut:]]) is expected, cut
    assert _scan([data[i:i + 1] for i in range(len(data))]) is expected


@pytest.mark.parametrize("data", SAMPLES[:4])
def test_scanner_finds_a_match_across_its_internal_slices_of_a_big_chunk(data):
    step = pdfcheck.ActiveContentScanner.STEP
    for shift in range(1, len(data)):
        chunk = b"z" * (step - shift) + data + b"z" * step
        assert _scan([chunk]), shift


def _stream_object(data: bytes, length: bytes | None = None, number: int = 1) -> bytes:
    length = str(len(data)).encode() if length is None else length
    return (b"%d 0 obj\n<< /Filter /FlateDecode /Length " % number + length + b" >>\nstream\n"
            + data + b"\nendstream\nendobj\n")


JS_DICT = b"2 0 obj\n<< /S /JavaScript /JS (app.alert(1)) >>\nendobj\n"
JS_IN_DATA = b"x" * 5000 + b"/S /JavaScript /JS (not an action: stream data)" + b"y" * 70000


def _scanned(data: bytes, cuts=()) -> pdfcheck.ActiveContentScanner:
    scanner = pdfcheck.ActiveContentScanner()
    edges = [0, *cuts, len(data)]
    for a, b in zip(edges, edges[1:], strict=False):
        scanner.feed(memoryview(bytearray(data[a:b])))
    return scanner


def _cuts(data: bytes) -> list[tuple]:
    """Splits in the dictionary, the keyword, the data, the end keyword and the JS."""
    marks = [data.index(k) for k in (b"/Length", b"stream\n", b"endstream", b"/JavaScript")
             if k in data]
    return [()] + [(m + d,) for m in marks for d in (-1, 0, 1, 3)]


def test_scanner_skips_stream_data_of_declared_length_but_not_what_follows():
    skipped = b"%PDF-1.7\n" + _stream_object(JS_IN_DATA)
    followed = skipped + JS_DICT
    for cuts in _cuts(followed):
        scanner = _scanned(followed, cuts)
        assert (scanner.found, scanner.complete) == (True, True), cuts
    for cuts in _cuts(skipped):
        scanner = _scanned(skipped, cuts)
        # JavaScript-looking bytes inside stream data are not an action.
        assert (scanner.found, scanner.complete) == (False, True), cuts


def test_scanner_searches_an_object_stream_whose_data_are_objects():
    objects = b"2 0 << /S /JavaScript /JS (app.alert(1)) >>"
    data = (b"%PDF-1.7\n" + b"1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Length %d >>\nstream\n"
            % len(objects) + objects + b"\nendstream\nendobj\n")
    for cuts in _cuts(data):
        assert _scanned(data, cuts).found is True, cuts


def test_scanner_reports_the_byte_ranges_it_skipped():
    data = b"%PDF-1.7\n" + _stream_object(JS_IN_DATA) + _stream_object(b"abc", number=3)
    first = data.index(b"stream\n") + len(b"stream\n")
    second = data.index(b"stream\n", data.index(b"3 0 obj")) + len(b"stream\n")
    for cuts in _cuts(data):
        assert _scanned(data, cuts).skipped == [(first, first + len(JS_IN_DATA)),
                                                (second, second + 3)], cuts


def test_scanner_searches_a_stream_of_indirect_length():
    data = b"%PDF-1.7\n" + _stream_object(JS_IN_DATA, length=b"5 0 R")
    for cuts in _cuts(data):
        assert _scanned(data, cuts).found is True, cuts


def test_scanner_says_incomplete_when_a_declared_length_is_wrong():
    # The length hides the JavaScript dictionary that follows: the scanner must not
    # vouch for the file (the deposit then scans the whole file, see below).
    data = (b"%PDF-1.7\n" + _stream_object(b"z" * 1000, length=b"1100") + JS_DICT
            + b"z" * 200)
    for cuts in _cuts(data):
        scanner = _scanned(data, cuts)
        assert (scanner.found, scanner.complete) == (False, False), cuts
    short = b"%PDF-1.7\n" + _stream_object(b"z" * 1000, length=b"99999")
    assert _scanned(short).complete is False


def test_scanner_expectations_on_the_samples():
    assert [pdfcheck._ACTIVE.search(d) is not None for d in SAMPLES] == [
        True, True, True, True, False, False, False]


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
def test_append_hashes_and_scans_across_the_chunk_boundary(tmp_path, storage_class):
    action = b"/S /JavaScript /JS (app.alert(1))"
    data = b"%PDF-1.7\n" + b"z" * (CHUNK_SIZE - 20) + action + b"z" * 1000
    assert data.index(action) < CHUNK_SIZE < data.index(action) + len(action)
    scanner = pdfcheck.ActiveContentScanner()
    held, digest = storage_class(tmp_path).append(
        TOKEN, io.BytesIO(data), offset=0, length=len(data), watchers=[scanner.feed])
    assert (held, digest, scanner.found) == (len(data), hashlib.sha256(data).hexdigest(), True)


class _ReadOnly:
    """A stream with ``read`` only, returning short reads."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def read(self, size: int) -> bytes:
        return self._data.read(min(size, 7000))


@WRITERS
def test_append_resumed_at_an_offset_returns_no_hash_and_feeds_no_watcher(tmp_path, storage_class):
    storage = storage_class(tmp_path)
    data = bytes(range(256)) * 100
    seen = []
    assert storage.append(TOKEN, _ReadOnly(data[:1000]), offset=0, length=1000,
                          watchers=[lambda c: seen.append(len(c))]) == (
        1000, hashlib.sha256(data[:1000]).hexdigest())
    assert storage.append(TOKEN, _ReadOnly(data[1000:]), offset=1000, length=len(data) - 1000,
                          watchers=[lambda c: seen.append(-1)]) == (len(data), None)
    assert seen == [1000]
    assert storage.temp_path(TOKEN).read_bytes() == data


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
