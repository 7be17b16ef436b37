"""The demo builds its session through the public services only (issue 13: "no direct
model writes outside tests and migrations"): a scan of the demo modules' source finds
every model constructed, every write through the database session or SQL, and every
attribute written on an object."""

from __future__ import annotations

import ast
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from exam_app.extensions import db

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODULES = sorted([ROOT / "exam_app" / "demo.py", *(ROOT / "exam_app").glob("*/demo.py")])

SESSION_WRITES = {"add", "add_all", "delete", "merge", "execute", "connection",
                  "bulk_save_objects", "bulk_insert_mappings", "bulk_update_mappings"}
COLLECTION_WRITES = {"append", "extend", "insert", "remove", "pop", "clear", "add", "discard",
                     "update", "setdefault"}
SQL_WRITES = {sa.insert, sa.update, sa.delete}


@dataclass(frozen=True, order=True)
class Write:
    path: str
    function: str  # the top-level function, or Class.method
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}: {self.what}"


def model_classes() -> set[type]:
    return {mapper.class_ for mapper in db.Model.registry.mappers}


def model_mutators() -> set[str]:
    """Public methods of the models that change their object (``user.set_password``)."""
    names = set()
    for cls in model_classes():
        for name, value in vars(cls).items():
            if inspect.isfunction(value) and name.startswith(("set_", "refresh_", "rotate_")):
                names.add(name)
    return names


def _imported(tree: ast.AST, package: str) -> dict[str, object]:
    """What each name imported anywhere in the module is bound to."""
    bound: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module = importlib.import_module(alias.name)
                if alias.asname:
                    bound[alias.asname] = module
                else:
                    top = alias.name.split(".")[0]
                    bound[top] = importlib.import_module(top)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                if node.level else node.module
            module = importlib.import_module(base)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if value is None:
                    value = importlib.import_module(f"{base}.{alias.name}")
                bound[alias.asname or alias.name] = value
    return bound


def _resolve(node: ast.expr, bound: dict[str, object]):
    """The object a name or a module's attribute stands for, or None."""
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, bound)
        if inspect.ismodule(owner):
            return getattr(owner, node.attr, None)
    return None


def _is_self(node: ast.expr) -> bool:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return isinstance(node, ast.Name) and node.id == "self"


def _writes(func: ast.Attribute, bound: dict[str, object], mutators: set[str]) -> bool:
    """A method call that writes: the database session's, a model's mutating method, or
    a collection reached through an object (``user.roles.append``)."""
    on_module = inspect.ismodule(_resolve(func.value, bound))
    if func.attr in SESSION_WRITES and ast.unparse(func.value).split(".")[-1] == "session":
        return True
    if func.attr in mutators and not on_module:
        return True
    return (func.attr in COLLECTION_WRITES and isinstance(func.value, ast.Attribute)
            and not _is_self(func.value) and not on_module)


def scan(source: str, *, path: str, package: str = "exam_app") -> list[Write]:
    """Every direct write in ``source``: models constructed, session or SQL writes,
    attributes set, a model's mutating method or collection called."""
    tree = ast.parse(source)
    bound = _imported(tree, package)
    models, mutators = model_classes(), model_mutators()
    writes: list[Write] = []

    def visit(node: ast.AST, function: str) -> None:
        def found(what: str) -> None:
            writes.append(Write(path, function, node.lineno, what))

        if isinstance(node, ast.Call):
            func = node.func
            target = _resolve(func, bound)
            text = ast.unparse(func)
            if isinstance(target, type) and target in models:
                found(f"constructs {target.__name__}")
            elif target in SQL_WRITES:
                found(f"SQL {text}()")
            elif isinstance(func, ast.Name) and func.id in {"setattr", "delattr"}:
                found(f"{func.id}()")
            elif isinstance(func, ast.Attribute) and target is None and _writes(func, bound,
                                                                                mutators):
                found(f"{text}()")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                for element in (target.elts if isinstance(target, ast.Tuple) else [target]):
                    if isinstance(element, ast.Attribute) and not _is_self(element):
                        found(f"sets {ast.unparse(element)}")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    for top in tree.body:
        if isinstance(top, ast.ClassDef):
            for item in top.body:
                name = getattr(item, "name", None)
                visit(item, f"{top.name}.{name}" if name else top.name)
        else:
            visit(top, getattr(top, "name", "<module>"))
    return sorted(writes)


def _demo_writes() -> list[Write]:
    writes = []
    for path in DEMO_MODULES:
        relative = path.relative_to(ROOT).as_posix()
        package = ".".join(relative.removesuffix(".py").split("/")[:-1])
        writes += scan(path.read_text(encoding="utf-8"), path=relative, package=package)
    return writes


def test_demo_modules_write_only_through_services(app):
    assert [p.relative_to(ROOT).as_posix() for p in DEMO_MODULES] == [
        "exam_app/demo.py", "exam_app/dossiers/demo.py", "exam_app/e6/demo.py"]
    direct = [str(w) for w in _demo_writes()]
    assert direct == [], "the demo must write through the public services:\n" + "\n".join(direct)


SAMPLE = '''
import sqlalchemy as sa
from exam_app.extensions import db
from exam_app.enrolment.models import Candidate, Centre
from exam_app.accounts import services
from exam_app.e6 import sitting


class Counter:
    def bump(self):
        self.count += 1
        self.names.append(1)


def reads(session):
    found = db.session.scalars(sa.select(Candidate).where(Candidate.session_id == 1)).all()
    logins = []
    logins.append(found)
    services.set_password(user=found[0], password="x")
    sitting.add_room(centre=None, name="A", starts_at=None, capacity=1, actor=None)
    db.session.flush()
    return Candidate.sits_in("E5", "ccf")


def writes(user, candidate):
    centre = Centre(code="X")
    db.session.add(centre)
    db.session.execute(sa.update(Candidate).values(extra_time=None))
    candidate.centre, candidate.extra_time = centre, None
    candidate.updated_at += 1
    setattr(candidate, "email", None)
    user.set_password("x")
    candidate.refresh_search_text()
    user.roles.append(None)
'''


def test_the_scan_finds_each_kind_of_write_and_no_read(app):
    assert [(w.function, w.line, w.what) for w in scan(SAMPLE, path="sample.py")] == [
        ("writes", 26, "constructs Centre"),
        ("writes", 27, "db.session.add()"),
        ("writes", 28, "SQL sa.update()"),
        ("writes", 28, "db.session.execute()"),
        ("writes", 29, "sets candidate.centre"),
        ("writes", 29, "sets candidate.extra_time"),
        ("writes", 30, "sets candidate.updated_at"),
        ("writes", 31, "setattr()"),
        ("writes", 32, "user.set_password()"),
        ("writes", 33, "candidate.refresh_search_text()"),
        ("writes", 34, "user.roles.append()"),
    ]
