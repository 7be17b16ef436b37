"""Each role's home shows what its scope allows, and nothing else; the académie's lists."""

from __future__ import annotations

import html
import re

import pytest

from exam_app.accounts.models import Role


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture()
def two_centres(create_session, create_centre, create_candidate, create_establishment,
                create_commission, create_user):
    session = create_session(code="SAM2027", name="BTS SAM 2027", e6_duration_minutes=300)
    lyon = create_centre(session, code="LYO01", name="Centre de Lyon", address="12 rue du Plat",
                         postal_code="69002", city="Lyon")
    roanne = create_centre(session, code="ROA01", name="Centre de Roanne")
    lycee = create_establishment(uai="0690026D", name="Lycée Édouard-Herriot")
    dupre = create_candidate(session, number="02700000001", last_name="DUPRÉ", first_name="Élodie",
                             centre=lyon, establishment=lycee, e5_form="ccf", extra_time="1/3")
    create_candidate(session, number="02700000002", last_name="ROUX", first_name="Inès",
                     centre=roanne, establishment=lycee)
    teacher = create_user(Role.EXAMINATEUR, first_name="Nadia", last_name="Benali")
    pro = create_user(Role.EXAMINATEUR, first_name="Hugo", last_name="Roussel")
    create_commission(session, unit_code="E4", centre=lyon, teacher=teacher, professional=pro)
    create_commission(session, unit_code="E5", centre=roanne)
    return {"session": session, "lyon": lyon, "roanne": roanne, "dupre": dupre,
            "teacher": teacher, "pro": pro}


def test_chef_de_centre_sees_only_their_centre(client, login_as, create_user, two_centres):
    login_as(create_user(Role.CHEF_CENTRE, centre=two_centres["lyon"]))
    response = client.get("/centre/")
    assert response.status_code == 200
    page = _text(response)
    assert "<h1>Centre de Lyon</h1>" in page
    assert "12 rue du Plat, 69002 Lyon — BTS SAM 2027" in page
    assert "Candidats convoqués (1)" in page
    assert "DUPRÉ Élodie" in page
    assert "ROUX" not in page
    assert "Commissions (1)" in page
    assert "Nadia Benali (enseignant), Hugo Roussel (professionnel)" in page
    assert "Centre de Roanne" not in page


def test_candidate_sees_their_identity_and_units(client, login_as, create_user, two_centres):
    login_as(create_user(Role.CANDIDAT, candidate=two_centres["dupre"]))
    page = _text(client.get("/candidat/"))
    assert "<h2 id=\"identity-{}\">Élodie DUPRÉ</h2>".format(two_centres["dupre"].id) in page
    assert "<dd><code>02700000001</code></dd>" in page
    assert "<dd>lundi 14 mars 2005</dd>" in page
    assert "<dd>temps majoré de 1/3</dd>" in page
    assert "ROUX" not in page
    units = re.findall(r'<tr><th scope="row">([^<]+)</th>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>', page)
    assert units == [
        ("E4 — Optimisation des processus administratifs", "Forme ponctuelle", "55 min max."),
        ("E5 — Gestion de projet",
         "CCF — situation A (veille informationnelle) ; CCF — situation B (préparation, simulation "
         "et entretien)", "15 + 75 min max."),
        ("E6 — Collaboration à la gestion des ressources humaines", "Épreuve écrite ponctuelle",
         "300 min"),
    ]


def test_examinateur_sees_only_their_commissions(client, login_as, two_centres):
    login_as(two_centres["teacher"])
    page = _text(client.get("/jury/"))
    assert "<h2>Mes commissions</h2>" in page
    assert "E4 Optimisation des processus administratifs" in page
    assert "Nadia Benali (vous)" in page
    assert "Hugo Roussel" in page
    assert "Gestion de projet" not in page


def test_centres_page_counts_candidates(client, login_as, create_user, two_centres):
    login_as(create_user(Role.GESTIONNAIRE))
    page = _text(client.get("/gestion/sessions/SAM2027/centres"))
    rows = re.findall(r"<tr><td><code>([^<]+)</code></td><th scope=\"row\">([^<]+)</th><td>[^<]*</td>"
                      r"<td>.*?</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td><td>", page)
    assert rows == [("LYO01", "Centre de Lyon", "1", "0"), ("ROA01", "Centre de Roanne", "1", "1")]


def test_establishments_page_lists_uai_and_counts(client, login_as, create_user, two_centres):
    login_as(create_user(Role.GESTIONNAIRE))
    page = _text(client.get("/gestion/etablissements"))
    assert "Lycée Édouard-Herriot" in page
    assert "0690026D" in page


def test_users_page_filters_by_role(client, login_as, create_user, two_centres):
    login_as(create_user(Role.GESTIONNAIRE, username="gestion"))
    create_user(Role.CHEF_CENTRE, username="chef.lyon", centre=two_centres["lyon"])
    page = _text(client.get("/gestion/utilisateurs?role=chef_centre"))
    assert re.findall(r"<td><code>([^<]+)</code></td>", page) == ["chef.lyon"]
    assert "Chef de centre — Centre de Lyon" in page
    assert "1 compte</p>" in page
    everyone = _text(client.get("/gestion/utilisateurs"))
    assert "6 comptes</p>" in everyone  # 4 jurors, the gestionnaire, the chef de centre
    assert "jamais" in everyone
    unknown = _text(client.get("/gestion/utilisateurs?role=directeur"))
    assert "6 comptes</p>" in unknown


def test_users_page_sorts_names_in_french_order(client, login_as, create_user):
    # Issue 17: « É » sorted after « Z » (byte order); a French reader looks for Élodie
    # among the E, and for ÉMERY between DUPONT and FAURE.
    login_as(create_user(Role.GESTIONNAIRE, username="gestion", last_name="ADMIN",
                         first_name="Gestion"))
    for username, last, first in (("tom", "BENALI", "Tom"), ("faure", "FAURE", "Léa"),
                                  ("elodie", "BENALI", "Élodie"), ("emery", "ÉMERY", "Zoé"),
                                  ("dupont", "DUPONT", "Anna"), ("zola", "ZOLA", "Émile")):
        create_user(Role.CORRECTEUR, username=username, last_name=last, first_name=first)
    page = _text(client.get("/gestion/utilisateurs?role=correcteur"))
    assert re.findall(r"<td><code>([^<]+)</code></td>", page) == [
        "elodie", "tom", "dupont", "emery", "faure", "zola"]


def test_users_pages_follow_the_french_order_across_pages(db, create_user):
    from exam_app.enrolment.services import paginate_users_by_name

    for last, first in (("ZOLA", "Émile"), ("ÉMERY", "Zoé"), ("BENALI", "Tom"),
                        ("BENALI", "Élodie"), ("DUPONT", "Anna")):
        create_user(Role.CORRECTEUR, last_name=last, first_name=first)
    pages = [paginate_users_by_name((), page=n, per_page=2) for n in (1, 2, 3, 4)]
    assert [[(u.last_name, u.first_name) for u in p.items] for p in pages] == [
        [("BENALI", "Élodie"), ("BENALI", "Tom")], [("DUPONT", "Anna"), ("ÉMERY", "Zoé")],
        [("ZOLA", "Émile")], [("ZOLA", "Émile")]]  # past the last page: the last page
    assert [p.total for p in pages] == [5, 5, 5, 5]
    assert [p.page for p in pages] == [1, 2, 3, 3]
