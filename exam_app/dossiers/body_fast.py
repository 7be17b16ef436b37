"""The fast reader of an upload's raw body: straight from gunicorn's socket.

Under gunicorn's sync worker, ``request.stream`` goes through werkzeug's
``LimitedStream``, gunicorn's ``Body``, ``LengthReader`` and ``SocketUnreader``:
each 1 MiB read is received into a new bytes object, appended to a
``BytesIO``, copied out by ``getvalue()``, sliced (another copy) and copied
again into the caller's buffer. For a 20 MB upload that was about a third of
the request's time. ``request_body`` returns, when the WSGI server is
gunicorn with a body of known length, a reader whose ``readinto`` hands out
what gunicorn has already buffered and then receives straight from the socket
into the caller's buffer (``socket.recv_into``); anywhere else (the test
client, another server, a chunked body) it returns the reference reader
(``body.request_body``: werkzeug's ``request.stream``).

The byte count gunicorn keeps for the body (``LengthReader.length``) is kept
up to date, so gunicorn still knows where the request ends.

This reaches into gunicorn's private classes, so it runs only on the gunicorn
versions it was written and tested against (``GUNICORN_VERSIONS``); on any
other version it logs one line and the reference reader is used.
"""

from __future__ import annotations

import logging
import socket

from exam_app.dossiers import body as reference

log = logging.getLogger(__name__)

# [lowest, highest) gunicorn (major, minor) whose private body classes this reader
# was written against (27.0.1: Body.buf, LengthReader.length/unreader,
# SocketUnreader.sock/buf). Widen only after re-running tests/dossiers/test_upload_io.py
# and test_fast_paths.py against the new version.
GUNICORN_VERSIONS = ((27, 0), (27, 1))
_logged: set[str] = set()


def _log_once(reason: str, level: int, message: str, *args) -> None:
    """One log line per process and reason, not one per request."""
    if reason not in _logged:
        _logged.add(reason)
        log.log(level, message, *args)


def gunicorn_supported() -> bool:
    """Whether the installed gunicorn is one this reader was written against."""
    try:
        import gunicorn
    except ImportError:  # pragma: no cover - gunicorn is a dependency
        return False
    version = tuple(getattr(gunicorn, "version_info", ())[:2])
    low, high = GUNICORN_VERSIONS
    return low <= version < high


def request_body(request):
    """A readable for the request body: ``readinto``/``read``, never past Content-Length."""
    fast = _gunicorn_body(request)
    return fast if fast is not None else reference.request_body(request)


def _gunicorn_body(request) -> GunicornSocketBody | None:
    environ = request.environ
    sock = environ.get("gunicorn.socket")
    body = environ.get("wsgi.input")
    if not isinstance(sock, socket.socket) or body is None:
        _log_once("server", logging.INFO, "Upload body: not under gunicorn, the reference reader is used.")
        return None
    if not gunicorn_supported():
        import gunicorn

        _log_once("version", logging.WARNING, "Upload body: gunicorn %s is outside the versions "
                  "the fast reader was written for (%s); the reference reader is used.",
                  getattr(gunicorn, "__version__", "?"), GUNICORN_VERSIONS)
        return None
    # A request over the global limit must get werkzeug's 413, not be read.
    if request.content_length is None or (
            request.max_content_length is not None
            and request.content_length > request.max_content_length):
        return None
    try:
        from gunicorn.http.body import Body, LengthReader
        from gunicorn.http.unreader import SocketUnreader
    except ImportError:  # pragma: no cover - gunicorn is a dependency
        return None
    if type(body) is not Body or type(body.reader) is not LengthReader:
        return None
    if type(body.reader.unreader) is not SocketUnreader or body.reader.unreader.sock is not sock:
        return None
    if body.reader.length + _buffered(body.buf) != request.content_length:
        return None  # something already read part of the body: let gunicorn go on
    return GunicornSocketBody(body, sock)


def _buffered(buf) -> int:
    buf.seek(0, 2)
    return buf.tell()


class GunicornSocketBody:
    """``readinto`` for a gunicorn request body of known length, straight from the socket."""

    def __init__(self, body, sock: socket.socket):
        self._body = body
        self._reader = body.reader
        self._unreader = body.reader.unreader
        self._sock = sock

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view):
            return 0
        # Bytes gunicorn already holds (read with the headers, or by an earlier
        # read through it) come first, through its own API.
        held = _buffered(self._body.buf) + min(_buffered(self._unreader.buf), self._reader.length)
        if held:
            data = self._body.read(min(held, len(view)))
            view[:len(data)] = data
            return len(data)
        want = min(len(view), self._reader.length)
        if want <= 0:
            return 0
        try:
            n = self._sock.recv_into(view[:want])
        except Exception:
            self._body.failed = True  # the connection must not be reused
            raise
        self._reader.length -= n
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = _buffered(self._body.buf) + self._reader.length
        buffer = bytearray(size)
        n = self.readinto(buffer)
        return bytes(buffer[:n])
