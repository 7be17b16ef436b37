"""The set-up commands (issue 13): create-session, edit-session, set-unit-dates,
import-establishments, import-centres, through the same services as the pages."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.enrolment.models import Centre, DepositDeadline, Establishment, ExamSession


def _invoke(app, db, *args):
    db.session.commit()  # the command runs in its own app context and session
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.expire_all()
    return result


def _create(app, db):
    return _invoke(app, db, "create-session", "--code", "SAM-2027", "--name", "BTS SAM 2027",
                   "--academie", "Académie de Lyon", "--year", "2027", "--timezone",
                   "America/Martinique")


def test_create_session_then_refuse_the_same_code(app, db):
    result = _create(app, db)
    assert result.exit_code == 0, result.output
    assert result.output == "Session SAM-2027 créée (BTS SAM 2027, America/Martinique).\n"
    again = _create(app, db)
    assert again.exit_code == 1
    assert "Une session a déjà le code SAM-2027." in again.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ExamSession)) == 1
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "session.create")).one()
    assert (event.actor_id, event.actor_label) == (None, "système")


def test_edit_session_rules_and_reason_when_used(app, db):
    _create(app, db)
    result = _invoke(app, db, "edit-session", "--mark-step", "0.25", "--e6-duration", "300",
                     "--nv-rule", "interroge", "--name", "BTS SAM — 2027")
    assert result.exit_code == 0, result.output
    assert result.output == ("Session SAM-2027 : name, e6_duration_minutes, mark_step, "
                             "nv_excludes_interview modifié(s).\n")
    session = db.session.scalar(sa.select(ExamSession))
    assert (str(session.mark_step), session.e6_duration_minutes,
            session.nv_excludes_interview) == ("0.25", 300, False)
    db.session.add(AuditEvent(at=datetime.now(UTC), action="mark.change",
                              object_type="passage", session_id=session.id))
    refused = _invoke(app, db, "edit-session", "--mark-step", "1")
    assert refused.exit_code == 1
    assert "Règle déjà appliquée (pas de notation" in refused.output
    assert str(db.session.scalar(sa.select(ExamSession.mark_step))) == "0.25"
    ok = _invoke(app, db, "edit-session", "--mark-step", "1", "--reason", "Circulaire du 3 mai")
    assert ok.exit_code == 0, ok.output


def test_set_unit_dates_in_the_session_zone_and_refuse_contradictions(app, db):
    _create(app, db)
    result = _invoke(app, db, "set-unit-dates", "--unit", "e4", "--deadline", "2027-04-02 23:59",
                     "--orals-start", "2027-05-10", "--orals-end", "2027-05-21")
    assert result.exit_code == 0, result.output
    # Martinique is UTC-4.
    assert db.session.scalar(sa.select(DepositDeadline.deadline_at)) == datetime(
        2027, 4, 3, 3, 59, tzinfo=UTC)
    refused = _invoke(app, db, "set-unit-dates", "--unit", "E4", "--deadline",
                      "2027-05-11 12:00", "--orals-start", "2027-05-10", "--orals-end",
                      "2027-05-21")
    assert refused.exit_code == 1
    assert "tombe après le début des oraux (10/05/2027)" in refused.output
    bad = _invoke(app, db, "set-unit-dates", "--unit", "E4", "--deadline", "2 avril")
    assert bad.exit_code == 1
    assert "« 2 avril » : date et heure attendues sous la forme AAAA-MM-JJ HH:MM" in bad.output


def test_import_establishments_and_centres_all_or_nothing(app, db, tmp_path):
    _create(app, db)
    etabs = tmp_path / "etabs.csv"
    etabs.write_bytes("UAI;Nom;Type\r\n0690026D;Lycée Édouard-Herriot;public\r\n"
                      .encode("cp1252"))
    result = _invoke(app, db, "import-establishments", str(etabs))
    assert result.exit_code == 0, result.output
    assert result.output == "Import terminé : 1 créé(s), 0 mis à jour, 0 inchangé(s).\n"
    centres = tmp_path / "centres.csv"
    centres.write_text("Code centre,Nom,Salle,Capacité,Postes E5\nLYO01,Lycée Monnet,B12,30,12\n"
                       "STE01,,A1,20,0\n", encoding="utf-8")
    refused = _invoke(app, db, "import-centres", str(centres))
    assert refused.exit_code == 1
    assert "ligne 3, colonne « Nom » : centre STE01 inconnu" in refused.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Centre)) == 0
    centres.write_text("Code centre,Nom,Salle,Capacité,Postes E5\nLYO01,Lycée Monnet,B12,30,12\n",
                       encoding="utf-8")
    ok = _invoke(app, db, "import-centres", str(centres), "--session", "SAM-2027")
    assert ok.output == ("Import terminé : 1 créé(s), 0 mis à jour, 0 inchangé(s) ; salles : "
                         "1 créée(s), 0 mise(s) à jour.\n")
    assert db.session.scalar(sa.select(Establishment.name)) == "Lycée Édouard-Herriot"
