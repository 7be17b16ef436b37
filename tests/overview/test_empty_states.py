"""Every role's home and the académie's main lists say what to do next when empty."""

from __future__ import annotations

import html
from datetime import timedelta

from exam_app.accounts.models import Role
from exam_app.clock import utcnow
from exam_app.enrolment.models import UnitCalendar
from exam_app.extensions import db as _db


def _text(response) -> str:
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_gestionnaire_without_session_is_told_to_create_one(client, login_as, create_user):
    login_as(create_user(Role.GESTIONNAIRE))
    page = _text(client.get("/gestion/"))
    assert "Aucune session n'existe encore" in page
    assert ('<a class="button button--primary" href="/gestion/sessions/nouvelle">Créer une '
            'session</a>') in page


def test_a_new_session_says_to_import_centres_and_candidates(client, login_as, create_user,
                                                            create_session):
    create_session(code="NEUVE", name="Session neuve")
    login_as(create_user(Role.GESTIONNAIRE))
    page = _text(client.get("/gestion/sessions/NEUVE/"))
    assert "Aucun centre d'examen dans cette session." in page
    assert ('<a class="button button--primary" href="/gestion/sessions/NEUVE/centres/import">'
            'Importer les centres</a>') in page
    assert "Aucun candidat dans cette session." in page
    assert 'href="/gestion/sessions/NEUVE/candidats/import">Importer les candidats</a>' in page
    listing = _text(client.get("/gestion/sessions/NEUVE/candidats"))
    assert "Aucun candidat dans cette session" in listing
    assert 'href="/gestion/sessions/NEUVE/candidats/import">Importer les candidats</a>' in listing
    filtered = _text(client.get("/gestion/sessions/NEUVE/candidats?q=zzz"))
    assert "Aucun candidat ne correspond à ces critères." in filtered
    commissions = _text(client.get("/gestion/sessions/NEUVE/commissions"))
    assert "Aucune commission dans cette session." in commissions
    assert 'enregistrez d\'abord les jurés dans <a href="/gestion/sessions/NEUVE/personnes">' \
        in commissions


def test_a_session_with_centres_no_longer_asks_for_them(client, login_as, create_user,
                                                       create_session, create_centre):
    session = create_session(code="AVEC")
    create_centre(session)
    login_as(create_user(Role.GESTIONNAIRE))
    page = _text(client.get("/gestion/sessions/AVEC/"))
    assert "Aucun centre d'examen dans cette session." not in page
    assert "Aucun candidat dans cette session." in page


def test_chef_de_centre_without_candidates_nor_rooms(client, login_as, create_user,
                                                    create_centre):
    centre = create_centre(name="Centre de Vienne")
    login_as(create_user(Role.CHEF_CENTRE, centre=centre))
    page = _text(client.get("/centre/"))
    assert "Aucun candidat n'est encore affecté à votre centre." in page
    assert "Votre centre n'a encore aucune salle déclarée" in page
    assert f'href="/centre/{centre.id}/salles">vérifiez vos salles et vos postes informatiques' \
        in page
    assert "Aucune commission dans ce centre pour le moment : la division des examens" in page


def test_juror_without_commission(client, login_as, create_user):
    login_as(create_user(Role.EXAMINATEUR))
    page = _text(client.get("/jury/"))
    assert ("Vous ne siégez dans aucune commission pour le moment. La division des examens "
            "vous affectera à une commission") in page


def test_juror_whose_commission_is_not_planned_yet(client, login_as, create_commission):
    commission = create_commission()
    login_as(commission.members[0].user)
    page = _text(client.get("/jury/"))
    assert "Aucun passage n'est encore planifié pour vos commissions" in page


def test_correcteur_without_lot(client, login_as, create_user):
    login_as(create_user(Role.CORRECTEUR))
    page = _text(client.get("/correction/"))
    assert "Aucun lot de copies ne vous est attribué pour le moment." in page
    assert "dès que la division des examens aura formé les lots" in page


def test_candidate_before_deposits_open(client, login_as, create_user, create_candidate):
    candidate = create_candidate()
    opens = utcnow() + timedelta(days=30)
    _db.session.add(UnitCalendar(session_id=candidate.session_id, unit_code="E4",
                                 deposit_opens_at=opens))
    login_as(create_user(Role.CANDIDAT, candidate=candidate))
    page = _text(client.get("/candidat/"))
    e4 = page[page.index('id="dossier-E4"'):page.index('id="dossier-E5"')]
    e5 = page[page.index('id="dossier-E5"'):page.index('id="stages"')]
    assert "Le dépôt de ce dossier ouvre le" in e4
    assert "préparez vos fichiers au format PDF" in e4
    assert "Déposer un fichier" not in e4 and "data-drop" not in e4
    # E5 has no opening date: open now.
    assert "Le dépôt de ce dossier ouvre le" not in e5
    assert "Déposer un fichier" in e5
