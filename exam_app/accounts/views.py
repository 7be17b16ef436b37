"""Login, logout and each role's landing page."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    after_this_request,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from exam_app.accounts import throttle, tokens
from exam_app.accounts.forms import (
    ChoosePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    LogoutForm,
    PasswordChangeForm,
)
from exam_app.accounts.mail import Mailer, MailError, MailSettings
from exam_app.accounts.models import Role, TokenPurpose
from exam_app.accounts.services import (
    authenticate,
    change_password,
    end_sessions,
    load_user_from_cookie,
    normalise_username,
    start_login,
)
from exam_app.accounts.throttle import LoginThrottled, ThrottlePolicy, ThrottleScope
from exam_app.clock import to_local, utcnow
from exam_app.errors import Invalid, error_body
from exam_app.extensions import db, login_manager

bp = Blueprint("accounts", __name__)

ROLE_HOMES = {
    Role.GESTIONNAIRE: "enrolment.dashboard",
    Role.CHEF_CENTRE: "overview.centre_home",
    Role.EXAMINATEUR: "juries.home",
    Role.CORRECTEUR: "e6.correcteur_home",
    Role.CANDIDAT: "enrolment.candidate_home",
    Role.JURY_DELIBERATION: "deliberation.home",
    Role.COORDINATEUR_CCF: "ccf.home",
}


@login_manager.user_loader
def _load_user(value: str):
    return load_user_from_cookie(value)


@login_manager.unauthorized_handler
def _unauthorized():
    """To the login page, saying why: a session cookie that no longer opens (its day is
    over, or the key changed) means the session expired; otherwise, not logged in yet."""
    from flask_login.utils import login_url

    expired = bool(request.cookies.get(current_app.config["SESSION_COOKIE_NAME"])) and not session
    if request.is_json or request.accept_mimetypes.best == "application/json":
        # A script asking for JSON (the jury screen) must tell an expired login from an
        # outage: a 401. Fetches of HTML fragments still go to the login page.
        return error_body("session_expired" if expired else "login_required",
                          login_manager.needs_refresh_message if expired
                          else login_manager.login_message), 401
    flash(login_manager.needs_refresh_message if expired else login_manager.login_message, "info")
    return redirect(login_url(login_manager.login_view, next_url=request.url))


@bp.app_context_processor
def _inject_logout_form():
    # formdata=None: never read the request body here; on a 413 error page that
    # read raises again and turns the clear message into a 500.
    return {"logout_form": LogoutForm(formdata=None), "Role": Role, "role_homes": ROLE_HOMES}


def is_safe_next(target: str | None) -> bool:
    """Only same-site absolute paths: '/x', never '//evil', 'https://evil' or '/\\\\evil'."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    # No control characters or spaces: urlsplit drops CR/LF/tab ('/\r\n//evil' would pass
    # as '///evil') and a header cannot hold them (the redirect would be a 500).
    if any(ord(char) < 33 or ord(char) == 127 for char in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and "\\" not in target


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    """Log in with username and password; throttled after repeated failures."""
    if current_user.is_authenticated:
        return redirect(url_for("accounts.home"))
    form = LoginForm(next=request.args.get("next", ""))
    status = 200
    if form.validate_on_submit():
        try:
            user = _checked_login(form.username.data, form.password.data)
        except LoginThrottled as exc:
            return _throttled("accounts/login.html", form, exc)
        if user is None:
            flash("Identifiant ou mot de passe incorrect.", "error")
            status = 401
        else:
            login_user(user)
            # Permanent, so the cookie is re-signed on every request: the login lasts
            # while the user is active and ends after PERMANENT_SESSION_LIFETIME idle.
            session.permanent = True
            target = form.next.data
            return redirect(target if is_safe_next(target) else url_for("accounts.home"))
    elif request.method == "POST":
        status = 400
    return render_template("accounts/login.html", form=form), status


@bp.route("/deconnexion", methods=["POST"])
def logout():
    """Log out (POST with CSRF token, so a link elsewhere cannot log you out)."""
    form = LogoutForm()
    if form.validate_on_submit():
        if current_user.is_authenticated:
            end_sessions(user=current_user)
            db.session.commit()
        logout_user()
        flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/")
@login_required
def home():
    """Send each user to their role's home; let users with several roles choose."""
    roles = sorted(current_user.role_set, key=list(ROLE_HOMES).index)
    if len(roles) == 1:
        return redirect(url_for(ROLE_HOMES[roles[0]]))
    return render_template("accounts/home.html", roles=roles)


def _checked_login(username: str, password: str):
    """The user when ``password`` is theirs, else None; raises LoginThrottled when the
    attempt must wait (accounts/throttle.py). Commits twice: the claim before the password
    check (so the throttle's rows are not held during it), then the outcome. A success
    (re)issues this browser's device cookie for the account."""
    config = current_app.config
    username = normalise_username(username)
    now = utcnow()
    max_age = int(config["LOGIN_DEVICE_COOKIE_DAYS"]) * 86400
    cookie = request.cookies.get(throttle.DEVICE_COOKIE)
    device = throttle.device_for(config["SECRET_KEY"], cookie, username=username,
                                 max_age_seconds=max_age, now=now)
    try:
        claim = start_login(username=username, client=throttle.client_key(request.remote_addr),
                            device=device, policy=ThrottlePolicy.from_config(config), now=now)
    except LoginThrottled as exc:
        db.session.rollback()
        exc.known_browser = device is not None
        raise
    db.session.commit()
    user = authenticate(username=username, password=password, ip=request.remote_addr,
                        claim=claim, now=now)
    db.session.commit()
    if user is not None:
        value = throttle.remember_device(config["SECRET_KEY"], cookie, username=username,
                                         max_age_seconds=max_age, now=now)

        @after_this_request
        def set_device_cookie(response):
            response.set_cookie(throttle.DEVICE_COOKIE, value, max_age=max_age, httponly=True,
                                secure=config["SESSION_COOKIE_SECURE"], samesite="Lax")
            return response
    return user


def _throttled(template: str, form, exc: LoginThrottled):
    """The form again, 429, saying when to retry (Retry-After in seconds)."""
    seconds = exc.retry_after_seconds
    if seconds < 60:
        delay = f"{seconds} seconde{'s' if seconds > 1 else ''}"
    else:
        minutes = math.ceil(seconds / 60)
        delay = f"{minutes} minute{'s' if minutes > 1 else ''}"
    at = to_local(exc.retry_at).strftime("%H:%M:%S")
    message = f"Trop de tentatives de connexion échouées. Réessayez dans {delay} (à {at})."
    if not exc.known_browser:
        message += (" Depuis un navigateur où vous vous êtes déjà connecté, la connexion "
                    "reste possible.")
    flash(message, "error")
    response = current_app.make_response((render_template(template, form=form), 429))
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.route("/compte/mot-de-passe", methods=["GET", "POST"])
@login_required
def change_password_page():
    """Change one's own password (the current one required); the user's other sessions end."""
    form = PasswordChangeForm()
    status = 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:  # the current password is checked like a login: counted and throttled
            verified = _checked_login(user.username, form.current_password.data)
        except LoginThrottled as exc:
            return _throttled("accounts/password.html", form, exc)
        try:
            if verified is None:
                raise Invalid("Le mot de passe actuel est incorrect.", field="current_password")
            change_password(user=user, current_password=form.current_password.data,
                            new_password=form.new_password.data)
        except Invalid as error:
            db.session.rollback()
            getattr(form, error.field or "new_password").errors.append(error.message)
            status = 422
        else:
            db.session.commit()
            login_user(user)  # this session carries the new token; the others end
            flash("Votre mot de passe a été changé. Vos autres sessions sont fermées.", "success")
            return redirect(url_for("accounts.home"))
    elif request.method == "POST":
        status = 400
    return render_template("accounts/password.html", form=form), status


# ---- one-time links: activation and password reset (issue 13, item 3) -----------------

LINK_PAGES = {
    TokenPurpose.ACTIVATION: {
        "heading": "Activer mon compte",
        "intro": "Choisissez votre mot de passe : votre compte sera alors activé et vous serez "
                 "connecté(e).",
        "submit_label": "Activer mon compte",
        "done": "Votre compte est activé. Bienvenue !",
    },
    TokenPurpose.RESET: {
        "heading": "Choisir un nouveau mot de passe",
        "intro": "Choisissez votre nouveau mot de passe : vos sessions ouvertes ailleurs seront "
                 "fermées et vous serez connecté(e) ici.",
        "submit_label": "Enregistrer le mot de passe",
        "done": "Votre mot de passe a été changé.",
    },
}


def _mail_enabled() -> bool:
    return MailSettings.from_config(current_app.config).configured


def _link_unusable(purpose: TokenPurpose, error: tokens.TokenUnusable):
    return render_template("accounts/link_unusable.html", message=error.message,
                           state=error.state.value, purpose=purpose.value,
                           mail_enabled=_mail_enabled()), error.status


def _link_page(token: str, purpose: TokenPurpose):
    """Choose a password through a one-time link; then logged in, home."""
    form = ChoosePasswordForm()
    _, user, state = tokens.find(secret=token, purpose=purpose)
    if state != tokens.TokenState.OPEN:
        return _link_unusable(purpose, tokens.TokenUnusable(state))
    status = 200
    if form.validate_on_submit():
        try:
            user = tokens.use(secret=token, purpose=purpose, password=form.password.data,
                              ip=request.remote_addr)
        except tokens.TokenUnusable as error:
            db.session.rollback()
            return _link_unusable(purpose, error)
        except Invalid as error:
            db.session.rollback()
            form.password.errors.append(error.message)
            status = 422
        else:
            db.session.commit()
            login_user(user)
            session.permanent = True
            flash(LINK_PAGES[purpose]["done"], "success")
            return redirect(url_for("accounts.home"))
    elif request.method == "POST":
        status = 400
    response = current_app.make_response((render_template(
        "accounts/choose_password.html", form=form, user=user, **LINK_PAGES[purpose]), status))
    # The link's secret is in the URL: never sent on to another site.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/compte/activer/<activation_token>", methods=["GET", "POST"])
def activate(activation_token: str):
    """Activate a new account through its one-time link: choose the password."""
    return _link_page(activation_token, TokenPurpose.ACTIVATION)


@bp.route("/compte/reinitialiser/<reset_token>", methods=["GET", "POST"])
def reset_password(reset_token: str):
    """Choose a new password through a one-time reset link."""
    return _link_page(reset_token, TokenPurpose.RESET)


@bp.route("/compte/mot-de-passe-oublie", methods=["GET", "POST"])
def forgot_password():
    """Ask for a reset link by e-mail; the answer never says whether the address exists."""
    config = current_app.config
    form = ForgotPasswordForm()
    settings = MailSettings.from_config(config)
    page = {"form": form, "mail_enabled": settings.configured, "done": False,
            "max_age_label": tokens.duration_label(int(config["RESET_MAX_AGE"]))}
    if not settings.configured:
        return render_template("accounts/forgot_password.html", **page)
    if not form.validate_on_submit():
        return render_template("accounts/forgot_password.html", **page), (
            400 if request.method == "POST" else 200)
    # Each request counts against the client (never settled): beyond a few, waits grow.
    client = throttle.client_key(request.remote_addr) or "-"
    policy = ThrottlePolicy(free_per_client=int(config["RESET_FREE_PER_CLIENT"]),
                            delay_cap_seconds=int(config["LOGIN_DELAY_CAP_SECONDS"]),
                            forget_after_seconds=int(config["LOGIN_FAILURE_WINDOW_SECONDS"]))
    try:
        throttle.claim(keys=[(ThrottleScope.CLIENT, f"reset {client}")], policy=policy)
    except LoginThrottled as exc:
        db.session.rollback()
        wait = tokens.duration_label(exc.retry_after_seconds)
        flash(f"Trop de demandes depuis ce poste. Réessayez dans {wait}.", "error")
        response = current_app.make_response(
            (render_template("accounts/forgot_password.html", **page), 429))
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response
    db.session.commit()
    try:
        # Connected before the address is looked up: an unreachable server answers the
        # same for every address.
        with Mailer(settings) as mailer:
            tokens.request_reset(email=form.email.data, mailer=mailer,
                                 max_age_seconds=int(config["RESET_MAX_AGE"]),
                                 min_interval_seconds=int(config["RESET_MIN_INTERVAL_SECONDS"]),
                                 ip=request.remote_addr)
            db.session.commit()
    except MailError:
        db.session.rollback()
        flash("Le service d'envoi de courriels est momentanément indisponible : aucun courriel "
              "n'a été envoyé. Réessayez plus tard.", "error")
        return render_template("accounts/forgot_password.html", **page), 503
    return render_template("accounts/forgot_password.html", **{
        **page, "done": True, "email": form.email.data.strip()})
