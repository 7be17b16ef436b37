"""The gestionnaire imports a CSV through Chromium: errors first, then a clean file."""

from __future__ import annotations

import pytest

from exam_app.accounts.models import Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

HEADER = "N° candidat;Nom;Prénom;Date de naissance;UAI;Établissement;Forme E5;Aménagement;Courriel"


@pytest.fixture()
def gestion(db, create_session, create_user, create_establishment):
    create_session(code="SAM2027", name="BTS SAM 2027", academie="Académie de Lyon")
    create_establishment(uai="0690026D", name="Lycée Édouard-Herriot")
    user = create_user(Role.GESTIONNAIRE, username="gestion", first_name="Claire",
                       last_name="Vasseur")
    db.session.commit()
    return user


def _log_in(page, live_server):
    page.goto(f"{live_server}/connexion")
    page.get_by_label("Identifiant").fill("gestion")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Se connecter").click()


def _upload(page, live_server, tmp_path, name: str, lines: list[str], encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(("\r\n".join([HEADER, *lines]) + "\r\n").encode(encoding))
    page.goto(f"{live_server}/gestion/sessions/SAM2027/candidats/import")
    page.get_by_label("Fichier CSV des candidats").set_input_files(str(path))
    with page.expect_navigation():
        page.get_by_role("button", name="Vérifier et importer").click()


def test_import_shows_errors_then_imports_the_corrected_file(page, live_server, gestion, tmp_path,
                                                            screenshot):
    _log_in(page, live_server)
    _upload(page, live_server, tmp_path, "erreurs.csv", [
        "02712345678;Dupré;Élodie;31/02/2005;0690026D;;CCF;;",
        "02712345679;Lefèvre;Chloé;14/03/2005;0421788R;;ponctuel;1/3;chloe@",
    ], encoding="cp1252")
    assert page.get_by_role("heading", name="Import refusé : 3 erreurs").is_visible()
    rows = page.locator("#erreurs tbody tr").all_inner_texts()
    assert rows == [
        "2\tDate de naissance\t« 31/02/2005 » n'est pas une date valide (JJ/MM/AAAA ou AAAA-MM-JJ).",
        "3\tCourriel\t« chloe@ » n'est pas une adresse électronique.",
        "3\tUAI\tétablissement 0421788R inconnu : ajoutez son nom dans une colonne « Établissement » "
        "ou créez-le d'abord.",
    ]
    screenshot(page, "import-errors")

    _upload(page, live_server, tmp_path, "corrige.csv", [
        "02712345678;Dupré;Élodie;28/02/2005;0690026D;;CCF;;",
        "02712345679;Lefèvre;Chloé;14/03/2005;0421788R;Lycée Simone-Weil;ponctuel;1/3;chloe@example.fr",
    ], encoding="cp1252")
    assert page.url == f"{live_server}/gestion/sessions/SAM2027/candidats"
    assert page.get_by_role("status").first.inner_text() == (
        "Import terminé : 2 candidat(s) créé(s), 0 mis à jour, 0 inchangé(s).")
    numbers = page.locator("tbody td code").all_inner_texts()
    assert numbers == ["02712345678", "02712345679"]
    screenshot(page, "candidates-after-import")


def test_candidates_search_by_keyboard(page, live_server, gestion, tmp_path):
    _log_in(page, live_server)
    _upload(page, live_server, tmp_path, "ok.csv", [
        "02712345678;Dupré;Élodie;28/02/2005;0690026D;;CCF;;",
        "02712345679;Lefèvre;Chloé;14/03/2005;0690026D;;ponctuel;;",
    ])
    search = page.get_by_label("Nom ou numéro")
    assert search.evaluate("el => el === document.activeElement") is True  # autofocus
    search.fill("lefevre")
    with page.expect_navigation():
        search.press("Enter")
    assert page.locator("tbody td code").all_inner_texts() == ["02712345679"]
