"""Derive what a print template prints, and check the document's signature covers it.

``record_print(app)`` records, while documents are built, (1) each template's
context as rendered, (2) every attribute or item the template reads from it
(Jinja routes ``a.b`` and ``a['b']`` through ``environment.getattr/getitem``) with
its path in the context ("passages[*].candidate.first_name"), and (3) the content
each QR token was signed over. ``uncovered`` then lists the printed paths that
the signed content does not hold, and the templates' top-level names (from
``jinja2.meta``, layouts included) that are neither signed nor a print mark.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from flask import before_render_template
from jinja2 import meta

from exam_app.printing import signing
from exam_app.printing.document import PRINT_MARKS

PRIMITIVES = (str, int, float, bool, type(None), datetime, date, Decimal)
PRINT_DIR = Path(__file__).resolve().parents[2] / "templates" / "print"


def container_paths(value, path: str = "", into: dict | None = None) -> dict[int, str]:
    """id(container) -> its path, for every dict and list inside ``value``."""
    into = {} if into is None else into
    if isinstance(value, dict):
        into[id(value)] = path
        for key, item in value.items():
            container_paths(item, f"{path}.{key}" if path else key, into)
    elif isinstance(value, list | tuple):
        into[id(value)] = path
        for item in value:
            container_paths(item, f"{path}[*]", into)
    return into


def all_paths(value, path: str = "") -> set[str]:
    """Every path inside ``value`` (containers and leaves)."""
    found = {path} if path else set()
    if isinstance(value, dict):
        for key, item in value.items():
            found |= all_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= all_paths(item, f"{path}[*]")
    return found


def impure_leaves(value, path: str = "") -> list[str]:
    """Paths of signed values that are not plain data (a database object hashes as its repr)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in impure_leaves(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [p for v in value for p in impure_leaves(v, f"{path}[*]")]
    return [] if isinstance(value, PRIMITIVES) else [f"{path} ({type(value).__name__})"]


@dataclass
class Render:
    template: str
    context: dict
    paths: dict[int, str]
    read: set[str] = field(default_factory=set)
    # Reads from objects outside the context that are database rows: never signed.
    unsigned_objects: set[str] = field(default_factory=set)


@dataclass
class Recording:
    renders: list[Render] = field(default_factory=list)
    signed: list[tuple[str, object]] = field(default_factory=list)  # (kind, content)
    tokens: list[str] = field(default_factory=list)


@contextlib.contextmanager
def record_print(app):
    recording = Recording()
    env = app.jinja_env
    real_getattr, real_getitem = env.getattr, env.getitem

    def note(obj, name):
        if not recording.renders or isinstance(obj, PRIMITIVES):
            return  # a method of a printed value (str.split...): formatting, not data
        current = recording.renders[-1]
        parent = current.paths.get(id(obj))
        suffix = f".{name}" if isinstance(name, str) else "[*]"  # jurors[0]: any item
        if parent is not None:
            current.read.add(f"{parent}{suffix}" if parent else str(name))
        elif hasattr(obj, "_sa_instance_state"):
            current.unsigned_objects.add(f"{type(obj).__name__}{suffix}")

    def getattr_(obj, attribute):
        note(obj, attribute)
        return real_getattr(obj, attribute)

    def getitem(obj, argument):
        note(obj, argument)
        return real_getitem(obj, argument)

    def on_render(sender, template, context, **extra):
        if (template.name or "").startswith("print/"):
            recording.renders.append(Render(template.name, dict(context),
                                            container_paths(dict(context))))

    real_make_token = signing.make_token

    def make_token(**kwargs):
        recording.signed.append((kwargs["kind"], kwargs["content"]))
        recording.tokens.append(real_make_token(**kwargs))
        return recording.tokens[-1]

    env.getattr, env.getitem = getattr_, getitem
    signing.make_token = make_token
    before_render_template.connect(on_render, app)
    try:
        yield recording
    finally:
        before_render_template.disconnect(on_render, app)
        signing.make_token = real_make_token
        del env.getattr, env.getitem


def template_names(app, name: str) -> set[str]:
    """The top-level names a print template (and the layouts it extends) reads."""
    env = app.jinja_env
    names: set[str] = set()
    pending = [name]
    while pending:
        source = env.loader.get_source(env, pending.pop())[0]
        ast = env.parse(source)
        names |= meta.find_undeclared_variables(ast)
        pending += [t for t in meta.find_referenced_templates(ast) if t]
    return names - set(env.globals)


def uncovered(app, render: Render, content, *, prefix: str = "") -> list[str]:
    """What ``render`` printed that ``content`` (the signed payload) does not cover.

    ``prefix``: where the signed content sits in the template context (a sheet of
    labels signs each label: "sheets[*][*]")."""
    signed = {f"{prefix}.{p}" if prefix else p for p in all_paths(content)}
    missing = sorted(p for p in render.read if p not in signed)
    if not prefix:
        missing += sorted(f"{n} (nom)" for n in template_names(app, render.template)
                          if n not in PRINT_MARKS and n not in signed)
    missing += sorted(f"{o} (objet non signé)" for o in render.unsigned_objects)
    missing += impure_leaves(content)
    return missing
