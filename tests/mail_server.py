"""A real SMTP server for the tests (aiosmtpd), on a free port of 127.0.0.1.

``mail_server`` starts one per test, points the app's MAIL_* settings at it and
collects every message it accepts (parsed). ``refuse`` makes it refuse some
recipients (550), as a server does for an unknown mailbox; ``stop`` takes it down
(the port then refuses connections). The app talks to it through smtplib, as in
production: nothing of the mail library is mocked.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

LINK_RE = re.compile(r"https?://\S+")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class _Handler:
    messages: list[EmailMessage] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.casefold() in self.refused:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        self.messages.append(message)
        return "250 Message accepted for delivery"


class MailServer:
    def __init__(self) -> None:
        self.handler = _Handler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.running = False

    def start(self) -> None:
        self.controller.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False

    def config(self) -> dict:
        """The MAIL_* settings that point an app at this server (a live server's app too)."""
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port,
                "MAIL_FROM": "examens@ac-test.fr", "MAIL_USE_TLS": False, "MAIL_USERNAME": ""}

    def refuse(self, *addresses: str) -> None:
        self.handler.refused.update(a.casefold() for a in addresses)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    @staticmethod
    def body(message: EmailMessage) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()

    def links(self, address: str) -> list[str]:
        """The links in the messages sent to ``address``, oldest first."""
        return [link for m in self.to(address) for link in LINK_RE.findall(self.body(m))]


@pytest.fixture()
def mail_server(app):
    """A running SMTP server the app sends to (MAIL_* settings restored afterwards)."""
    server = MailServer()
    server.start()
    saved = {key: app.config.get(key) for key in server.config()}
    app.config.update(server.config())
    yield server
    server.stop()
    app.config.update(saved)
