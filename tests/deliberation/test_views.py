"""The délibération pages: the jury's list, record, change form (confirmation, stale
refusal), closing, the procès-verbal (its QR verifies), and the gestionnaire's pages."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa

from exam_app.deliberation import services
from exam_app.deliberation.models import OtherUnit, ResultChange
from exam_app.extensions import db
from tests.conftest import csrf_token_from
from tests.documents.conftest import decode_qr, pdf_text


def _token(client, url):
    return csrf_token_from(client.get(url).get_data(as_text=True))


def _change(client, delib, *, value="16", version="0", confirm=True, unit="E4", reason=None):
    code, candidate = delib["session"].code, delib["candidates"][0]
    url = f"/deliberation/{code}/candidats/{candidate.id}"
    data = {"csrf_token": _token(client, url), "unit": unit, f"{unit}-result": value,
            f"{unit}-reason": reason or "Erreur de report sur la grille",
            f"{unit}-version": version}
    if confirm:
        data[f"{unit}-confirm"] = "y"
    return client.post(url, data=data)


def test_list_shows_results_filtered_and_paged_server_side(delib, client, login_as):
    login_as(delib["member"])
    code = delib["session"].code
    body = client.get(f"/deliberation/{code}").get_data(as_text=True)
    assert "BERNARD" in body and "COLIN" in body and "14,5" in body
    body = client.get(f"/deliberation/{code}?q=colin").get_data(as_text=True)
    assert "COLIN" in body and "BERNARD" not in body
    body = client.get(f"/deliberation/{code}?filtre=modifies").get_data(as_text=True)
    assert "Aucun candidat ne correspond." in body


def test_change_needs_confirmation_then_shows_on_the_record(delib, client, login_as):
    login_as(delib["member"])
    refused = _change(client, delib, confirm=False)
    assert refused.status_code == 400
    assert "Cochez la case pour confirmer." in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(ResultChange.id))) == 0
    done = _change(client, delib)
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Délibération : 14,5 → 16 (motif : Erreur de report sur la grille)" in page
    assert "modifié par le jury" in page


def test_stale_form_is_refused_clearly(delib, client, login_as):
    login_as(delib["member"])
    assert _change(client, delib, value="16").status_code == 302
    login_as(delib["president"])
    stale = _change(client, delib, value="17", version="0")
    assert stale.status_code == 409
    assert "modifié entre-temps par Marc Membre" in stale.get_data(as_text=True)
    assert services.current_sequence(delib["candidates"][0].id, "E4") == 1


def test_close_then_pv_qr_verifies(delib, client, login_as, tmp_path):
    login_as(delib["member"])
    _change(client, delib, value="16")
    login_as(delib["president"])
    code = delib["session"].code
    url = f"/deliberation/{code}"
    response = client.post(f"/deliberation/{code}/cloture",
                           data={"csrf_token": _token(client, url), "close-confirm": "y"})
    assert response.status_code == 302
    assert services.is_locked(delib["session"].id)
    pdf = client.get(f"/deliberation/{code}/proces-verbal.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = " ".join(pdf_text(pdf.data).split())
    assert "Procès-verbal de délibération" in text
    assert "Erreur de report sur la grille" in text
    link = decode_qr(pdf.data, tmp_path)
    verified = client.get(urlsplit(link).path).get_data(as_text=True)
    assert "authentique" in verified.lower()
    assert "Procès-verbal de délibération" in verified
    # A change after a reopening supersedes the printed PV.
    services.reopen(session_id=delib["session"].id, reason="Erreur matérielle",
                    actor=delib["gestionnaire"])
    services.change_result(session_id=delib["session"].id, candidate_id=delib["candidates"][1].id,
                           unit_code="E5", value="12", reason="Relecture du jury", version=0,
                           before="11", actor=delib["president"])
    db.session.commit()
    again = client.get(urlsplit(link).path).get_data(as_text=True)
    assert "Délibération rouverte" in again and "Relecture du jury" in again


def test_member_cannot_close_and_candidate_of_another_session_is_404(
        delib, client, login_as, create_session, create_candidate):
    login_as(delib["member"])
    code = delib["session"].code
    client.post(f"/deliberation/{code}/cloture",
                data={"csrf_token": _token(client, f"/deliberation/{code}"), "close-confirm": "y"})
    assert not services.is_locked(delib["session"].id)
    stranger = create_candidate(create_session())
    assert client.get(f"/deliberation/{code}/candidats/{stranger.id}").status_code == 404


def test_only_the_sessions_jury_sees_it(delib, client, login_as, create_user, create_session):
    from exam_app.accounts.models import Role

    code = delib["session"].code
    login_as(delib["outsider"])
    for path in ("", "/repartition", f"/candidats/{delib['candidates'][0].id}",
                 "/proces-verbal.pdf"):
        assert client.get(f"/deliberation/{code}{path}").status_code == 403, path
    assert delib["session"].name not in client.get("/deliberation").get_data(as_text=True)
    login_as(delib["member"])
    assert delib["session"].name in client.get("/deliberation").get_data(as_text=True)
    # Another session's jury: this member is not on it.
    other = create_session()
    services.set_jury(session=other, president_id=delib["outsider"].id, member_ids=[],
                      actor=delib["gestionnaire"])
    db.session.commit()
    assert client.get(f"/deliberation/{other.code}").status_code == 403
    candidate_user = create_user(Role.CANDIDAT, candidate=delib["candidates"][0])
    login_as(candidate_user)
    assert client.get(f"/deliberation/{code}").status_code == 403
    assert client.get(f"/deliberation/{code}/proces-verbal.pdf").status_code == 403


def test_distributions_show_commissions_and_correcteurs(delib, client, login_as):
    login_as(delib["member"])
    body = client.get(f"/deliberation/{delib['session'].code}/repartition").get_data(
        as_text=True)
    e4, e5 = delib["commissions"]
    assert e4.code in body and e5.code in body
    assert "Toutes les commissions" in body and "<svg" in body


def test_gestionnaire_sets_jury_and_other_units(delib, client, login_as):
    login_as(delib["gestionnaire"])
    code = delib["session"].code
    url = f"/gestion/sessions/{code}/deliberation"
    assert "Hélène Président" in client.get(url).get_data(as_text=True)
    units = f"{url}/epreuves"
    bad = client.post(units, data={"csrf_token": _token(client, units), "code": "U1",
                                   "label": "Culture générale", "coefficient": "0"})
    assert bad.status_code == 400
    assert "Le coefficient est un nombre de 0,5 à 20" in bad.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(OtherUnit.id))) == 0
    ok = client.post(units, data={"csrf_token": _token(client, units), "code": "u1",
                                  "label": "Culture générale", "coefficient": "3"})
    assert ok.status_code == 302
    unit = db.session.scalar(sa.select(OtherUnit))
    assert (unit.code, str(unit.coefficient)) == ("U1", "3.0")


def test_gestionnaire_reopens_with_reason_and_confirmation(delib, client, login_as):
    from exam_app.results import deliberation as pages

    pages.close(session=delib["session"], actor=delib["president"])
    db.session.commit()
    login_as(delib["gestionnaire"])
    url = f"/gestion/sessions/{delib['session'].code}/deliberation"
    token = _token(client, url)
    client.post(f"{url}/reouverture", data={"csrf_token": token,
                                            "reopen-reason": "Erreur matérielle"})
    assert services.is_locked(delib["session"].id)  # not confirmed: still closed
    client.post(f"{url}/reouverture", data={"csrf_token": token, "reopen-confirm": "y",
                                            "reopen-reason": "Erreur matérielle"})
    assert not services.is_locked(delib["session"].id)


def test_a_change_is_refused_on_the_page_once_closed(delib, client, login_as):
    from exam_app.results import deliberation as pages

    pages.close(session=delib["session"], actor=delib["president"])
    db.session.commit()
    login_as(delib["member"])
    response = _change(client, delib, value="18")
    assert response.status_code == 409
    assert services.LOCKED_MESSAGE in response.get_data(as_text=True).replace("&#39;", "'")
    assert db.session.scalar(sa.select(sa.func.count(ResultChange.id))) == 0


def test_create_user_command_makes_a_jury_account(app, db):
    from exam_app.accounts.models import Role, User

    result = app.test_cli_runner().invoke(args=[
        "create-user", "--username", "jury.delib", "--first-name", "Léa", "--last-name", "Roux",
        "--role", "jury_deliberation", "--password", "Un-mot-de-passe-solide-2027"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.username == "jury.delib"))
    assert user.role_set == {Role.JURY_DELIBERATION}
