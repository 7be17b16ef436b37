"""Who may read a dossier: the candidate, the académie and the jurors of the candidate's commission."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.juries.planning import assign_candidates
from exam_app.permissions import can_read_dossier
from tests.dossiers.helpers import deposit, make_pdf


def plan(db, commission, candidate, *, at=None, variant_code="ponctuel"):
    """The candidate's passage in ``commission``, scheduled at ``at`` (now by default)."""
    [passage] = assign_candidates(commission=commission, numbers=[candidate.number],
                                  variant_code=variant_code, actor=None)
    passage.scheduled_at = at or utcnow()
    db.session.flush()
    return passage


def test_candidate_cannot_read_or_detect_another_candidates_files(app, client, login_as,
                                                                  create_session, create_centre,
                                                                  create_candidate, create_user):
    session = create_session()
    centre = create_centre(session)
    alice, bob = create_candidate(session, centre=centre), create_candidate(session, centre=centre)
    file = deposit(app, alice, "E4", "sommaire")
    login_as(create_user(Role.CANDIDAT, candidate=bob))
    urls = [f"/dossiers/fichiers/{file.id}", f"/dossiers/fichiers/{file.id + 1000}",
            f"/dossiers/{alice.id}/E4", f"/dossiers/{alice.id}/E4/accuse-de-depot.pdf",
            f"/dossiers/{alice.id + 1000}/E4"]
    # Existing and non-existing objects answer alike: nothing to detect.
    assert [client.get(u).status_code for u in urls] == [404, 404, 404, 404, 404]
    created = client.post(f"/candidat/{alice.id}/dossiers/E4/envois", json={"piece": "sommaire",
                          "name": "x.pdf", "size": 10}, headers={"X-CSRFToken": _token(client)})
    assert created.status_code == 404


def _token(client) -> str:
    from tests.conftest import csrf_token_from

    return csrf_token_from(client.get("/candidat/").get_data(as_text=True))


def test_juror_of_the_candidates_commission_reads_the_file_inline(app, client, login_as, db,
                                                                 create_session, create_centre,
                                                                 create_candidate,
                                                                 create_commission):
    session = create_session()
    centre = create_centre(session)
    candidate = create_candidate(session, centre=centre)
    data = make_pdf(2, marker="jury")
    file = deposit(app, candidate, "E4", "sommaire", data=data, name="Sommaire été.pdf", pages=2)
    commission = create_commission(session, unit_code="E4", centre=centre)
    plan(db, commission, candidate)
    login_as(commission.members[0].user)
    response = client.get(f"/dossiers/fichiers/{file.id}")
    assert response.status_code == 200
    assert response.get_data() == data
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith('inline; filename="Sommaire ')
    page = client.get(f"/dossiers/{candidate.id}/E4")
    assert page.status_code == 200
    assert "Sommaire été.pdf" in page.get_data(as_text=True)


def test_juror_of_another_commission_gets_403(app, client, login_as, db, create_session,
                                              create_centre, create_candidate, create_commission):
    session = create_session()
    centre, other_centre = create_centre(session), create_centre(session)
    candidate = create_candidate(session, centre=centre)
    file = deposit(app, candidate, "E4", "sommaire")
    plan(db, create_commission(session, unit_code="E4", centre=centre), candidate)
    elsewhere = create_commission(session, unit_code="E4", centre=other_centre)
    other_unit = create_commission(session, unit_code="E5", centre=centre)
    # Same centre and unit, but the candidate's passage is planned in the first commission.
    same_centre = create_commission(session, unit_code="E4", centre=centre)
    for commission in (elsewhere, other_unit, same_centre):
        login_as(commission.members[0].user)
        assert client.get(f"/dossiers/fichiers/{file.id}").status_code == 403
        assert client.get(f"/dossiers/{candidate.id}/E4").status_code == 403


def test_ccf_juror_of_the_candidates_establishment_reads_the_e5_dossier(
        app, client, login_as, db, create_session, create_candidate, create_commission):
    session = create_session()
    candidate = create_candidate(session, e5_form="ccf")
    file = deposit(app, candidate, "E5", "fiches_projet")
    commission = create_commission(session, unit_code="E5", form="ccf")
    commission.establishment_id = candidate.establishment_id
    db.session.flush()
    plan(db, commission, candidate, variant_code="ccf_a")
    login_as(commission.members[1].user)
    assert client.get(f"/dossiers/fichiers/{file.id}").status_code == 200


def test_juror_reads_nothing_before_planning(app, client, login_as, create_session,
                                             create_centre, create_candidate,
                                             create_commission):
    session = create_session()
    centre = create_centre(session)
    candidate = create_candidate(session, centre=centre)
    file = deposit(app, candidate, "E4", "sommaire")
    commission = create_commission(session, unit_code="E4", centre=centre)
    login_as(commission.members[0].user)
    assert client.get(f"/dossiers/fichiers/{file.id}").status_code == 403
    assert client.get(f"/dossiers/{candidate.id}/E4").status_code == 403


def test_ponctuel_e5_juror_cannot_read_a_ccf_candidates_e5_dossier(
        app, client, login_as, db, create_session, create_centre, create_candidate,
        create_commission):
    session = create_session()
    centre = create_centre(session)
    candidate = create_candidate(session, centre=centre, e5_form="ccf")
    file = deposit(app, candidate, "E5", "fiches_projet")
    # Not planned yet: the candidate's centre has a ponctuel E5 commission all the same.
    ponctuel = create_commission(session, unit_code="E5", centre=centre)
    login_as(ponctuel.members[0].user)
    assert client.get(f"/dossiers/fichiers/{file.id}").status_code == 403
    assert client.get(f"/dossiers/{candidate.id}/E5").status_code == 403


PARIS_NOON = datetime(2027, 6, 15, 10, 0, tzinfo=UTC)  # 12:00 in Paris (summer time)


@pytest.mark.parametrize(("now", "allowed"), [
    (datetime(2027, 6, 13, 21, 59, tzinfo=UTC), False),  # 13 June, 23:59 Paris: too early
    (datetime(2027, 6, 13, 22, 0, tzinfo=UTC), True),    # 14 June, 00:00 Paris: the day before
    (PARIS_NOON, True),                                  # the day of the oral
    (datetime(2027, 6, 17, 21, 59, tzinfo=UTC), True),   # last oral of the unit: 17 June
    (datetime(2027, 6, 17, 22, 0, tzinfo=UTC), False),   # 18 June, 00:00 Paris: session over
])
def test_juror_reads_from_the_day_before_the_oral_to_the_end_of_the_orals(
        app, db, create_session, create_centre, create_candidate, create_commission,
        now, allowed):
    session = create_session()
    centre = create_centre(session)
    candidate, later = create_candidate(session, centre=centre), create_candidate(session,
                                                                                   centre=centre)
    commission = create_commission(session, unit_code="E4", centre=centre)
    plan(db, commission, candidate, at=PARIS_NOON)
    # Another commission's passage, two days later, ends the unit's oral period.
    plan(db, create_commission(session, unit_code="E4", centre=centre), later,
         at=PARIS_NOON + timedelta(days=2))
    subject = type("Subject", (), {"candidate": candidate, "unit_code": "E4"})
    juror = commission.members[0].user
    assert can_read_dossier(juror, subject, now=now) is allowed


def test_chef_de_centre_cannot_read_dossiers(app, client, login_as, create_session, create_centre,
                                             create_candidate, create_user):
    session = create_session()
    centre = create_centre(session)
    candidate = create_candidate(session, centre=centre)
    file = deposit(app, candidate, "E4", "sommaire")
    login_as(create_user(Role.CHEF_CENTRE, centre=centre))
    assert client.get(f"/dossiers/fichiers/{file.id}").status_code == 403


def test_files_are_sent_inline_or_as_downloads_under_their_original_name(
        app, client, login_as, create_session, create_candidate, create_user):
    session = create_session()
    candidate = create_candidate(session)
    data = make_pdf(1, marker="nom")
    file = deposit(app, candidate, "E4", "sommaire", data=data, name="Sommaire « été » 2027.pdf")
    login_as(create_user(Role.GESTIONNAIRE))
    quoted = "Sommaire%20%C2%AB%20%C3%A9t%C3%A9%20%C2%BB%202027.pdf"
    inline = client.get(f"/dossiers/fichiers/{file.id}")
    assert inline.get_data() == data
    assert inline.headers["Content-Disposition"] == (
        f"inline; filename=\"Sommaire  ete  2027.pdf\"; filename*=UTF-8''{quoted}")
    assert (inline.headers["Content-Type"], inline.headers["Content-Length"]) == (
        "application/pdf", str(len(data)))
    assert inline.headers["Cache-Control"] == "private, no-store"
    assert inline.headers["ETag"] == f'"{file.sha256}"'
    download = client.get(f"/dossiers/fichiers/{file.id}?telecharger=1")
    assert download.get_data() == data
    assert download.headers["Content-Disposition"].startswith("attachment; filename=")
    assert download.headers["Content-Disposition"].endswith(f"filename*=UTF-8''{quoted}")
    plain = deposit(app, candidate, "E4", "description_missions", name="missions.pdf")
    assert client.get(f"/dossiers/fichiers/{plain.id}").headers["Content-Disposition"] == (
        "inline; filename=missions.pdf")
    receipt = client.get(f"/dossiers/{candidate.id}/E4/accuse-de-depot.pdf")
    assert receipt.status_code == 200
    assert receipt.headers["Content-Disposition"] == (
        f"attachment; filename=accuse-de-depot-E4-{candidate.number}.pdf")
    assert receipt.headers["Cache-Control"] == "no-store"
    assert receipt.get_data().startswith(b"%PDF-")
