"""exam_app: the professional exam units of the BTS SAM (E4, E5, E6)."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask_wtf.csrf import CSRFError
from sqlalchemy.engine import make_url


def create_app(config: dict | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints, CLI."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH") or None,
        template_folder=str(template_folder()),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    # Before any route is added: every <int:...> is bounded by the database's INTEGER.
    from exam_app.db_types import DatabaseIntConverter

    app.url_map.converters["int"] = DatabaseIntConverter
    app.json = _JSONProvider(app)

    from exam_app import config as settings

    config = config or {}
    app.config.update(settings.DEFAULTS)
    app.config.update(
        settings.from_environment(app.instance_path, with_secret="SECRET_KEY" not in config)
    )
    app.config.update(config)
    _trust_proxies(app)

    from exam_app.extensions import csrf, db, init_migrations, login_manager

    _postgresql_engine_options(app)
    db.init_app(app)
    with app.app_context():
        from exam_app.extensions import analyze_after_bulk_loads, ping_idle_connections

        ping_idle_connections(db.engine, float(app.config["DATABASE_PING_IDLE_SECONDS"]))
        analyze_after_bulk_loads(db.engine, int(app.config["DATABASE_ANALYZE_AFTER_ROWS"]))
    init_migrations(app, directory=str(Path(__file__).parent.parent / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    from exam_app.accounts.session_cookie import SlidingSessionInterface

    app.session_interface = SlidingSessionInterface()

    _import_models()

    from exam_app.accounts.views import bp as accounts_bp
    from exam_app.ccf.views import bp as ccf_bp
    from exam_app.documents.views import bp as documents_bp
    from exam_app.dossiers.views import bp as dossiers_bp
    from exam_app.e6.views import bp as e6_bp
    from exam_app.enrolment.views import bp as enrolment_bp
    from exam_app.juries.views import bp as juries_bp
    from exam_app.overview.views import bp as overview_bp
    from exam_app.results.views import bp as results_bp
    from exam_app.results.views_deliberation import bp as deliberation_bp

    app.register_blueprint(accounts_bp)
    app.register_blueprint(enrolment_bp)
    app.register_blueprint(juries_bp)
    app.register_blueprint(e6_bp)
    app.register_blueprint(results_bp)
    app.register_blueprint(deliberation_bp)
    app.register_blueprint(documents_bp)
    app.register_blueprint(overview_bp)
    app.register_blueprint(dossiers_bp)
    app.register_blueprint(ccf_bp)

    register_verification_checks()
    register_results_lock()

    from exam_app import cli, clock, formatting

    clock.set_zone_resolver(_request_zone)

    cli.register(app)
    formatting.register(app)
    _register_errors(app)
    _register_security_headers(app)
    _register_input_guard(app)
    _register_instance_services(app)
    return app


def _register_instance_services(app: Flask) -> None:
    """What each process of each instance runs beside the requests: the watcher that
    takes over print packs whose runner died (started at the process's first request,
    after gunicorn's fork), and the X-Served-By header naming the instance."""
    from exam_app.documents import packs

    @app.before_request
    def start_pack_watcher():
        packs.ensure_watcher(app)

    name = app.config.get("INSTANCE_NAME")
    if name:
        @app.after_request
        def served_by(response):
            response.headers["X-Served-By"] = name
            return response


def _postgresql_engine_options(app: Flask) -> None:
    """PostgreSQL: JIT compilation off (DATABASE_JIT), and each worker keeps
    DATABASE_POOL_SIZE connections open and may open DATABASE_POOL_OVERFLOW more for a
    burst (closed when returned beyond the pool's size). SQLAlchemy's default of 5 + 10
    made a jury day's bursts open and close about ten connections a second (a server
    process started and ended each time, measured with 60 commissions); with 10 kept,
    the same 15 at most. Options given in SQLALCHEMY_ENGINE_OPTIONS win (their
    connect_args' options are kept). SQLite's pools are left as they are."""
    uri = str(app.config.get("SQLALCHEMY_DATABASE_URI") or "")
    if not uri.startswith("postgresql"):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    options.setdefault("pool_size", int(app.config["DATABASE_POOL_SIZE"]))
    options.setdefault("max_overflow", int(app.config["DATABASE_POOL_OVERFLOW"]))
    if str(app.config["DATABASE_JIT"]).strip().lower() not in {"1", "true", "yes", "on", "oui"}:
        # PostgreSQL compiles a statement whose estimated cost passes jit_above_cost
        # (100,000) to machine code before running it. The session dashboard's counts over
        # 5,000 candidates ran in 6 ms and spent 45 ms compiling (EXPLAIN ANALYZE, "JIT":
        # 118 functions), at every request: its correlated EXISTS are costed per
        # candidate. Short OLTP statements never repay that; the server's own setting is
        # left alone (this is the app's connections only).
        # The options given to the driver replace the URL's ``?options=`` and libpq's
        # PGOPTIONS: those are carried over, before the switch.
        connect_args = dict(options.get("connect_args") or {})
        given = connect_args.get("options")
        if given is None:
            in_url = make_url(uri).query.get("options")
            given = (" ".join(in_url) if isinstance(in_url, tuple) else in_url) \
                or os.environ.get("PGOPTIONS")
        connect_args["options"] = " ".join(part for part in (given, "-c jit=off") if part)
        options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _trust_proxies(app: Flask) -> None:
    """Behind PROXY_COUNT reverse proxies, the client's address and scheme are the ones
    the proxies set in X-Forwarded-For/-Proto (werkzeug's ProxyFix). With 0, the
    default, those headers are ignored: a client could write anything in them. The
    login throttle counts failures per client address, so behind a proxy without this
    every user would be one client."""
    count = int(app.config.get("PROXY_COUNT") or 0)
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=0,
                                x_port=0, x_prefix=0)


def _request_zone() -> str | None:
    """The time zone of the session a request is about: the one its URL names, else the
    latest session (loaders of other objects set theirs with ``clock.use_zone``)."""
    from flask import has_request_context, request
    from sqlalchemy.exc import SQLAlchemyError

    from exam_app.enrolment import sessions

    code = None
    if has_request_context() and request.view_args:
        code = request.view_args.get("code")
    try:
        return sessions.zone_of(code=code if isinstance(code, str) else None)
    except SQLAlchemyError:
        # An error page after a failed transaction still renders (in the default zone).
        return None


def template_folder() -> Path:
    """Where the Jinja templates are: the top-level ``templates/`` of a source
    checkout, or ``exam_app/templates`` inside an installed wheel, where
    pyproject.toml maps the top-level folder (``package-dir``)."""
    package = Path(__file__).resolve().parent
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


def register_results_lock() -> None:
    """The délibération's lock, checked by enrolment (a layer below it) before a status or a
    registration changes: they decide results too."""
    from exam_app.deliberation.services import ensure_results_open
    from exam_app.enrolment import results_lock

    results_lock.register(ensure_results_open)


def register_verification_checks() -> None:
    """Every kind of printed document that ``/verifier/<token>`` vouches for, and its check:
    the one place where checks are registered (the printing core knows no feature)."""
    from exam_app.documents import (
        attendance,
        bordereau,
        ccf_bordereau,
        convocation,
        evaluation,
        releve,
    )
    from exam_app.dossiers import receipts
    from exam_app.e6 import documents as e6_documents
    from exam_app.printing import verification
    from exam_app.results import deliberation, e6_bordereau

    checks = {
        receipts.KIND: receipts.check_receipt,
        e6_documents.COPY_KIND: e6_documents.check_copy,
        e6_bordereau.BORDEREAU_KIND: e6_bordereau.check_bordereau,
        deliberation.PV_KIND: deliberation.check_pv,
        e6_documents.SHEET_KIND: e6_documents.check_sheet,
        bordereau.KIND: bordereau.check,
        ccf_bordereau.KIND: ccf_bordereau.check,
        evaluation.KIND: evaluation.check,
        convocation.KIND: convocation.check,
        attendance.KIND: attendance.check,
        releve.KIND: releve.check,
    }
    for kind, check in checks.items():
        verification.register(kind, check)


def _import_models() -> None:
    # Every model module, so that metadata (and Alembic) sees all tables.
    from exam_app.accounts import models as _accounts  # noqa: F401
    from exam_app.audit import models as _audit  # noqa: F401
    from exam_app.deliberation import models as _deliberation  # noqa: F401
    from exam_app.documents import models as _documents  # noqa: F401
    from exam_app.dossiers import models as _dossiers  # noqa: F401
    from exam_app.e6 import models as _e6  # noqa: F401
    from exam_app.enrolment import models as _enrolment  # noqa: F401
    from exam_app.juries import models as _juries  # noqa: F401


ERROR_TEXTS = {
    400: ("Requête invalide", "La requête n'a pas pu être comprise."),
    403: ("Accès refusé", "Vous n'avez pas le droit d'accéder à cette page."),
    404: ("Page introuvable", "Cette page n'existe pas ou a été déplacée."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible sur cette page."),
    413: (
        "Fichier trop volumineux",
        "Le fichier envoyé dépasse la taille autorisée. Rien n'a été enregistré.",
    ),
    429: ("Trop de tentatives", "Trop de tentatives : patientez avant de réessayer."),
    500: (
        "Erreur interne",
        "Une erreur inattendue s'est produite. Rien n'a été enregistré ; "
        "réessayez ou prévenez la division des examens.",
    ),
}


ERROR_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               413: "too_large", 429: "too_many_requests", 500: "internal_error"}


def _register_errors(app: Flask) -> None:
    from exam_app import errors
    from exam_app.errors import error_body, wants_json

    errors.register(app)

    def render(code: int, message: str | None = None):
        title, text = ERROR_TEXTS[code]
        if wants_json():
            return error_body(ERROR_CODES[code], message or text), code
        return render_template("errors/error.html", code=code, title=title,
                               message=message or text), code

    for code in ERROR_TEXTS:
        if code == 500:
            continue
        app.register_error_handler(code, lambda e, code=code: render(code))

    @app.errorhandler(500)
    def internal_error(error):
        from exam_app.extensions import db

        db.session.rollback()
        return render(500)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        from flask_login import current_user

        if wants_json():
            # A script's request: an expired login (401) or a page to reload (400).
            if not current_user.is_authenticated:
                return error_body("session_expired",
                                  "Votre session a expiré : reconnectez-vous."), 401
            return error_body("csrf", "La page a expiré : rechargez-la. "
                              "Rien n'a été enregistré."), 400
        return render(
            400,
            "Le formulaire a expiré ou n'est pas valide (jeton de sécurité manquant). "
            "Rechargez la page et recommencez : rien n'a été enregistré.",
        )


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
)
# No page of the app uses these; a script injected into one would not either.
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), display-capture=()"
)


def _register_security_headers(app: Flask) -> None:
    from flask import session

    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        # Exam centres share PCs: nothing shown to a logged-in user stays in the browser's
        # cache (pages, JSON, files). A stricter value a view set ("private, no-store")
        # stays. The static assets are the same for everyone and stay cacheable.
        if session.get("_user_id") and request.endpoint != "static" \
                and "no-store" not in (response.headers.get("Cache-Control") or ""):
            response.headers["Cache-Control"] = "no-store"
        return response


def _register_input_guard(app: Flask) -> None:
    # PostgreSQL text cannot hold NUL: refuse it up front (a clear 400, not a 500),
    # so every backend behaves the same. Uploaded files are not checked here.
    from flask import abort

    @app.before_request
    def refuse_nul_bytes():
        values = [request.path, *request.args.values()]
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            values.extend(request.form.values())
        if any("\x00" in value for value in values):
            abort(400)

    @app.before_request
    def refuse_deeply_nested_json():
        # One clear 400 for every JSON endpoint. Only bodies within JSON_GUARD_BYTES are
        # read here (a larger one is left to the view's own size check, unparsed); beyond
        # it, _JSONProvider still turns the decoder's RecursionError into a ValueError, so
        # get_json(silent=True) gives None and the view refuses the body itself.
        length = request.content_length
        if not request.is_json or length is None or length > JSON_GUARD_BYTES:
            return
        if request.get_json(silent=True) is not None:  # parsed once, cached for the view
            return
        try:
            app.json.loads(request.get_data(cache=True))
        except JSONTooDeep:
            from exam_app.errors import ServiceError

            raise ServiceError("Requête invalide : le JSON envoyé est trop imbriqué. "
                               "Rien n'a été enregistré.", status=400, code="bad_request") from None
        except ValueError:
            pass  # invalid JSON: the view says so in its own words


JSON_GUARD_BYTES = 256 * 1024


class JSONTooDeep(ValueError):
    """A JSON body nested beyond what Python's decoder can recurse into."""


class _JSONProvider(DefaultJSONProvider):
    """Flask's JSON, where a too deeply nested body is invalid JSON (a ValueError), not a
    RecursionError that even ``get_json(silent=True)`` lets through as a 500."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise JSONTooDeep("JSON nested too deeply") from None
