"""The session cookie, re-signed while the user is active, at most once a minute.

A login is permanent with a sliding expiry (``PERMANENT_SESSION_LIFETIME`` idle
ends it): Flask's ``SESSION_REFRESH_EACH_REQUEST`` re-signs and re-sends the
cookie on every response for that. On an exam day most requests are the jury
screens' long polls and saves, several a second per room, and re-serialising,
compressing and signing the cookie was a tenth of a long poll's time, for an
expiry that moved by a second. Here the cookie is re-signed when the session
changed, as always, and otherwise only once its signature is
``SESSION_REFRESH_SECONDS`` old: the idle limit slides as before, to within
that many seconds.
"""

from __future__ import annotations

from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature


class _Session(SecureCookieSession):
    #: When the cookie this session was read from was signed (seconds since the epoch,
    #: the signer's clock); None for a new session.
    signed_at: int | None = None


class SlidingSessionInterface(SecureCookieSessionInterface):
    session_class = _Session

    def open_session(self, app, request):
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        session = self.session_class(data)
        session.signed_at = int(signed_at.timestamp())
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
