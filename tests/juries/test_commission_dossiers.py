"""The commission's list of dossiers (a jury page): its own candidates, with each
dossier's state as the conformity control left it."""

from __future__ import annotations

from datetime import timedelta

from exam_app.clock import utcnow
from exam_app.dossiers.conformity import decide
from exam_app.dossiers.models import Decision
from tests.dossiers.helpers import deposit
from tests.dossiers.test_access import plan


def test_commission_page_lists_its_candidates_for_members_only(app, client, login_as, db,
                                                               create_session, create_centre,
                                                               create_candidate,
                                                               create_commission):
    session = create_session()
    centre, other_centre = create_centre(session), create_centre(session)
    mine = create_candidate(session, centre=centre)
    other = create_candidate(session, centre=other_centre)
    unplanned = create_candidate(session, centre=centre)
    deposit(app, mine, "E4", "sommaire")
    commission = create_commission(session, unit_code="E4", centre=centre)
    outsider = create_commission(session, unit_code="E4", centre=other_centre)
    plan(db, commission, mine)
    login_as(commission.members[0].user)
    page = client.get(f"/jury/commissions/{commission.id}/dossiers").get_data(as_text=True)
    assert mine.full_name in page
    assert other.full_name not in page
    # Not planned in this commission: the juror may not open it, so it is not listed.
    assert unplanned.full_name not in page
    assert f"/dossiers/{mine.id}/E4" in page
    login_as(outsider.members[0].user)
    assert client.get(f"/jury/commissions/{commission.id}/dossiers").status_code == 403


def test_commission_page_shows_the_conformity_decision(app, client, login_as, db, create_session,
                                                       create_centre, create_candidate,
                                                       create_commission):
    session = create_session()
    centre = create_centre(session)
    compliant, undecided = (create_candidate(session, centre=centre) for _ in range(2))
    for candidate in (compliant, undecided):
        deposit(app, candidate, "E4", "sommaire")
    decide(candidate=compliant, unit_code="E4", decision=Decision.COMPLIANT, reasons=[],
           comment="", actor=None, now=utcnow() + timedelta(days=400),
           confirm_missing=True, confirm_early=True)
    commission = create_commission(session, unit_code="E4", centre=centre)
    for candidate in (compliant, undecided):
        plan(db, commission, candidate)
    login_as(commission.members[0].user)
    page = client.get(f"/jury/commissions/{commission.id}/dossiers").get_data(as_text=True)
    rows = {c.full_name: page.split(c.full_name, 1)[1].split("</tr>", 1)[0]
            for c in (compliant, undecided)}
    assert "Conforme" in rows[compliant.full_name]
    assert "Conforme" not in rows[undecided.full_name]


def test_validity_matches_the_day_card_and_the_list_can_be_filtered(
        app, client, login_as, db, create_session, create_centre, create_candidate,
        create_commission):
    """Issue 17: a candidate the day card calls « valide » is « valide » here too (with an
    incomplete deposit and no file count standing for validity); a filter keeps the NV."""
    from exam_app.dossiers.models import DepositDeadline

    session = create_session()
    centre = create_centre(session)
    valid, nv = (create_candidate(session, centre=centre) for _ in range(2))
    deposit(app, valid, "E4", "sommaire")
    decide(candidate=valid, unit_code="E4", decision=Decision.COMPLIANT, reasons=[],
           comment="", actor=None, now=utcnow(), confirm_missing=True, confirm_early=True)
    db.session.add(DepositDeadline(session_id=session.id, unit_code="E4",
                                   deadline_at=utcnow() - timedelta(days=1)))
    commission = create_commission(session, unit_code="E4", centre=centre)
    for candidate in (valid, nv):
        plan(db, commission, candidate)
    db.session.commit()
    login_as(commission.members[0].user)
    day = client.get("/jury/").get_data(as_text=True)
    assert "dossier : valide" in day.split(valid.full_name, 1)[1][:600]
    assert "dossier : NV (non valide)" in day.split(nv.full_name, 1)[1][:600]

    url = f"/jury/commissions/{commission.id}/dossiers"
    page = client.get(url).get_data(as_text=True)
    rows = {c.full_name: page.split(c.full_name, 1)[1].split("</tr>", 1)[0] for c in (valid, nv)}
    assert '<td class="validity"><span class="badge badge--ok">valide</span>' in rows[valid.full_name]
    assert "1 fichier(s) <span class=\"muted\">— incomplet</span>" in rows[valid.full_name]
    assert '<span class="badge badge--error">NV (non valide)</span>' in rows[nv.full_name]
    assert "2 dossier(s) affiché(s) sur 2 — 1 NV (non valide)" in page

    only_nv = client.get(url + "?validite=nv").get_data(as_text=True)
    assert nv.full_name in only_nv and valid.full_name not in only_nv
    assert "1 dossier(s) affiché(s) sur 2" in only_nv
    only_valid = client.get(url + "?validite=valide").get_data(as_text=True)
    assert valid.full_name in only_valid and nv.full_name not in only_valid
    by_number = client.get(url + f"?q={nv.number}").get_data(as_text=True)
    assert nv.full_name in by_number and valid.full_name not in by_number
    nothing = client.get(url + "?q=zzzz").get_data(as_text=True)
    assert "Aucun dossier ne correspond au filtre." in nothing


def test_names_sort_the_french_way(app, client, login_as, db, create_session, create_centre,
                                   create_candidate, create_commission):
    """Issue 17: « BENALI Élodie » comes before « BENALI Tom » (not after « Z »)."""
    session = create_session()
    centre = create_centre(session)
    people = [create_candidate(session, centre=centre, last_name="BENALI", first_name=first)
              for first in ("Tom", "Élodie", "Zoé")]
    commission = create_commission(session, unit_code="E4", centre=centre)
    for candidate in people:
        plan(db, commission, candidate)
    db.session.commit()
    login_as(commission.members[0].user)
    page = client.get(f"/jury/commissions/{commission.id}/dossiers").get_data(as_text=True)
    order = sorted(("Tom", "Élodie", "Zoé"), key=lambda first: page.index(f"BENALI {first}"))
    assert order == ["Élodie", "Tom", "Zoé"]
