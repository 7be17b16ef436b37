"""The browser tests' live servers (``conftest.closing_static``): a static file's
handle is closed before the development server sends it, so a client that drops the
connection never leaves it to the garbage collector (a ResourceWarning, an error in
whichever test runs then)."""

from __future__ import annotations

import io

from werkzeug.test import EnvironBuilder

from tests.browser.conftest import closing_static


def test_a_static_file_is_read_and_closed_before_it_is_sent(app):
    opened = []
    real_open = io.open

    def spying_open(*args, **kwargs):
        handle = real_open(*args, **kwargs)
        opened.append(handle)
        return handle

    import builtins

    environ = EnvironBuilder(path="/static/favicon.svg").get_environ()
    statuses = []
    builtins_open, builtins.open = builtins.open, spying_open
    try:
        body = closing_static(app.wsgi_app)(environ, lambda s, h, e=None: statuses.append(s))
    finally:
        builtins.open = builtins_open
    assert statuses == ["200 OK"]
    assert isinstance(body, list) and b"<svg" in body[0]
    assert opened and all(handle.closed for handle in opened)


def test_other_answers_pass_through(app):
    environ = EnvironBuilder(path="/connexion").get_environ()
    answer = closing_static(app.wsgi_app)(environ, lambda *a: None)
    try:
        assert not isinstance(answer, list)
    finally:
        answer.close()
