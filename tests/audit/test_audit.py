"""The audit trail is append-only, in the ORM and in the database itself."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent, AuditTrailIsAppendOnly
from exam_app.audit.services import record


@pytest.fixture()
def event(db, create_user):
    actor = create_user(Role.GESTIONNAIRE, first_name="Claire", last_name="Vasseur")
    recorded = record(actor=actor, action="mark.change", object_type="passage", object_id=7,
                      before={"mark": Decimal("12.5")}, after={"mark": Decimal("13")},
                      reason="erreur de saisie", now=datetime(2027, 5, 12, 8, 0, tzinfo=UTC))
    db.session.commit()
    return recorded


def _raw_rows(db):
    with db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT id, action, reason FROM audit_event ORDER BY id")).all()


def test_record_stores_who_what_when_and_values(db, event):
    db.session.expire_all()
    stored = db.session.scalars(sa.select(AuditEvent)).one()
    assert stored.actor_label == "Claire Vasseur"
    assert stored.actor_id == event.actor_id
    assert (stored.action, stored.object_type, stored.object_id) == ("mark.change", "passage", "7")
    assert stored.at == datetime(2027, 5, 12, 8, 0, tzinfo=UTC)
    assert stored.before == {"mark": "12.5"}
    assert stored.after == {"mark": "13"}
    assert stored.reason == "erreur de saisie"


def test_record_converts_decimals_dates_and_nested_values_to_json(db):
    record(actor=None, action="x.test", object_type="thing",
           after={"mark": Decimal("14.50"), "day": date(2027, 5, 12),
                  "at": datetime(2027, 5, 12, 6, 30, tzinfo=UTC),
                  "list": (Decimal("1.5"), {"inner": date(2027, 1, 1)}), 3: None})
    db.session.commit()
    db.session.expire_all()
    stored = db.session.scalars(sa.select(AuditEvent)).one()
    assert stored.after == {
        "mark": "14.50",
        "day": "2027-05-12",
        "at": "2027-05-12T06:30:00+00:00",
        "list": ["1.5", {"inner": "2027-01-01"}],
        "3": None,
    }
    assert stored.before is None
    assert stored.actor_id is None
    assert stored.actor_label == "système"


def test_orm_refuses_to_update_an_audit_event(db, event):
    event.reason = "réécrit"
    with pytest.raises(AuditTrailIsAppendOnly, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert [row.reason for row in _raw_rows(db)] == ["erreur de saisie"]


def test_orm_refuses_to_delete_an_audit_event(db, event):
    db.session.delete(event)
    with pytest.raises(AuditTrailIsAppendOnly, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert len(_raw_rows(db)) == 1


def test_database_refuses_raw_sql_update(db, event):
    with pytest.raises(sa.exc.DatabaseError, match="audit_event is append-only"):  # noqa: SIM117
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit_event SET reason = 'réécrit'"))
    assert [row.reason for row in _raw_rows(db)] == ["erreur de saisie"]


def test_database_refuses_raw_sql_delete(db, event):
    with pytest.raises(sa.exc.DatabaseError, match="audit_event is append-only"):  # noqa: SIM117
        with db.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_event"))
    assert len(_raw_rows(db)) == 1


def test_database_accepts_new_events_after_a_refused_change(db, event):
    with pytest.raises(sa.exc.DatabaseError):  # noqa: SIM117
        with db.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_event"))
    record(actor=None, action="y.test", object_type="thing")
    db.session.commit()
    assert [row.action for row in _raw_rows(db)] == ["mark.change", "y.test"]
