"""The app as the autosave bench serves it: ``wsgi:app`` plus one bare endpoint.

``gunicorn 'bench.autosave_app:create_bench_app()'`` (the bench only; production
serves ``wsgi:app``, which has no such route). ``GET /bench/nu`` is the baseline the
autosave's targets are set against (issue 16 §3): a Flask endpoint of the same
app, behind the same hooks (session cookie, security headers, input guards),
that answers the server time as ``/jury/heure`` does, without login and
without the database.
"""

from __future__ import annotations

from flask import Flask, jsonify

from exam_app import create_app
from exam_app.clock import utcnow
from exam_app.juries.blueprint import ms


def add_bare_endpoint(app: Flask) -> Flask:
    """``app`` with ``GET /bench/nu``: the server time, no login, no database."""

    def bare():
        return jsonify({"server_time": ms(utcnow())})

    app.add_url_rule("/bench/nu", "bench_bare", bare)
    return app


def create_bench_app() -> Flask:
    """The app of ``wsgi:app`` (configured from the environment) with the bare endpoint."""
    return add_bare_endpoint(create_app())
