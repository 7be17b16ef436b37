"""The autosave's fast store and its plain reference agree.

The same script of saves (new values, a replay of the same op id, stale
versions, the same edit from both jurors, batches, refused values, unknown
fields, private grids, validations cleared by a later save, a final mark)
goes through the autosave endpoint once with ``JURY_AUTOSAVE_STORE`` fast and
once with it off, each on a passage of its own. The responses and the rows
(grid values, versions, authors and times, the agreed revision, the
operation records, validations and the audit trail) must be the same once
ids are named by role. On PostgreSQL the fast run takes the fused
statement; on SQLite it takes the prebuilt statements.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.juries import autosave, autosave_lone, autosave_mark
from exam_app.juries.autosave_fast import FastStore
from exam_app.juries.autosave_reference import ReferenceStore
from exam_app.juries.models import ClientOperation, Grid, GridField, Passage, Validation
from tests.conftest import PASSWORD, IsolatedClient, csrf_token_from
from tests.juries.helpers import complete_grid

NOW = datetime(2027, 5, 12, 8, 30, tzinfo=UTC)

# (juror, grid, ops or "validate", note): ops are (op, field, value, base); op ids get
# the run's prefix, so both runs can share the database.
SCRIPT = [
    ("a", "commune", [("o1", "c:outils_maitrise", "TS", 0)], "one new field (fused on PostgreSQL)"),
    ("a", "commune", [("o1", "c:outils_maitrise", "TS", 0)], "replay of the same op id"),
    ("b", "commune", [("o2", "c:outils_maitrise", "S", 0)], "stale version: conflict"),
    ("b", "commune", [("o3", "c:outils_maitrise", "TS", 0)], "stale, but the same value: ok"),
    ("a", "commune", [("o4", "mark", "12", 0), ("o5", "appreciation", "Bien", 0),
                      ("o6", "s:performance", "Solide", 0)], "a batch"),
    ("a", "commune", [("o7", "mark", "12,5", 1)], "mark changed: audited"),
    ("a", "commune", [("o8", "mark", "21", 2)], "refused value"),
    ("a", "commune", [("o9", "appreciation", "Très bien", 1), ("o10", "c:outils_pertinence", "ZZ", 0)],
     "a batch with a refused level: nothing applied"),
    ("a", "commune", [("o11", "c:inconnu", "TS", 0)], "unknown field"),
    ("b", "commune", [("o12", "mark", "13", 0)], "stale mark: conflict"),
    ("a", "commune", [("o13", "mark", "13", 2), ("o13", "appreciation", "x", 1)],
     "the same op id twice"),
    ("a", "commune", [("o14", "mark", "13", "2")], "base not an integer"),
    ("a", "perso", [("o15", "mark", "10", 0)], "private grid: no revision"),
    ("b", "perso", [("o16", "c:outils_maitrise", "I", 0), ("o17", "mark", "11", 0)], "private batch"),
    ("a", "commune", [("o5", "appreciation", "Bien mieux", 1)],
     "a replay of an applied op id with another value: refused"),
    ("b", "commune", [("o2", "c:outils_maitrise", "I", 0)],
     "a replay of a conflicting op id with another value: refused"),
    ("b", "commune", [("o2", "c:outils_maitrise", "S", 0)], "a replay of a conflict with its value"),
    ("a", "commune", [("o7", "appreciation", "12,5", 1)],
     "a replay of an op id on another field: refused"),
    ("a", "commune", [("o7", "mark", "12.5", 1)], "a replay of the same mark, written otherwise"),
    ("a", "validate", None, "first juror validates"),
    ("b", "commune", [("o1", "c:outils_maitrise", "TS", 0), ("o18", "appreciation", "Bien vu", 1)],
     "a replay with a new op: the validation is cleared"),
    ("a", "validate", None, "validate again"),
    ("b", "validate", None, "both validated: final"),
    ("b", "commune", [("o19", "mark", "15", 3)], "final: locked"),
    ("a", "perso", [("o20", "mark", "11", 1)], "final: the private grid is locked too"),
    # Refused as today: the first attempt takes every op as new (see views_api._save_and_commit).
    ("a", "commune", [("o7", "mark", "12,5", 1)], "a replay after the mark is final"),
]


def _login(app, user):
    app.test_client_class = IsolatedClient
    client = app.test_client()
    page = client.get("/connexion").get_data(as_text=True)
    response = client.post("/connexion", data={"username": user.username, "password": PASSWORD,
                                               "csrf_token": csrf_token_from(page)})
    assert response.status_code == 302
    return client


def _run(app, db, passage, prefix: str, script=SCRIPT) -> list:
    """Play the script on ``passage``; each response with ids named by role."""
    jurors = [m.user for m in passage.commission.members]
    clients = {}
    for name, user in zip("ab", jurors, strict=True):
        clients[name] = client = _login(app, user)
        page = client.get(f"/jury/passages/{passage.id}").get_data(as_text=True)
        client.token = re.search(r'data-csrf="([^"]+)"', page).group(1)
    roles = {user.id: name for name, user in zip("ab", jurors, strict=True)}
    answers = []
    for who, grid, ops, note in script:
        client = clients[who]
        if grid == "validate":
            db.session.expire_all()
            revision = db.session.get(Passage, passage.id).agreed_revision
            response = client.post(f"/jury/passages/{passage.id}/valider",
                                   json={"revision": revision},
                                   headers={"X-CSRFToken": client.token})
            body = response.get_json()
            answers.append((note, response.status_code, body["passage"]["final"],
                            body["passage"]["final_mark"], body["passage"]["revision"]))
            continue
        response = client.post(
            f"/jury/passages/{passage.id}/grilles/{grid}/champs",
            json={"ops": [{"op": prefix + op, "field": field, "value": value, "base": base}
                          for op, field, value, base in ops]},
            headers={"X-CSRFToken": client.token})
        body = response.get_json()
        body.pop("server_time", None)
        for result in body.get("results", []):
            result["op"] = result["op"].removeprefix(prefix)
            if "by" in result:
                result["by"] = roles.get(result["by"], result["by"])
        answers.append((note, response.status_code, body))
    return answers


def _rows(db, passage_id: int, prefix: str) -> dict:
    """The rows the saves wrote, with ids named by role."""
    passage = db.session.get(Passage, passage_id)
    roles = {m.user_id: name for name, m in zip("ab", passage.commission.members, strict=True)}
    roles[None] = None

    def grid_name(key: str) -> str:
        return key if key == "agreed" else "juror:" + roles[int(key.split(":")[1])]

    fields = sorted(
        (grid_name(key), name, value, version, roles[by], at)
        for key, name, value, version, by, at in db.session.execute(
            sa.select(Grid.key, GridField.name, GridField.value, GridField.version,
                      GridField.updated_by_id, GridField.updated_at)
            .join(Grid, Grid.id == GridField.grid_id).where(Grid.passage_id == passage_id)))
    operations = []
    for operation in db.session.scalars(sa.select(ClientOperation)
                                        .where(ClientOperation.passage_id == passage_id)):
        result = dict(operation.result)
        result["op"] = result["op"].removeprefix(prefix)
        if "by" in result:
            result["by"] = roles[result["by"]]
        operations.append((operation.op_id.removeprefix(prefix), roles[operation.user_id],
                           sorted(result.items()), operation.created_at))
    validations = sorted((roles[v.user_id], v.revision, v.mark) for v in db.session.scalars(
        sa.select(Validation).where(Validation.passage_id == passage_id)))
    audit = []
    for event in db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.object_type == "passage",
                                        AuditEvent.object_id == str(passage_id))
            .order_by(AuditEvent.id)):
        before = dict(event.before or {})
        if "validated_by" in before:
            before["validated_by"] = [roles[i] for i in before["validated_by"]]
        audit.append((event.action, roles[event.actor_id], before, event.after, event.reason))
    return {"fields": fields, "operations": sorted(operations), "validations": validations,
            "revision": passage.agreed_revision, "final_mark": passage.final_mark,
            "final": passage.finalized_at is not None, "audit": audit}



def _spy_lone_path(monkeypatch, prefix: str) -> list[tuple[str, bool]]:
    """(op id without ``prefix``, taken) of each save the lone-field path is offered."""
    offered: list[tuple[str, bool]] = []
    save = autosave_lone.save

    def spy(**kwargs):
        answer = save(**kwargs)
        offered.append((kwargs["op"]["op"].removeprefix(prefix), answer is not None))
        return answer

    monkeypatch.setattr(autosave_lone, "save", spy)
    return offered

def test_fast_and_reference_stores_agree(app, db, client, create_passage, monkeypatch):
    monkeypatch.setattr(autosave, "utcnow", lambda: NOW)
    monkeypatch.setattr(autosave_lone, "utcnow", lambda: NOW)
    monkeypatch.setattr(autosave_mark, "utcnow", lambda: NOW)
    fused = []
    write = FastStore.write

    def spy(store, change):
        fused.append(store.fuse and change.alone)
        return write(store, change)

    monkeypatch.setattr(FastStore, "write", spy)
    lone = _spy_lone_path(monkeypatch, "fast-")
    passages = {"fast": create_passage(), "reference": create_passage()}
    for passage in passages.values():  # the script sets the rest before validating
        complete_grid(passage, skip=("c:outils_maitrise", "appreciation"))
    ids = {run: p.id for run, p in passages.items()}
    db.session.commit()
    answers, rows = {}, {}
    for run, fast in (("fast", True), ("reference", False)):
        monkeypatch.setitem(app.config, "JURY_AUTOSAVE_STORE", "fast" if fast else "reference")
        answers[run] = _run(app, db, passages[run], f"{run}-")
        db.session.expire_all()
        rows[run] = _rows(db, ids[run], f"{run}-")
    # The fast run took the fused statement exactly where PostgreSQL allows it.
    postgres = db.session.connection().dialect.name == "postgresql"
    assert (bool(fused), any(fused)) == (True, postgres)
    assert answers["fast"] == answers["reference"]
    assert rows["fast"] == rows["reference"]
    # The fast run's lone saves (one op, not the mark) went the lone-field path; it took
    # the new writes and left the rest (replays, conflicts, refusals, validations to
    # clear, a final passage) to the ordinary path. The reference run never offered it.
    assert lone == [("o1", True), ("o1", False), ("o2", False), ("o3", False), ("o11", False),
                    ("o5", False), ("o2", False), ("o2", False), ("o7", False)]
    # The script did what it says (so that agreeing is not agreeing on nothing).
    statuses = [answer[1] for answer in answers["reference"]]
    assert statuses == [200, 200, 200, 200, 200, 200, 400, 400, 400, 200, 400, 400, 200, 200,
                        409, 409, 200, 409, 200, 200, 200, 200, 200, 409, 409, 409]
    refused = [answer[2] for answer in answers["reference"] if "op id" in answer[0] and answer[1] == 409]
    assert {(body["error"], body["field"]) for body in refused} == {
        ("op_reused", "appreciation"), ("op_reused", "c:outils_maitrise")}
    assert (rows["reference"]["revision"], rows["reference"]["final_mark"],
            len(rows["reference"]["operations"]), rows["reference"]["audit"][3][0]) == (
        4, Decimal("12.5"), 12, "validation.cleared")


# Lone saves (one op, not the mark): the lone-field path's kind, and what it leaves to
# the ordinary path.
LONE_SCRIPT = [
    ("a", "commune", [("l1", "c:outils_maitrise", "TS", 0)], "a level: lone path"),
    ("b", "commune", [("l2", "appreciation", "Bien", 0)], "a text: lone path"),
    ("a", "perso", [("l3", "c:outils_maitrise", "S", 0)], "a private level: no revision"),
    ("b", "perso", [("l4", "s:performance", "Solide", 0)], "the other juror's private grid"),
    ("a", "commune", [("l5", "appreciation", "Très bien", 1)], "a text again"),
    ("b", "commune", [("l6", "appreciation", "Autre", 1)], "stale version: conflict"),
    ("b", "commune", [("l7", "appreciation", "Très bien", 1)], "stale, the same value: ok"),
    ("a", "commune", [("l8", "c:outils_maitrise", "ZZ", 1)], "refused level"),
    ("a", "commune", [("l9", "appreciation", "x" * 4001, 2)], "refused text"),
    ("a", "commune", [("l10", "c:inconnu", "TS", 0)], "unknown field"),
    ("a", "commune", [("l1", "c:outils_maitrise", "TS", 0)], "a replay, the same value"),
    ("a", "commune", [("l5", "appreciation", "Autre chose", 2)],
     "a replay of an id with another value, at the current version: refused"),
    ("a", "commune", [("l11", "mark", "12", 0)], "the mark: the ordinary path"),
    ("a", "validate", None, "first juror validates"),
    ("b", "commune", [("l12", "appreciation", "Très bien vu", 2)],
     "a save clearing a validation: the ordinary path"),
    ("a", "validate", None, "validate again"),
    ("b", "validate", None, "both validated: final"),
    ("a", "commune", [("l13", "appreciation", "Après", 3)], "final: refused"),
    ("b", "perso", [("l14", "s:performance", "Après", 1)], "final: the private grid too"),
]


def test_lone_path_and_reference_agree(app, db, create_passage, monkeypatch):
    """The lone-field path (``autosave_lone``, fast store) against the plain reference
    (``JURY_AUTOSAVE_STORE=reference``): the same answers and rows; the path took the
    new writes and left everything else to the ordinary path, nothing of it kept."""
    monkeypatch.setattr(autosave, "utcnow", lambda: NOW)
    monkeypatch.setattr(autosave_lone, "utcnow", lambda: NOW)
    monkeypatch.setattr(autosave_mark, "utcnow", lambda: NOW)
    lone = _spy_lone_path(monkeypatch, "lone-")
    passages = {"lone": create_passage(), "reference": create_passage()}
    for passage in passages.values():
        complete_grid(passage, skip=("c:outils_maitrise", "appreciation"))
    ids = {run: p.id for run, p in passages.items()}
    db.session.commit()
    answers, rows = {}, {}
    for run in ("lone", "reference"):
        monkeypatch.setitem(app.config, "JURY_AUTOSAVE_STORE",
                            "fast" if run == "lone" else "reference")
        answers[run] = _run(app, db, passages[run], f"{run}-", LONE_SCRIPT)
        db.session.expire_all()
        rows[run] = _rows(db, ids[run], f"{run}-")
    assert answers["lone"] == answers["reference"]
    assert rows["lone"] == rows["reference"]
    assert lone == [("l1", True), ("l2", True), ("l3", True), ("l4", True), ("l5", True),
                    ("l6", False), ("l7", False), ("l8", False), ("l9", False), ("l10", False),
                    ("l1", False), ("l5", False), ("l12", False), ("l13", False),
                    ("l14", False)]
    statuses = [answer[1] for answer in answers["reference"]]
    assert statuses == [200, 200, 200, 200, 200, 200, 200, 400, 400, 400, 200, 409, 200, 200,
                        200, 200, 200, 409, 409]
    results = [answer[2]["results"][0]["status"] for answer in answers["reference"][:7]]
    assert results == ["ok"] * 5 + ["conflict", "ok"]
    # Only the mark and the cleared validation are audited (a text or level change is not).
    assert [event[0] for event in rows["reference"]["audit"]] == [
        "mark.change", "mark.validate", "validation.cleared", "mark.validate", "mark.validate",
        "mark.final"]


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
def test_store_selected_by_configuration(app, db, monkeypatch, fast):
    monkeypatch.setitem(app.config, "JURY_AUTOSAVE_STORE", "fast" if fast else "reference")
    store = autosave.field_store()
    postgres = db.session.connection().dialect.name == "postgresql"
    assert (type(store), getattr(store, "fuse", None)) == (
        (FastStore, postgres) if fast else (ReferenceStore, None))



@pytest.mark.parametrize("grid", ["agreed", "private"])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
def test_save_after_final_refused_by_both_stores(app, db, create_passage, monkeypatch, fast,
                                                 grid):
    """A save whose context was read before the mark turned final (a request racing the
    validation) is refused by the store's conditional statements, not only by the
    context's check: nothing is written, recorded or bumped."""
    from exam_app.juries.errors import JuryError
    from exam_app.juries.grids import grid_key_for
    from tests.juries.helpers import members, stored_field, validate_both

    monkeypatch.setitem(app.config, "JURY_AUTOSAVE_STORE", "fast" if fast else "reference")
    passage = create_passage()
    juror = members(passage)[0]
    key = "agreed" if grid == "agreed" else grid_key_for(juror.id)
    stale = autosave.save_context(passage_id=passage.id, user_id=juror.id, grid_key=key)
    validate_both(passage, "15")
    db.session.commit()
    version, revision = stored_field(db, passage, key, "mark").version, passage.agreed_revision
    with pytest.raises(JuryError) as refused:
        autosave.save_fields(context=stale, actor=juror, now=NOW, ops=[
            {"op": f"late-{grid}-{fast}", "field": "mark", "value": "18", "base": version}])
    db.session.rollback()
    db.session.expire_all()
    after = db.session.get(Passage, passage.id)
    assert (stale.finalized, refused.value.status,
            str(refused.value) == (autosave.FINAL_AGREED if grid == "agreed"
                                   else autosave.FINAL_PRIVATE),
            stored_field(db, passage, key, "mark").version, after.agreed_revision,
            after.final_mark, db.session.scalar(
                sa.select(sa.func.count()).select_from(ClientOperation)
                .where(ClientOperation.op_id.like("late-%")))) == (
        False, 409, True, version, revision, Decimal("15"), 0)
