"""The raw body of an upload request, read with as few copies as the server allows.

Under gunicorn's sync worker, ``request.stream`` goes through werkzeug's
``LimitedStream``, gunicorn's ``Body``, ``LengthReader`` and ``SocketUnreader``:
each 1 MiB read is received into a new bytes object, appended to a
``BytesIO``, copied out by ``getvalue()``, sliced (another copy) and copied
again into the caller's buffer. For a 20 MB upload that was about a third of
the request's time. ``request_body`` returns, when the WSGI server is
gunicorn with a body of known length, a reader whose ``readinto`` hands out
what gunicorn has already buffered and then receives straight from the socket
into the caller's buffer (``socket.recv_into``); anywhere else (the test
client, another server, a chunked body) it returns ``request.stream``.

The byte count gunicorn keeps for the body (``LengthReader.length``) is kept
up to date, so gunicorn still knows where the request ends.
"""

from __future__ import annotations

import socket


def request_body(request):
    """A readable for the request body: ``readinto``/``read``, never past Content-Length."""
    fast = _gunicorn_body(request)
    return fast if fast is not None else request.stream


def _gunicorn_body(request) -> GunicornSocketBody | None:
    environ = request.environ
    sock = environ.get("gunicorn.socket")
    body = environ.get("wsgi.input")
    if not isinstance(sock, socket.socket) or body is None:
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
