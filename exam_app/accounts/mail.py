"""Sending e-mail through the académie's SMTP server (smtplib, nothing else).

Settings come from the environment (config.py): MAIL_SERVER, MAIL_PORT,
MAIL_USE_TLS (STARTTLS), MAIL_USE_SSL (SMTPS), MAIL_USERNAME, MAIL_PASSWORD,
MAIL_FROM. Without MAIL_SERVER and MAIL_FROM, nothing is sent: the gestionnaire
hands the links out as a CSV file or printed letters instead.

A ``Mailer`` opens one connection for a batch; a refused connection raises
``MailError`` before anything is sent, and a message the server refuses raises
``MailError`` for that message only, so that the caller reports each person's
outcome and never counts as sent a message the server did not accept.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from exam_app.errors import ServiceError


class MailError(ServiceError):
    """The mail server could not be reached, or refused a message."""

    status = 503
    code = "mail_failed"


@dataclass(frozen=True)
class MailSettings:
    server: str = ""
    port: int = 25
    use_tls: bool = False
    use_ssl: bool = False
    username: str = ""
    password: str = ""
    sender: str = ""
    timeout: float = 10.0

    @classmethod
    def from_config(cls, config: Mapping) -> MailSettings:
        return cls(server=(config.get("MAIL_SERVER") or "").strip(),
                   port=int(config.get("MAIL_PORT") or 25),
                   use_tls=bool(config.get("MAIL_USE_TLS")),
                   use_ssl=bool(config.get("MAIL_USE_SSL")),
                   username=config.get("MAIL_USERNAME") or "",
                   password=config.get("MAIL_PASSWORD") or "",
                   sender=(config.get("MAIL_FROM") or "").strip(),
                   timeout=float(config.get("MAIL_TIMEOUT_SECONDS") or 10))

    @property
    def configured(self) -> bool:
        return bool(self.server and self.sender)

    @property
    def where(self) -> str:
        return f"{self.server}:{self.port}"


def compose(*, sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """A plain-text UTF-8 message."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(body)
    return message


class Mailer:
    """One SMTP connection for a batch: ``with Mailer(settings) as mailer: mailer.send(...)``."""

    def __init__(self, settings: MailSettings):
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        settings = self.settings
        if not settings.configured:
            raise MailError("L'envoi de courriels n'est pas configuré sur ce serveur "
                            "(MAIL_SERVER et MAIL_FROM). Rien n'a été envoyé.")
        try:
            if settings.use_ssl:
                self.smtp = smtplib.SMTP_SSL(settings.server, settings.port,
                                             timeout=settings.timeout,
                                             context=ssl.create_default_context())
            else:
                self.smtp = smtplib.SMTP(settings.server, settings.port,
                                         timeout=settings.timeout)
                if settings.use_tls:
                    self.smtp.starttls(context=ssl.create_default_context())
            if settings.username:
                self.smtp.login(settings.username, settings.password)
        except (OSError, smtplib.SMTPException) as exc:
            self._close()
            raise MailError(f"Le serveur de courriel ({settings.where}) est injoignable ou a "
                            f"refusé la connexion ({_reason(exc)}). Rien n'a été envoyé."
                            ) from exc
        return self

    def send(self, *, to: str, subject: str, body: str) -> None:
        """Hand one message to the server; MailError if it is not accepted."""
        message = compose(sender=self.settings.sender, to=to, subject=subject, body=body)
        try:
            refused = self.smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(f"Adresse {to} refusée par le serveur de courriel.") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"Courriel pour {to} non envoyé ({_reason(exc)}).") from exc
        if refused:
            raise MailError(f"Adresse {to} refusée par le serveur de courriel.")

    def __exit__(self, *exc_info) -> None:
        self._close()

    def _close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connexion refusée"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "délai dépassé"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "identifiants refusés"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"réponse {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "connexion interrompue"
    return type(exc).__name__
