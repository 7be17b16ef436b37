"""A web worker starts without WeasyPrint and Alembic (issue 16): they are imported by
the first document rendered and the first migration, not by ``create_app``; and
``create_app`` opens no database connection (gunicorn ``--preload`` forks after it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from exam_app import create_app
app = create_app({"SQLALCHEMY_DATABASE_URI": sys.argv[1], "SECRET_KEY": "x",
                  "STORAGE_DIR": sys.argv[2]})
loaded = {name: name in sys.modules for name in ("weasyprint", "alembic", "flask_migrate")}
from exam_app.extensions import db
with app.app_context():
    # gunicorn --preload forks after create_app: no connection may be open by then.
    loaded["connections"] = db.engine.pool.checkedin() + db.engine.pool.checkedout()
    # What Flask-Migrate's functions read: set up on first use.
    directory = app.extensions["migrate"].directory
loaded["alembic_after_use"] = "alembic" in sys.modules
print(json.dumps({**loaded, "directory": directory}))
"""


def test_create_app_imports_neither_weasyprint_nor_alembic(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INSTANCE_PATH": str(tmp_path / "instance")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, f"sqlite:///{tmp_path}/probe.db", str(tmp_path / "st")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {"weasyprint": False, "alembic": False, "flask_migrate": False,
                      "connections": 0, "alembic_after_use": True, "directory": str(ROOT / "migrations")}


WSGI_PROBE = """
import gc, json
before = gc.get_freeze_count()
import wsgi
print(json.dumps({"before": before, "after": gc.get_freeze_count(), "enabled": gc.isenabled()}))
"""


def test_wsgi_moves_the_started_app_out_of_the_collectors_reach(tmp_path):
    """``gunicorn wsgi:app``: what the start built is frozen (gc.freeze), the collector still runs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INSTANCE_PATH": str(tmp_path / "instance"),
           "DATABASE_URL": f"sqlite:///{tmp_path}/probe.db", "SECRET_KEY": "x",
           "STORAGE_DIR": str(tmp_path / "st")}
    result = subprocess.run([sys.executable, "-c", WSGI_PROBE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    frozen = json.loads(result.stdout.strip().splitlines()[-1])
    assert frozen["before"] == 0
    assert frozen["after"] > 50_000  # the app's modules, classes and functions
    assert frozen["enabled"]
