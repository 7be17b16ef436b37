"""`flask db upgrade` from an empty database yields exactly the models' schema."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from exam_app import create_app
from exam_app.extensions import db


@pytest.fixture()
def empty_database_url(tmp_path):
    """A brand-new empty database on the same backend as the suite."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path}/migrations.db"
        return
    url = sa.engine.make_url(base)
    name = f"exam_app_migr_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _app_for(url: str):
    return create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})


def test_upgrade_from_empty_matches_models(empty_database_url):
    app = _app_for(empty_database_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        db.engine.dispose()
    assert diff == []


def test_upgrade_installs_append_only_audit_trail(empty_database_url):
    app = _app_for(empty_database_url)
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO audit_event (at, actor_label, action, object_type) "
                "VALUES (CURRENT_TIMESTAMP, 'x', 'test', 'test')"
            )
        for statement in ("UPDATE audit_event SET action = 'rewritten'",
                          "DELETE FROM audit_event"):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), \
                    db.engine.begin() as conn:
                conn.exec_driver_sql(statement)
        db.engine.dispose()


def test_downgrade_to_base_removes_every_table(empty_database_url):
    app = _app_for(empty_database_url)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        db.engine.dispose()
    assert tables == set()


# ---- 0006_units_as_data: data carried over, and back ---------------------------

NOW = "2026-06-01 08:00:00"


def _insert(conn, table: str, **values) -> None:
    columns = ", ".join(f'"{c}"' for c in values)
    params = ", ".join(f":{c}" for c in values)
    conn.execute(sa.text(f'INSERT INTO "{table}" ({columns}) VALUES ({params})'), values)


def _rows(conn, sql: str) -> list[tuple]:
    return [tuple(row) for row in conn.execute(sa.text(sql))]


def _fill_0005(conn) -> None:
    """A session at 0005_documents: candidates with each E5 form, passages with each
    attendance, dossiers with each decision, print packs in each state, and rows that
    reference the rebuilt tables."""
    _insert(conn, "exam_session", id=1, code="S1", name="Session", academie="Lyon", year=2027,
            timezone="Europe/Paris", created_at=NOW, mark_step=0.5, internship_min_days=70,
            e4_fiche_max_pages=2, e6_duration_minutes=200, nv_excludes_interview=True)
    _insert(conn, "establishment", id=1, uai="0690001A", name="Lycée", city="Lyon")
    _insert(conn, "centre", id=1, session_id=1, code="C1", name="Centre", address="",
            postal_code="", city="Lyon")
    for id_, form in ((1, "ccf"), (2, "ponctuel"), (3, "ponctuel")):
        _insert(conn, "candidate", id=id_, session_id=1, number=f"N{id_}", last_name="NOM",
                first_name="P", birth_date="2005-01-01", establishment_id=1, centre_id=1,
                e5_form=form, search_text="", created_at=NOW, updated_at=NOW)
    _insert(conn, "user", id=1, username="u", first_name="U", last_name="U",
            password_hash="x", is_enabled=True, session_token="t", created_at=NOW)
    _insert(conn, "role_assignment", id=1, user_id=1, role="candidat", candidate_id=1)
    _insert(conn, "commission", id=1, session_id=1, unit_code="E4", form="ponctuel", code="E4-1",
            centre_id=1)
    for id_, attendance in ((1, "inconnu"), (2, "present"), (3, "absent")):
        _insert(conn, "passage", id=id_, commission_id=1, candidate_id=id_, unit_code="E4",
                variant_code="ponctuel", room="", position=id_, attendance=attendance,
                agreed_revision=0)
    _insert(conn, "e6_sitting", id=1, candidate_id=2, attendance="absent")
    for id_, decision in ((1, "conforme"), (2, "non_conforme"), (3, None)):
        _insert(conn, "dossier", id=id_, candidate_id=id_, unit_code="E4", created_at=NOW,
                decision=decision, decision_reasons="[]")
    _insert(conn, "dossier_file", id=1, dossier_id=2, piece_code="fiche", original_name="f.pdf",
            size=10, pages=1, sha256="0" * 64, storage_key="k", has_javascript=False,
            has_embedded_files=False, deposited_at=NOW)
    for id_, state in enumerate(("en_attente", "en_cours", "termine", "erreur"), start=1):
        _insert(conn, "print_pack", id=id_, centre_id=1, day="2027-05-1" + str(id_),
                kinds="convocation", fmt="pdf", state=state, total=0, done=0,
                created_at=NOW, updated_at=NOW)


def _assert_checks(conn, statements) -> None:
    for statement in statements:
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
            conn.execute(sa.text(statement))


def test_0006_carries_forms_and_states_over_and_back(empty_database_url):
    app = _app_for(empty_database_url)
    with app.app_context():
        upgrade(revision="0005_documents")
        with db.engine.begin() as conn:
            _fill_0005(conn)

        upgrade(revision="0006_units_as_data")
        with db.engine.begin() as conn:
            assert _rows(conn, "SELECT candidate_id, unit_code, form FROM candidate_unit_form "
                               "ORDER BY candidate_id") == [
                (1, "E5", "ccf"), (2, "E5", "ponctuel"), (3, "E5", "ponctuel")]
            assert "e5_form" not in {c["name"] for c in sa.inspect(conn).get_columns("candidate")}
            assert _rows(conn, "SELECT attendance FROM passage ORDER BY id") == [
                ("unknown",), ("present",), ("absent",)]
            assert _rows(conn, "SELECT state FROM print_pack ORDER BY id") == [
                ("pending",), ("running",), ("done",), ("failed",)]
            assert _rows(conn, "SELECT decision FROM dossier ORDER BY id") == [
                ("compliant",), ("non_compliant",), (None,)]
            assert _rows(conn, "SELECT id, dossier_id FROM dossier_file") == [(1, 2)]
            # Untouched: the session's settings and the rows that reference candidates.
            assert _rows(conn, "SELECT e4_fiche_max_pages, e6_duration_minutes "
                               "FROM exam_session") == [(2, 200)]
            assert _rows(conn, "SELECT candidate_id FROM role_assignment") == [(1,)]
            assert _rows(conn, "SELECT candidate_id, attendance FROM e6_sitting") == [
                (2, "absent")]
            assert _rows(conn, "SELECT COUNT(*) FROM candidate") == [(3,)]
            _assert_checks(conn, [
                "UPDATE passage SET attendance = 'inconnu' WHERE id = 1",
                "UPDATE print_pack SET state = 'termine' WHERE id = 1",
                "UPDATE dossier SET decision = 'conforme' WHERE id = 1",
                "UPDATE candidate_unit_form SET form = 'autre' WHERE candidate_id = 1",
                "INSERT INTO candidate_unit_form (candidate_id, unit_code, form) "
                "VALUES (1, 'E5', 'ccf')",
            ])

        downgrade(revision="0005_documents")
        with db.engine.begin() as conn:
            assert "candidate_unit_form" not in sa.inspect(conn).get_table_names()
            assert _rows(conn, "SELECT id, e5_form FROM candidate ORDER BY id") == [
                (1, "ccf"), (2, "ponctuel"), (3, "ponctuel")]
            assert _rows(conn, "SELECT attendance FROM passage ORDER BY id") == [
                ("inconnu",), ("present",), ("absent",)]
            assert _rows(conn, "SELECT state FROM print_pack ORDER BY id") == [
                ("en_attente",), ("en_cours",), ("termine",), ("erreur",)]
            assert _rows(conn, "SELECT decision FROM dossier ORDER BY id") == [
                ("conforme",), ("non_conforme",), (None,)]
            assert _rows(conn, "SELECT id, dossier_id FROM dossier_file") == [(1, 2)]
            assert _rows(conn, "SELECT candidate_id FROM role_assignment") == [(1,)]
            _assert_checks(conn, [
                "UPDATE passage SET attendance = 'unknown' WHERE id = 1",
                "UPDATE print_pack SET state = 'done' WHERE id = 1",
                "UPDATE dossier SET decision = 'compliant' WHERE id = 1",
                "UPDATE candidate SET e5_form = 'autre' WHERE id = 1",
                "UPDATE candidate SET e5_form = NULL WHERE id = 1",
            ])
        db.engine.dispose()


def test_0006_upgrade_with_data_matches_models(empty_database_url):
    app = _app_for(empty_database_url)
    with app.app_context():
        upgrade(revision="0005_documents")
        with db.engine.begin() as conn:
            _fill_0005(conn)
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        db.engine.dispose()
    assert diff == []


# ---- 0022_e4_criteria: the merged tools criterion split in two ------------------


def _fill_0018(conn) -> None:
    """Two E4 passages at 0018_pinned: one validated and final (agreed grid and a juror's
    grid with the merged criterion), one with an empty tools level; an E5 passage whose
    grid has a field of the same name (not E4: left alone)."""
    _insert(conn, "exam_session", id=1, code="S1", name="Session", academie="Lyon", year=2027,
            timezone="Europe/Paris", created_at=NOW, mark_step=0.5, internship_min_days=70,
            e4_fiche_max_pages=2, e6_duration_minutes=200, nv_excludes_interview=True)
    _insert(conn, "establishment", id=1, uai="0690001A", name="Lycée", city="Lyon")
    _insert(conn, "centre", id=1, session_id=1, code="C1", name="Centre", address="",
            postal_code="", city="Lyon")
    for id_ in (1, 2):
        _insert(conn, "candidate", id=id_, session_id=1, number=f"N{id_}", last_name="NOM",
                first_name="P", birth_date="2005-01-01", establishment_id=1, centre_id=1,
                search_text="", created_at=NOW, updated_at=NOW)
    _insert(conn, "user", id=1, username="u", first_name="U", last_name="U",
            password_hash="x", is_enabled=True, session_token="t", created_at=NOW)
    _insert(conn, "commission", id=1, session_id=1, unit_code="E4", form="ponctuel",
            code="E4-1", centre_id=1)
    _insert(conn, "commission", id=2, session_id=1, unit_code="E5", form="ponctuel",
            code="E5-1", centre_id=1)
    _insert(conn, "passage", id=1, commission_id=1, candidate_id=1, unit_code="E4",
            variant_code="ponctuel", room="", position=1, attendance="present",
            agreed_revision=7, final_mark=14.5, finalized_at=NOW)
    _insert(conn, "passage", id=2, commission_id=1, candidate_id=2, unit_code="E4",
            variant_code="ponctuel", room="", position=2, attendance="present",
            agreed_revision=1)
    _insert(conn, "passage", id=3, commission_id=2, candidate_id=1, unit_code="E5",
            variant_code="ponctuel", room="", position=1, attendance="present",
            agreed_revision=0)
    _insert(conn, "validation", id=1, passage_id=1, user_id=1, revision=7, mark=14.5,
            validated_at=NOW)
    _insert(conn, "grid", id=1, passage_id=1, key="agreed")
    _insert(conn, "grid", id=2, passage_id=1, key="juror:1", owner_id=1, revealed_at=NOW)
    _insert(conn, "grid", id=3, passage_id=2, key="agreed")
    _insert(conn, "grid", id=4, passage_id=3, key="agreed")
    fields = [(1, "c:outils_presentes", "TS", 3), (1, "c:numerique", "S", 2),
              (1, "c:posture", "I", 1), (1, "mark", "14.5", 4), (2, "c:outils_presentes", "S", 1),
              (3, "c:outils_presentes", "", 0), (4, "c:outils_presentes", "I", 1)]
    # No explicit ids: the migration's inserts take the next ones from the sequence.
    for grid_id, name, value, version in fields:
        _insert(conn, "grid_field", grid_id=grid_id, name=name, value=value,
                version=version, updated_at=NOW, updated_by_id=1)


def test_0022_splits_the_merged_tools_criterion_and_back(empty_database_url):
    app = _app_for(empty_database_url)
    fields = ("SELECT grid_id, name, value, version, updated_by_id FROM grid_field "
              "ORDER BY grid_id, name")
    with app.app_context():
        upgrade(revision="0018_pinned")
        with db.engine.begin() as conn:
            _fill_0018(conn)
        upgrade(revision="0022_e4_criteria")
        with db.engine.connect() as conn:
            after = _rows(conn, fields)
            marks = _rows(conn, "SELECT p.id, p.final_mark, p.agreed_revision, v.mark, "
                                "v.revision FROM passage p JOIN validation v "
                                "ON v.passage_id = p.id")
        downgrade(revision="0018_pinned")
        with db.engine.connect() as conn:
            back = _rows(conn, fields)
        db.engine.dispose()
    assert after == [
        (1, "c:numerique", "S", 2, 1), (1, "c:outils_maitrise", "TS", 3, 1),
        (1, "c:outils_pertinence", "TS", 3, 1), (1, "c:posture", "I", 1, 1),
        (1, "mark", "14.5", 4, 1),
        (2, "c:outils_maitrise", "S", 1, 1), (2, "c:outils_pertinence", "S", 1, 1),
        (3, "c:outils_maitrise", "", 0, 1), (3, "c:outils_pertinence", "", 0, 1),
        (4, "c:outils_presentes", "I", 1, 1),
    ]
    # The validated mark and the revision its validation names are untouched.
    assert [(p, float(fm), rev, float(vm), vrev) for p, fm, rev, vm, vrev in marks] == [
        (1, 14.5, 7, 14.5, 7)]
    assert back == [
        (1, "c:numerique", "S", 2, 1), (1, "c:outils_presentes", "TS", 3, 1),
        (1, "c:posture", "I", 1, 1), (1, "mark", "14.5", 4, 1),
        (2, "c:outils_presentes", "S", 1, 1), (3, "c:outils_presentes", "", 0, 1),
        (4, "c:outils_presentes", "I", 1, 1),
    ]


def test_0022_split_grid_is_complete_for_validation(empty_database_url):
    """A grid complete under the old definition is complete under the new one."""
    from exam_app.juries.validation import missing_for_validation

    app = _app_for(empty_database_url)
    with app.app_context():
        upgrade(revision="0018_pinned")
        with db.engine.begin() as conn:
            _fill_0018(conn)
            for name in ("comportementales", "operationnels", "information", "communication"):
                _insert(conn, "grid_field", grid_id=1, name=f"c:{name}", value="S", version=1)
            _insert(conn, "grid_field", grid_id=1, name="appreciation", value="Bien", version=1)
        upgrade(revision="0022_e4_criteria")
        # The models are the head's: later migrations add columns the ORM reads.
        upgrade()
        from exam_app.juries.models import Passage
        from exam_app.juries.validation import _agreed_values  # noqa: PLC2701
        passage = db.session.get(Passage, 1)
        missing = missing_for_validation(passage, _agreed_values(passage))
        db.session.remove()
        db.engine.dispose()
    assert missing == []


def test_every_revision_id_fits_alembic_version_column():
    """alembic_version.version_num is VARCHAR(32): PostgreSQL refuses a longer revision id
    when it records the upgrade (SQLite does not check lengths, so only the PostgreSQL
    run would fail)."""
    import re
    from pathlib import Path

    versions = Path(__file__).resolve().parent.parent / "migrations" / "versions"
    ids = {path.name: re.search(r"^revision = ['\"]([^'\"]+)['\"]", path.read_text(), re.M)[1]
           for path in versions.glob("*.py")}
    assert ids
    assert {name: rev for name, rev in ids.items() if len(rev) > 32} == {}
