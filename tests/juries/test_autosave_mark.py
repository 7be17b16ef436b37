"""The mark's lean save (``juries/autosave_mark.py``) against its reference, the ordinary
autosave path, on both databases: the same script of mark changes (with validations to
clear, the same value again, a stale base, a replay, refused values, a final mark)
through the endpoint once with the lean path and once with the plain reference
(``JURY_AUTOSAVE_STORE=reference``), the same answers and rows, audit included; and the
lean save racing a finalisation (two real connections): nothing of it may stay.
"""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.juries import autosave, autosave_lone, autosave_mark
from exam_app.juries.models import AGREED, ClientOperation, Grid, GridField, Passage, Validation
from tests.juries.helpers import T0, complete_grid, members, stored_field
from tests.juries.test_autosave_equivalence import NOW, _rows, _run
from tests.juries.test_autosave_lone_race import _blocked

SCRIPT = [
    ("a", "commune", [("m1", "mark", "12", 0)], "a first mark: lean"),
    ("b", "commune", [("m2", "mark", "13", 0)], "stale base: conflict (ordinary path)"),
    ("b", "commune", [("m3", "mark", "12", 0)], "stale, the same value: ok (ordinary path)"),
    ("a", "validate", None, "first juror validates"),
    ("b", "commune", [("m4", "mark", "12,5", 1)], "a change clearing a validation: lean"),
    ("a", "commune", [("m5", "mark", "12.5", 2)], "the same value again: lean, not audited"),
    ("a", "commune", [("m4", "mark", "13", 3)], "a replay with another value: refused"),
    ("b", "commune", [("m4", "mark", "12,5", 1)], "a replay: answered as before"),
    ("a", "commune", [("m6", "mark", "21", 3)], "refused value"),
    ("a", "commune", [("m7", "mark", "12,3", 3)], "not on the session's step"),
    ("a", "commune", [("m8", "mark", "", 3)], "the mark emptied: lean"),
    ("b", "commune", [("m9", "mark", "14", 4)], "a mark again: lean"),
    ("a", "validate", None, "validates"),
    ("b", "validate", None, "both validated: final"),
    ("a", "commune", [("m10", "mark", "15", 5)], "final: locked"),
]


def _spy(monkeypatch, prefix: str) -> list[tuple[str, bool | str]]:
    """(op id, taken) of each save offered to the lean path; taken "refused" when it
    answered the refusal itself (a final mark)."""
    offered: list[tuple[str, bool | str]] = []
    save = autosave_mark.save

    def spy(**kwargs):
        op = kwargs["op"]["op"].removeprefix(prefix)
        try:
            answer = save(**kwargs)
        except autosave_mark.Refused:
            offered.append((op, "refused"))
            raise
        offered.append((op, answer is not None))
        return answer

    monkeypatch.setattr(autosave_mark, "save", spy)
    return offered


@pytest.mark.parametrize("reference", ["store", "path"])
def test_mark_save_and_reference_agree(app, db, create_passage, monkeypatch, reference):
    """``reference``: the plain reference store, or the fast store with the mark's path
    off (``JURY_MARK_SAVE_PATH=reference``)."""
    for module in (autosave, autosave_lone, autosave_mark):
        monkeypatch.setattr(module, "utcnow", lambda: NOW)
    offered = _spy(monkeypatch, "lean-")
    passages = {"lean": create_passage(), "reference": create_passage()}
    for passage in passages.values():
        complete_grid(passage)
    ids = {run: p.id for run, p in passages.items()}
    db.session.commit()
    answers, rows = {}, {}
    for run in ("lean", "reference"):
        lean = run == "lean"
        monkeypatch.setitem(app.config, "JURY_AUTOSAVE_STORE",
                            "fast" if lean or reference == "path" else "reference")
        monkeypatch.setitem(app.config, "JURY_MARK_SAVE_PATH", "fast" if lean else "reference")
        answers[run] = _run(app, db, passages[run], f"{run}-", SCRIPT)
        db.session.expire_all()
        rows[run] = _rows(db, ids[run], f"{run}-")
    assert answers["lean"] == answers["reference"]
    assert rows["lean"] == rows["reference"]
    # The lean path took the new writes at the current version, refused the write to the
    # final mark itself, and left the rest.
    assert offered == [("m1", True), ("m2", False), ("m3", False), ("m4", True), ("m5", True),
                       ("m4", False), ("m4", False), ("m6", False), ("m7", False),
                       ("m8", True), ("m9", True), ("m10", "refused")]
    statuses = [answer[1] for answer in answers["reference"]]
    assert statuses == [200, 200, 200, 200, 200, 200, 409, 200, 400, 400, 200, 200, 200,
                        200, 409]
    # Every change of the mark audited, the cleared validation too; an unchanged one not.
    assert [(event[0], event[2], event[3]) for event in rows["reference"]["audit"]] == [
        ("mark.change", {"mark": ""}, {"mark": "12"}),
        ("mark.validate", {}, {"mark": "12", "revision": 1}),
        ("validation.cleared", {"validated_by": ["a"], "mark": "12"}, None),
        ("mark.change", {"mark": "12"}, {"mark": "12.5"}),
        ("mark.change", {"mark": "12.5"}, {"mark": ""}),
        ("mark.change", {"mark": ""}, {"mark": "14"}),
        ("mark.validate", {}, {"mark": "14", "revision": 5}),
        ("mark.validate", {}, {"mark": "14", "revision": 5}),
        ("mark.final", {"mark": None}, {"mark": "14"}),
    ]
    assert (rows["reference"]["final_mark"], rows["reference"]["revision"]) == (Decimal(14), 5)


def test_mark_save_answers_the_live_version_only_without_validations(app, db,
                                                                     create_passage):
    """As the ordinary path: the save's live version when it changed only the fields and
    the revision, none when it cleared a validation."""
    from exam_app.juries import validation

    passage = create_passage()
    complete_grid(passage)
    first, second = members(passage)
    db.session.commit()
    answer = autosave_mark.save(passage_id=passage.id, user_id=first.id,
                                token=first.session_token,
                                op={"op": "live-1", "field": "mark", "value": "12", "base": 0})
    db.session.expire_all()
    current = db.session.get(Passage, passage.id)
    assert answer[1:] == (current.agreed_revision, current.live_version)
    validation.validate(passage=passage.id, revision=current.agreed_revision, actor=first, now=T0)
    db.session.commit()
    answer = autosave_mark.save(passage_id=passage.id, user_id=second.id,
                                token=second.session_token,
                                op={"op": "live-2", "field": "mark", "value": "13", "base": 1})
    db.session.expire_all()
    assert (answer[0]["version"], answer[1], answer[2]) == (2, 2, None)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Validation)
                             .where(Validation.passage_id == passage.id)) == 0


def _save_in_thread(app, answers: list, **save_args) -> None:
    with app.app_context():
        answers.append(autosave_mark.save(**save_args))


def test_mark_save_racing_finalisation_keeps_nothing(app, db, create_passage):
    """The save's context is read before the mark turns final; its write meets the
    finalisation holding the passage row's lock (SQLite: the write lock). Nothing of it
    may stay: field, op record, revision, validations, audit (PostgreSQL: the one
    statement in autocommit undoes itself; SQLite: the write lock, then the re-check)."""
    outcomes = []
    for number in range(3):
        passage = create_passage()
        complete_grid(passage)
        juror = members(passage)[0]
        db.session.commit()
        field = stored_field(db, passage, AGREED, "mark")
        version, revision = field.version, passage.agreed_revision
        audited = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        op_id = f"mark-race-{number}"
        answers = []
        with db.engine.connect() as blocker:
            blocker.execute(sa.update(Passage).where(Passage.id == passage.id)
                            .values(finalized_at=T0, final_mark=Decimal("15")))
            thread = threading.Thread(target=_save_in_thread, args=(app, answers), kwargs={
                "passage_id": passage.id, "user_id": juror.id, "token": juror.session_token,
                "op": {"op": op_id, "field": "mark", "value": "18", "base": version}})
            thread.start()
            assert _blocked(db, blocker)
            blocker.commit()
        thread.join(timeout=30)
        db.session.rollback()
        db.session.expire_all()
        after = db.session.get(Passage, passage.id)
        field = stored_field(db, passage, AGREED, "mark")
        recorded = db.session.scalar(sa.select(sa.func.count()).select_from(ClientOperation)
                                     .where(ClientOperation.op_id == op_id))
        outcomes.append((answers, field.version, field.value, after.agreed_revision,
                         after.final_mark, recorded,
                         db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
                         - audited))
    assert outcomes == [([None], version, "", revision, Decimal("15"), 0, 0)] * 3


def test_concurrent_mark_changes_each_audited(app, db, create_passage):
    """Both jurors change the mark at once, many times, through the lean path: every
    change that went through is in the audit trail, once, in order, and the field's
    final value is the last one acknowledged."""
    passage = create_passage()
    complete_grid(passage)
    jurors = members(passage)
    db.session.commit()
    acknowledged: list[tuple[int, str]] = []
    lock = threading.Lock()

    users = [(user.id, user.session_token) for user in jurors]
    passage_id = passage.id
    version_of_mark = (sa.select(GridField.version).join(Grid)
                       .where(Grid.passage_id == passage_id, Grid.key == AGREED,
                              GridField.name == "mark"))

    def juror(index: int) -> None:
        user_id, token = users[index]
        with app.app_context():
            for n in range(15):
                with db.engine.connect() as connection:  # the version the page last saw
                    version = connection.execute(version_of_mark).scalar_one()
                value = str(10 + (n + index) % 7)
                answer = autosave_mark.save(passage_id=passage_id, user_id=user_id,
                                            token=token,
                                            op={"op": f"cc-{index}-{n}", "field": "mark",
                                                "value": value, "base": version})
                if answer is not None:
                    with lock:
                        acknowledged.append((answer[0]["version"], value))

    threads = [threading.Thread(target=juror, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    db.session.expire_all()
    field = stored_field(db, passage, AGREED, "mark")
    changes = db.session.execute(
        sa.select(AuditEvent.before, AuditEvent.after).where(
            AuditEvent.action == "mark.change", AuditEvent.object_id == str(passage.id))
        .order_by(AuditEvent.id)).all()
    acknowledged.sort()
    # Each acknowledged write is a version of its own; the chain of audited changes is
    # the chain of acknowledged values (a write of the same value is not audited).
    assert len({v for v, _ in acknowledged}) == len(acknowledged) > 0
    assert (field.version, field.value) == acknowledged[-1]
    values = [""] + [value for _, value in acknowledged]
    expected = [({"mark": a}, {"mark": b}) for a, b in itertools.pairwise(values) if a != b]
    assert [(c.before, c.after) for c in changes] == expected
    assert db.session.get(Passage, passage.id).agreed_revision == len(acknowledged)
