"""A non-editable install (`pip install .`, the README's production install)
carries the templates that live at the top level of the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_lists_every_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "exam_app").rglob("__init__.py")
    }
    listed = set(config["packages"])
    assert on_disk | {"exam_app.templates"} == listed
    assert config["package-dir"] == {"exam_app.templates": "templates"}


def test_source_tree_templates_are_at_the_top_level():
    from exam_app import template_folder

    assert template_folder() == ROOT / "templates"
    assert not (ROOT / "exam_app" / "templates").exists()


def test_installed_wheel_renders_pages_and_print_templates(tmp_path):
    # Build from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("exam_app", "templates"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
        check=True, capture_output=True,
    )
    (wheel,) = wheels.glob("exam_app-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True, capture_output=True,
    )
    script = """
from exam_app import create_app, template_folder
app = create_app({"TESTING": True, "SECRET_KEY": "k", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
print(template_folder())
print(app.jinja_env.get_template("print/receipt.html").filename)
with app.test_client() as client:
    response = client.get("/connexion")
    print(response.status_code, "Connexion" in response.get_data(as_text=True))
"""
    env = {**os.environ, "PYTHONPATH": str(target), "INSTANCE_PATH": str(tmp_path / "instance")}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    assert out == [
        str(target / "exam_app" / "templates"),
        str(target / "exam_app" / "templates" / "print" / "receipt.html"),
        "200 True",
    ]
