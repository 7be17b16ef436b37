"""Settings read from the environment. No secret lives in code."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on", "oui"}


def _int(name: str, default: int) -> int:
    value = (os.environ.get(name) or "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise RuntimeError(f"{name} doit être un entier positif ou nul (reçu « {value} »).")
    return int(value)


def load_secret_key(instance_path: str) -> str:
    """SECRET_KEY from the environment, else one generated once into instance/."""
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: two workers starting at once must agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def from_environment(instance_path: str, *, with_secret: bool = True) -> dict:
    """The configuration mapping for ``create_app``."""
    default_db = "sqlite:///" + str(Path(instance_path) / "exam_app.db")
    database_url = os.environ.get("DATABASE_URL", default_db)
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy wants a driver name.
    if database_url.startswith(("postgres://", "postgresql://")):
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    values = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "STORAGE_DIR": os.environ.get("STORAGE_DIR", str(Path(instance_path).parent / "storage")),
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", True),
        "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", True),
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", ""),
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted
        # (ProxyFix): 0 (default) trusts none, 1 behind one nginx. README, "Production".
        "PROXY_COUNT": _int("PROXY_COUNT", 0),
        # Fast paths: "fast" (default) or "reference" (dossiers/body.py, dossiers/storage.py,
        # dossiers/pdfcheck.py, juries/autosave_reference.py), each beside its fast module
        # with an equivalence test.
        "DOSSIER_BODY_READER": os.environ.get("DOSSIER_BODY_READER") or "fast",
        "DOSSIER_STORAGE_WRITER": os.environ.get("DOSSIER_STORAGE_WRITER") or "fast",
        "DOSSIER_PDF_READER": os.environ.get("DOSSIER_PDF_READER") or "fast",
        "JURY_AUTOSAVE_STORE": os.environ.get("JURY_AUTOSAVE_STORE") or "fast",
        # A change of the agreed mark: "fast" (juries/autosave_mark.py, default, with the
        # fast store) or "reference" (the ordinary autosave path).
        "JURY_MARK_SAVE_PATH": os.environ.get("JURY_MARK_SAVE_PATH") or "fast",
        # The joint validation: "fast" (juries/validation_lean.py, default) or "reference"
        # (juries/validation.py alone).
        "JURY_VALIDATION_PATH": os.environ.get("JURY_VALIDATION_PATH") or "fast",
        # The session dashboard's counts: "fast" (overview/counts_fused.py, one pass over
        # the candidates, default) or "reference" (readiness.session_counts).
        "DASHBOARD_COUNTS_PATH": os.environ.get("DASHBOARD_COUNTS_PATH") or "fast",
        # The deposit dashboard's counts and filtered list: "fast" (dossiers/dashboards_sql.py,
        # SQL aggregates, views for the page only, default) or "reference" (every
        # candidate's view built, dossiers/dashboards.py).
        "DEPOSIT_DASHBOARD_PATH": os.environ.get("DEPOSIT_DASHBOARD_PATH") or "fast",
        # The jury's state read: "fast" (juries/state_lean.py, one Core statement,
        # default) or "reference" (the ORM query and views_api._state).
        "JURY_STATE_PATH": os.environ.get("JURY_STATE_PATH") or "fast",
        # Push (juries/push.py): long polls waiting at once per process, at most; keep it
        # below gunicorn's --threads so that ordinary requests always find a thread.
        "PUSH_MAX_WAITERS": int(os.environ.get("PUSH_MAX_WAITERS") or 112),
        # Outgoing mail (accounts/mail.py): activation and password-reset links. Without
        # MAIL_SERVER and MAIL_FROM nothing is sent (links are handed out as CSV or letters).
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", ""),
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_USE_TLS": _bool("MAIL_USE_TLS", False),
        "MAIL_USE_SSL": _bool("MAIL_USE_SSL", False),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_FROM": os.environ.get("MAIL_FROM", ""),
        # Print packs (documents/packs.py): the print_pack table is the queue every instance
        # shares. A job's runner beats every PRINT_PACK_HEARTBEAT_SECONDS; a job that has
        # not beaten for PRINT_PACK_STALE_SECONDS lost its runner (process or host died) and
        # is taken over by one other process, which looks every PRINT_PACK_POLL_SECONDS
        # (0: never; each process also runs what it was asked for at once). The rendering
        # slots are flocks in PRINT_PACK_SLOT_DIR (default STORAGE_DIR/packs/slots): on
        # several hosts give each host a local directory, so each renders its own slots.
        "PRINT_PACK_HEARTBEAT_SECONDS": _int("PRINT_PACK_HEARTBEAT_SECONDS", 20),
        "PRINT_PACK_STALE_SECONDS": _int("PRINT_PACK_STALE_SECONDS", 120),
        "PRINT_PACK_POLL_SECONDS": _int("PRINT_PACK_POLL_SECONDS", 10),
        "PRINT_PACK_SLOT_DIR": os.environ.get("PRINT_PACK_SLOT_DIR", ""),
        # A name for this instance, sent as X-Served-By when set (several instances behind
        # one proxy: which one answered).
        "INSTANCE_NAME": os.environ.get("INSTANCE_NAME", ""),
        # How long an activation link and a password-reset link stay valid (seconds).
        # PostgreSQL connections per worker: kept open, and more for a burst (README,
        # Production: 15 at most per worker).
        "DATABASE_POOL_SIZE": _int("DATABASE_POOL_SIZE", 10),
        "DATABASE_POOL_OVERFLOW": _int("DATABASE_POOL_OVERFLOW", 5),
        # PostgreSQL's JIT compilation for the app's connections (off: see
        # exam_app._postgresql_engine_options).
        "DATABASE_JIT": _bool("DATABASE_JIT", False),
        # A table that one transaction loaded with this many rows or more gets its planner
        # statistics refreshed after the commit (extensions.analyze_after_bulk_loads); 0: never.
        "DATABASE_ANALYZE_AFTER_ROWS": _int("DATABASE_ANALYZE_AFTER_ROWS", 500),
        "ACTIVATION_MAX_AGE": _int("ACTIVATION_MAX_AGE", 7 * 86400),
        "RESET_MAX_AGE": _int("RESET_MAX_AGE", 3600),
    }
    if with_secret:
        values["SECRET_KEY"] = load_secret_key(instance_path)
    return values


DEFAULTS: dict = {
    # No ping at every checkout: a pooled connection is pinged before use only after it
    # sat idle this long (extensions.ping_idle_connections).
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    "DATABASE_PING_IDLE_SECONDS": 2.0,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    # Sliding expiry: a login is permanent and its cookie re-signed while it is used, so it
    # lasts while the user is active (an open jury screen polls) and ends after this idle time.
    "PERMANENT_SESSION_LIFETIME": 4 * 3600,
    "SESSION_REFRESH_EACH_REQUEST": True,
    # ... at most once this often (accounts/session_cookie.py): the idle limit slides to
    # within a minute, and the jury's frequent requests do not re-sign it each time.
    "SESSION_REFRESH_SECONDS": 60,
    "WTF_CSRF_TIME_LIMIT": 8 * 3600,
    # Largest request body accepted anywhere; uploads set their own lower limits.
    "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,
    # Candidate CSV import limits.
    "IMPORT_MAX_BYTES": 10 * 1024 * 1024,
    "IMPORT_MAX_ROWS": 20_000,
    # Login throttling (accounts/throttle.py): never a lockout, a growing wait. The failures
    # each key forgives: the account from one client, the account from every client
    # without a device cookie, one client for every account, one device cookie. Beyond,
    # the next attempt waits 1, 2, 4... seconds, at most LOGIN_DELAY_CAP_SECONDS; a key's
    # failures are forgotten that long after its last one.
    "LOGIN_FREE_FAILURES_PER_ACCOUNT_CLIENT": 3,
    "LOGIN_FREE_FAILURES_PER_ACCOUNT": 10,
    "LOGIN_FREE_FAILURES_PER_CLIENT": 30,
    "LOGIN_FREE_FAILURES_PER_DEVICE": 5,
    "LOGIN_DELAY_CAP_SECONDS": 300,
    "LOGIN_FAILURE_WINDOW_SECONDS": 15 * 60,
    # A browser the owner logged in from stays known this long (its device cookie).
    "LOGIN_DEVICE_COOKIE_DAYS": 180,
    # Password-reset requests: free ones per client address before the next waits (the
    # login throttle's growing delays), and the least time between two links for one account.
    "RESET_FREE_PER_CLIENT": 5,
    "RESET_MIN_INTERVAL_SECONDS": 120,
    "MAIL_TIMEOUT_SECONDS": 10,
    "CANDIDATES_PER_PAGE": 50,
    # Dossier deposit limits (DOMAIN.md: configurable).
    "DOSSIER_FILE_MAX_BYTES": 20 * 1000 * 1000,
    "DOSSIER_MAX_BYTES": 60 * 1000 * 1000,
    # Unfinished uploads per candidate (their own idle ones make room first), and when
    # an abandoned upload is purged (checked whenever an upload starts; issue 12, item 5).
    "DOSSIER_MAX_OPEN_UPLOADS": 10,
    "DOSSIER_UPLOAD_IDLE_EVICT_MINUTES": 15,
    "DOSSIER_UPLOAD_STALE_HOURS": 24,
    "DOSSIER_MAX_INTERNSHIPS": 30,
    # Print packs rendering at once on this machine (threads, gunicorn workers and the
    # CLI alike; each runs PRINT_PACK_WORKERS processes); the others wait "En attente".
    "PRINT_PACK_SLOTS": 1,
    # Jury day: seconds per exam minute (tests shorten the clock), polling period of the
    # passage screen, and the autosave request limits.
    "JURY_SECONDS_PER_MINUTE": 60,
    "JURY_POLL_MS": 2000,
    "JURY_MAX_JSON_BYTES": 256 * 1024,
    "JURY_MAX_OPS": 100,
    # Push (juries/push.py): a long poll answers after this many seconds unchanged; the
    # watcher reads the waited versions this often; the passage page polls its state this
    # often (ms) while the push works, for its clock samples.
    "PUSH_MAX_WAITERS": 112,
    "PUSH_WAIT_SECONDS": 30,
    "PUSH_TICK_SECONDS": 0.2,
    # The live board's long poll answers a change at most this often per browser (the
    # board promises a change within 2 s: this, plus a tick, plus the answer).
    "PUSH_BOARD_MIN_SECONDS": 1.0,
    "PUSH_POLL_MS": 5000,
    # Autosave through the fast field store (prebuilt statements; one fused statement on
    # PostgreSQL); False selects the plain reference store (juries/autosave_reference.py).
}
