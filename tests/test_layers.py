"""Packages import only downwards (ARCHITECTURE.md, "Layers").

Every module under ``exam_app/`` is parsed with ``ast``; every import of an
``exam_app`` module counts, including those inside functions (a function-level
import is a dependency all the same). Each module belongs to a package (its
first name under ``exam_app``); a package may import its own modules and the
packages of lower layers, never those of its own layer (``juries`` and ``e6``
sit side by side: neither imports the other) nor of a higher one.

Two exceptions, stated here so that they stay the only ones:
- the composition roots (``exam_app/__init__.py``, ``cli``, ``demo``) may import
  anything: they wire the features together;
- ``permissions.py`` is shared: any package may import it, and it may import the
  ``models`` module of any feature (scope checks read the features' tables) and
  the foundations, nothing else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import exam_app

PACKAGE_DIR = Path(exam_app.__file__).resolve().parent

# Bottom up. Within one layer, packages may import each other, except the
# side-by-side packages of SIDE_BY_SIDE.
LAYERS: list[set[str]] = [
    # Foundations; e4, e5 and the ``definition`` modules of e4|e5|e6 are unit
    # data (see module_package), on the level of ``units`` that registers them.
    {"clock", "config", "extensions", "db_types", "errors", "csv_export", "xlsx_export",
     "downloads", "formatting",
     "units"},
    {"audit", "accounts"},
    {"printing"},
    {"enrolment"},
    {"deliberation"},  # the délibération's state: the lock that juries and e6 ask for
    {"dossiers"},
    {"juries", "e6"},
    {"results"},
    {"documents"},
    # pages that gather several features (session dashboard, centre home; the CCF route)
    {"overview", "ccf"},
]
SIDE_BY_SIDE = {"juries", "e6"}
COMPOSITION_ROOTS = {"__init__", "cli", "demo"}
SHARED = "permissions"

# Known upward imports in packages being reshaped elsewhere (issue 10, §3),
# as (importer, imported): each is a reason the importer must change, not a
# permission. Remove an entry when its import is gone (a test checks that).
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_package(module: str) -> str:
    """The package a module belongs to, for the layer rules."""
    parts = module.split(".")[1:]
    if not parts:
        return "__init__"
    if parts[0] in ("e4", "e5") or (parts[0] == "e6" and parts[1:2] == ["definition"]):
        return "units"  # unit definitions: data registered by units.py
    return parts[0]


def is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    base = PACKAGE_DIR / relative
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """Every ``exam_app`` module that ``path`` imports, anywhere in it, with the line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = module_name(path).split(".")
                base = base[:len(base) - node.level + (path.name == "__init__.py")]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                # ``from exam_app.e6 import services`` imports the module e6.services.
                candidate = f"{source}.{alias.name}"
                found.append((candidate if is_module(candidate) else source, node.lineno))
    return [(name, line) for name, line in found
            if name == "exam_app" or name.startswith("exam_app.")]


def layer_of(package: str) -> int:
    for index, layer in enumerate(LAYERS):
        if package in layer:
            return index
    raise AssertionError(f"package {package!r} is in no layer: add it to LAYERS in "
                         "tests/test_layers.py (and to ARCHITECTURE.md)")


def allowed(importer: str, imported: str, imported_module: str) -> bool:
    if importer == imported or importer in COMPOSITION_ROOTS or imported == SHARED:
        return True
    if importer == SHARED:
        return imported_module.endswith(".models") or layer_of(imported) == 0
    if imported in COMPOSITION_ROOTS:
        return False
    if {importer, imported} <= SIDE_BY_SIDE:
        return False
    return layer_of(imported) <= layer_of(importer)


def upward_imports() -> list[tuple[str, str, str, str]]:
    """(importer package, imported package, where, imported module) of each forbidden import."""
    bad = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        module = module_name(path)
        importer = module_package(module)
        for name, line in imported_modules(path):
            imported = module_package(name)
            if not allowed(importer, imported, name):
                where = f"{path.relative_to(PACKAGE_DIR.parent)}:{line}"
                bad.append((importer, imported, where, name))
    return bad


def test_every_package_has_a_layer():
    packages = {module_package(module_name(p)) for p in PACKAGE_DIR.rglob("*.py")}
    for package in packages - COMPOSITION_ROOTS - {SHARED}:
        layer_of(package)


def test_packages_import_only_downwards():
    unexpected = [f"{where}: {importer} imports {name} ({imported} is not below {importer})"
                  for importer, imported, where, name in upward_imports()
                  if (importer, imported) not in KNOWN_UPWARD]
    assert not unexpected, "\n".join(unexpected)


def test_known_upward_imports_still_exist():
    # An entry whose import is gone must leave the list, so that it cannot come back unseen.
    present = {(importer, imported) for importer, imported, _, _ in upward_imports()}
    assert set(KNOWN_UPWARD) <= present, set(KNOWN_UPWARD) - present


def test_the_checker_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text("def f():\n    from exam_app.juries import lifecycle\n"
                      "    import exam_app.documents.views\n")
    assert [name for name, _ in imported_modules(source)] == [
        "exam_app.juries.lifecycle", "exam_app.documents.views"]
    assert not allowed("printing", "juries", "exam_app.juries.lifecycle")
    assert not allowed("e6", "juries", "exam_app.juries.lifecycle")
    assert allowed("documents", "juries", "exam_app.juries.lifecycle")
    assert allowed("permissions", "juries", "exam_app.juries.models")
    assert not allowed("permissions", "juries", "exam_app.juries.lifecycle")
