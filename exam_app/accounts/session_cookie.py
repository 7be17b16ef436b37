"""The session cookie, re-signed while the user is active, at most once a minute, and
verified once per process.

A login is permanent with a sliding expiry (``PERMANENT_SESSION_LIFETIME`` idle
ends it): Flask's ``SESSION_REFRESH_EACH_REQUEST`` re-signs and re-sends the
cookie on every response for that. On an exam day most requests are the jury
screens' long polls and saves, several a second per room, and re-serialising,
compressing and signing the cookie was a tenth of a long poll's time, for an
expiry that moved by a second. Here the cookie is re-signed when the session
changed, as always, and otherwise only once its signature is
``SESSION_REFRESH_SECONDS`` old: the idle limit slides as before, to within
that many seconds.

Reading it was another tenth of a jury request (profiled under the jury-day load:
the signature's key derived and checked, the payload inflated and decoded, on every
request of the same page with the same cookie). A cookie, byte for byte, always
verifies the same way: the first request of a process that carries it verifies it
(Flask's serializer: signature, timestamp, payload), and the next ones with the
same cookie reuse what it held, its age checked again against
``PERMANENT_SESSION_LIFETIME`` at each request, as itsdangerous does. A cookie that
fails is never remembered. At most ``DECODED_CACHE_SIZE`` cookies are remembered
per process (the oldest forgotten first); a session's lists and dicts are copied
for each request (``flash`` appends to one).
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict

from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

DECODED_CACHE_SIZE = 4096


class _Session(SecureCookieSession):
    #: When the cookie this session was read from was signed (seconds since the epoch,
    #: the signer's clock); None for a new session.
    signed_at: int | None = None


class SlidingSessionInterface(SecureCookieSessionInterface):
    session_class = _Session

    def __init__(self) -> None:
        self._serializers: dict = {}  # (keys...) -> the signing serializer
        self._decoded: OrderedDict[tuple, tuple[dict, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get_signing_serializer(self, app):
        if not app.secret_key:
            return None
        keys = (*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key)
        serializer = self._serializers.get(keys)
        if serializer is None:  # built once per set of keys, not at every request
            serializer = self._serializers[keys] = super().get_signing_serializer(app)
        return serializer

    def open_session(self, app, request):
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        cache_key = (id(serializer), value)  # one serializer per set of secret keys
        known = self._decoded.get(cache_key)
        if known is not None:
            data, signed_at = known
            age = serializer.make_signer().get_timestamp() - signed_at
            if age < 0 or age > max_age:  # expired (itsdangerous: SignatureExpired)
                return self.session_class()
        else:
            try:
                data, signed = serializer.loads(value, max_age=max_age, return_timestamp=True)
            except BadSignature:
                return self.session_class()
            signed_at = int(signed.timestamp())
            with self._lock:
                self._decoded[cache_key] = (data, signed_at)
                while len(self._decoded) > DECODED_CACHE_SIZE:
                    self._decoded.popitem(last=False)
        session = self.session_class({
            key: copy.deepcopy(item) if isinstance(item, (list, dict)) else item
            for key, item in data.items()})
        session.signed_at = signed_at
        return session

    def should_set_cookie(self, app, session) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        signed_at = getattr(session, "signed_at", None)
        if signed_at is None:
            return True
        now = self.get_signing_serializer(app).make_signer().get_timestamp()
        return now - signed_at >= app.config.get("SESSION_REFRESH_SECONDS", 60)
