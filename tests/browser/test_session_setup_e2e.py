"""Issue 13, "Done when": an académie sets up a session from an empty database, in Chromium.

One gestionnaire exists (created through the service, as ``flask create-user`` does).
Everything else goes through the pages, as a person would: the session and its dates and
rules, the establishments, centres (with rooms), people and candidates uploaded as CSV
files through the pages' file inputs, the establishment → centre table, the readiness
board read as blockers are fixed, activation e-mails caught by a real SMTP server
(aiosmtpd) and followed in fresh browser contexts, a commission formed, the candidate
planned, and the chef de centre printing the convocation, whose PDF names the candidate
and the centre the table gave them.
"""

from __future__ import annotations

import io
import subprocess

import pytest

from exam_app import create_app
from exam_app.accounts.models import Role
from exam_app.accounts.services import create_user
from tests.browser.conftest import ARTIFACTS, serving
from tests.mail_server import MailServer

pytestmark = pytest.mark.browser

PASSWORD = "parapluie-navigateur-2027"
SESSION = "SAM-2027-E2E"
NEW_PASSWORDS = {"teacher": "tournesol bleu riviere", "pro": "montagne verte sentier",
                 "chef": "horloge rouge jardin"}
TEACHER, PRO, CHEF = ("paul.martin@ac-lyon.fr", "nadia.benali@transports-rhone.fr",
                      "odile.faure@ac-lyon.fr")

ESTABLISHMENTS_CSV = (
    "UAI,Nom,Type,Ville\n"
    "0690001A,Lycée Ampère,lycée public,Lyon\n"
    "0690002B,Lycée Jean Moulin,lycée public,Villeurbanne\n"
).encode()
# Windows-1252 with ";" as a spreadsheet in France saves it.
CENTRES_CSV = (
    "Code centre;Nom;Adresse;Code postal;Ville;Salle;Capacité;Postes E5\r\n"
    "LYO-01;Lycée Édouard Herriot;6 place Edgar Quinet;69006;Lyon;B12;30;4\r\n"
    "LYO-01;Lycée Édouard Herriot;6 place Edgar Quinet;69006;Lyon;Salle polyvalente;60;0\r\n"
    "VIL-02;Lycée Frédéric Faÿs;46 rue Frédéric Faÿs;69100;Villeurbanne;A1;24;2\r\n"
).encode("cp1252")
PEOPLE_CSV = (
    "Nom;Prénom;Courriel;Rôle;UAI;Entreprise;Centre\r\n"
    f"Martin;Paul;{TEACHER};enseignant;0690002B;;\r\n"
    f"Benali;Nadia;{PRO};professionnel;;Transports Rhône;\r\n"
    f"Faure;Odile;{CHEF};chef de centre;;;LYO-01\r\n"
).encode("cp1252")
CANDIDATES_CSV = (
    "N° candidat,Nom,Prénom,Date de naissance,UAI,Établissement,Forme E5\n"
    "02700000001,LEFÈVRE,Chloé,14/03/2006,0690001A,Lycée Ampère,ponctuel\n"
).encode()


@pytest.fixture()
def mail():
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def site(app, db, mail):
    """A live server on the (empty) test database, sending mail to ``mail``; one
    gestionnaire with a password, created as ``flask create-user`` does."""
    create_user(username="gestion", password=PASSWORD, first_name="Claire",
                last_name="Vasseur", email="claire.vasseur@ac-lyon.fr",
                roles=[(Role.GESTIONNAIRE, {})])
    db.session.commit()
    served = create_app({
        "SECRET_KEY": "browser-test-secret",
        "PUBLIC_URL": "https://examens.example",
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "STORAGE_DIR": app.config["STORAGE_DIR"],
        **mail.config(),
    })
    with serving(served) as url:
        yield url


@pytest.fixture()
def browser(chromium):
    """New browser contexts (no cookies), closed at the end; each with its own tab."""
    contexts = []

    def open_tab():
        context = chromium.new_context(viewport={"width": 1024, "height": 768},
                                       locale="fr-FR", accept_downloads=True)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_tab
    for context in contexts:
        context.close()


def shot(tab, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"e2e-{name}.png"), full_page=True)


def flash(tab) -> str:
    return " | ".join(tab.locator(".flash").all_inner_texts())


def submit(tab, button_name: str, *, scope=None) -> None:
    with tab.expect_navigation():
        (scope or tab).get_by_role("button", name=button_name, exact=True).click()


def login(tab, base: str, username: str, password: str) -> None:
    tab.goto(f"{base}/connexion")
    tab.get_by_label("Identifiant").fill(username)
    tab.get_by_label("Mot de passe").fill(password)
    submit(tab, "Se connecter")


def go(tab, name: str, *, where: str = "nav.sub-nav") -> None:
    """Follow a link of the page's menu, as a person does (no typed address)."""
    with tab.expect_navigation():
        tab.locator(where).get_by_role("link", name=name, exact=True).click()


def upload(tab, tmp_path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    tab.locator("input[type=file]").set_input_files(str(path))
    submit(tab, "Vérifier et importer")


def choose(select, text: str) -> str:
    """Select the option whose label contains ``text`` (exactly one); its label."""
    labels = [o for o in select.locator("option").all_inner_texts() if text in o]
    assert len(labels) == 1, (text, select.locator("option").all_inner_texts())
    select.select_option(label=labels[0])
    return labels[0]


def blockers(tab) -> dict[str, int]:
    """The readiness board as a person reads it: each pending line's count."""
    return {item.get_attribute("data-blocker"):
            int(item.locator(".readiness__count").inner_text().replace("\u202f", ""))
            for item in tab.locator(".readiness__item").all()}


def activate(browser, mail: MailServer, base: str, address: str, password: str):
    """Follow the last link e-mailed to ``address`` in a fresh context and choose a
    password; the tab, logged in."""
    links = mail.links(address)
    assert links, f"aucun courriel reçu par {address}"
    link = links[-1]
    assert link.startswith("https://examens.example/compte/activer/")
    tab = browser()
    tab.goto(link.replace("https://examens.example", base))
    assert tab.locator("h1").inner_text() == "Activer mon compte"
    assert tab.locator("#username").inner_text() == address
    tab.get_by_label("Mot de passe", exact=True).fill(password)
    tab.get_by_label("Mot de passe (confirmation)").fill(password)
    submit(tab, "Activer mon compte")
    assert "Votre compte est activé" in flash(tab)
    return tab


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_an_academie_sets_up_a_session_from_an_empty_database(site, mail, browser, tmp_path):
    base = site
    tab = browser()
    login(tab, base, "gestion", PASSWORD)

    # 1. No session yet: the first page after logging in says what to do.
    assert tab.url == f"{base}/gestion/"
    assert tab.locator("#empty-title").inner_text() == "Aucune session n'existe encore"
    shot(tab, "01-empty")
    with tab.expect_navigation():
        tab.get_by_role("link", name="Créer une session").click()
    tab.get_by_label("Code de la session").fill(SESSION)
    tab.get_by_label("Libellé").fill("BTS SAM — session 2027")
    tab.get_by_label("Académie").fill("Académie de Lyon")
    tab.get_by_label("Année de la session").fill("2027")
    submit(tab, "Créer la session")
    assert flash(tab) == f"Session {SESSION} créée. Fixez maintenant ses dates et ses règles."
    assert tab.url == f"{base}/gestion/sessions/{SESSION}/parametres"

    # 2. The E4 dates and a rule, through the settings page.
    e4 = tab.locator("form", has=tab.locator("#unit-E4"))
    e4.locator("#E4-deposit_opens_at").fill("2027-01-05T08:00")
    e4.locator("#E4-deposit_deadline_at").fill("2027-04-01T12:00")
    e4.locator("#E4-orals_start_on").fill("2027-05-10")
    e4.locator("#E4-orals_end_on").fill("2027-05-21")
    submit(tab, "Enregistrer les dates E4")
    assert flash(tab) == "Dates de l'épreuve E4 enregistrées."
    assert tab.locator("#E4-orals_start_on").input_value() == "2027-05-10"
    assert tab.get_by_label("Pas de notation").input_value() == "0.5"  # the national default
    tab.get_by_label("Pas de notation").select_option("0.25")
    tab.get_by_label("Durée minimale de stage (jours)").fill("56")
    submit(tab, "Enregistrer les règles")
    assert flash(tab).startswith("Règles enregistrées : ")
    assert tab.get_by_label("Pas de notation").input_value() == "0.25"
    assert tab.get_by_label("Durée minimale de stage (jours)").input_value() == "56"
    shot(tab, "02-settings")

    # 3. The dashboard says what is missing.
    go(tab, "Tableau de bord")
    assert "Aucun centre d'examen dans cette session." in tab.locator("#next-title + ol").inner_text()
    shot(tab, "03-dashboard-empty")

    # 4. Establishments (UTF-8, ","), from the session's menu.
    go(tab, "Établissements")
    with tab.expect_navigation():
        tab.locator("main").get_by_role("link", name="Importer un fichier CSV").click()
    upload(tab, tmp_path, "etablissements.csv", ESTABLISHMENTS_CSV)
    assert flash(tab).startswith("Import terminé : 2 créé(s)")
    assert "Lycée Jean Moulin" in tab.locator("main").inner_text()

    # 5. Centres and rooms (Windows-1252, ";"), from the dashboard's next step; the
    # académie-wide establishments page leads back through the main menu.
    go(tab, "Division des examens", where="nav.main-nav")
    assert tab.url == f"{base}/gestion/sessions/{SESSION}/"
    with tab.expect_navigation():
        tab.get_by_role("link", name="Importer les centres").click()
    upload(tab, tmp_path, "centres.csv", CENTRES_CSV)
    assert flash(tab).startswith("Import terminé : 2 créé(s)")
    herriot = tab.locator("tr", has=tab.locator("code", has_text="LYO-01"))
    assert herriot.locator("th").inner_text() == "Lycée Édouard Herriot"
    assert "Salle polyvalente (60, 0)" in herriot.inner_text()
    shot(tab, "04-centres")

    # 6. People (Windows-1252, ";").
    go(tab, "Personnes")
    with tab.expect_navigation():
        tab.get_by_role("link", name="Importer un fichier CSV").click()
    upload(tab, tmp_path, "personnes.csv", PEOPLE_CSV)
    assert flash(tab).startswith("Import terminé : 3 créé(s)")
    for address in (TEACHER, PRO, CHEF):
        row = tab.locator(f'tr[data-username="{address}"]')
        assert row.locator(".account").inner_text() == "En attente — aucun lien remis"

    # 7. Candidates (no centre column): they arrive without a centre.
    go(tab, "Importer")
    upload(tab, tmp_path, "candidats.csv", CANDIDATES_CSV)
    shot(tab, "05-candidates-imported")
    go(tab, "Tableau de bord")
    board = blockers(tab)
    assert board["without_centre"] == 1
    assert board["not_activated"] == 3
    assert board["unplanned"] == 1
    assert "LEFÈVRE" in tab.locator('[data-blocker="without_centre"] .readiness__names').inner_text()
    shot(tab, "06-board-before")

    # 8. The establishment → centre table, reached from the blocker, saved then applied.
    with tab.expect_navigation():
        tab.locator('[data-blocker="without_centre"]').get_by_role(
            "link", name="Table établissement → centre").click()
    tab.get_by_label("Centre de Lycée Ampère").select_option(label="LYO-01 — Lycée Édouard Herriot")
    submit(tab, "Enregistrer la table")
    assert flash(tab).startswith("Table enregistrée : 1 établissement(s) modifié(s)")
    submit(tab, "Appliquer la table")
    assert flash(tab).startswith("Table appliquée : 1 candidat(s) affecté(s)")
    shot(tab, "07-centre-table")
    go(tab, "Tableau de bord")
    board = blockers(tab)
    assert "without_centre" not in board
    assert tab.locator(".readiness__names").count() == 0

    # 9. Activation links e-mailed to the two jurors, ticked on the people page.
    with tab.expect_navigation():
        tab.locator('[data-blocker="not_activated"]').get_by_role("link").first.click()
    tab.get_by_label("Sélectionner Paul Martin").check()
    tab.get_by_label("Sélectionner Nadia Benali").check()
    submit(tab, "Envoyer les liens par courriel")
    assert flash(tab).startswith("Lien d'activation envoyé à 2 personnes")
    shot(tab, "08-links-sent")
    teacher_tab = activate(browser, mail, base, TEACHER, NEW_PASSWORDS["teacher"])
    shot(teacher_tab, "09-teacher-activated")
    assert teacher_tab.locator(".user-box__name").inner_text() == "Paul Martin"
    pro_tab = activate(browser, mail, base, PRO, NEW_PASSWORDS["pro"])
    pro_tab.context.close()
    # The juror logs in again with the password chosen.
    teacher_tab.context.clear_cookies()
    login(teacher_tab, base, TEACHER, NEW_PASSWORDS["teacher"])
    assert teacher_tab.locator(".user-box__name").inner_text() == "Paul Martin"
    tab.reload()
    assert tab.locator(f'tr[data-username="{TEACHER}"] .account').inner_text() == "Activé"

    # 10. A commission (teacher + professional) through the form.
    go(tab, "Commissions")
    shot(tab, "10-commissions")
    with tab.expect_navigation():
        tab.get_by_role("link", name="Nouvelle commission").click()
    tab.get_by_label("Code de la commission").fill("E4-LYO01")
    tab.get_by_label("Épreuve", exact=True).select_option("E4")
    tab.get_by_label("Forme", exact=True).select_option("ponctuel")
    choose(tab.get_by_label("Centre d'examen (forme ponctuelle)"), "Herriot")
    tab.get_by_label("Jours de passage").fill("12/05/2027")
    choose(tab.get_by_label("Enseignant", exact=True), "Martin")
    choose(tab.get_by_label("Professionnel", exact=True), "Benali")
    shot(tab, "11-commission-form")
    submit(tab, "Former la commission")
    shot(tab, "12-commission-formed")
    assert "E4-LYO01" in flash(tab)

    # 11. The candidate planned through the commission's planning page.
    with tab.expect_navigation():
        tab.get_by_role("link", name="E4-LYO01", exact=True).click()  # "Commissions et planning"
    tab.get_by_label("Numéros des candidats").fill("02700000001")
    submit(tab, "Affecter")
    tab.get_by_label("Jour de passage").fill("2027-05-12")
    tab.get_by_label("Début de la journée").fill("08:00")
    tab.get_by_label("Salle", exact=True).fill("B12")
    submit(tab, "Générer le planning")
    row = tab.locator("tr", has_text="02700000001")
    assert flash(tab) == "Journée planifiée : 1 passage(s)."
    assert row.locator("td").first.inner_text() == "12/05/2027 à 08 h 00"
    assert row.locator("td").nth(2).inner_text() == "B12"
    shot(tab, "13-planning")
    # The juror, logged in, finds the day and the candidate on their own page.
    go(teacher_tab, "Jury", where="nav.main-nav")
    assert teacher_tab.locator("section[aria-labelledby^=comm-] h3").all_inner_texts() == [
        "E4-LYO01 — E4 Optimisation des processus administratifs"]
    with teacher_tab.expect_navigation():
        teacher_tab.locator("nav.day-nav").get_by_role("link", name="mercredi 12 mai 2027").click()
    card = teacher_tab.locator(".passage-card")
    assert card.count() == 1
    assert card.locator(".passage-card__time").inner_text() == "08:00"
    assert card.locator(".passage-card__who a").inner_text() == "LEFÈVRE Chloé"
    assert "salle B12 · avec Nadia Benali" in card.locator(".passage-card__meta").inner_text()
    shot(teacher_tab, "13b-juror-day")
    go(tab, "Division des examens", where="nav.main-nav")
    board = blockers(tab)
    assert "incomplete_commissions" not in board
    assert board["unplanned"] == 1  # planned for E4; the E5 commission is another day's work
    assert board["not_activated"] == 1  # the chef de centre, still to come
    assert board["unprinted"] == 1
    shot(tab, "14-board-planned")

    # 12. The chef de centre's link, e-mailed from the people page ("all pending").
    with tab.expect_navigation():
        tab.locator('[data-blocker="not_activated"]').get_by_role("link").first.click()
    tab.get_by_label("Toutes les personnes en attente d'activation").check()
    submit(tab, "Envoyer les liens par courriel")
    assert flash(tab).startswith("Lien d'activation envoyé à 1 personne : Odile Faure")
    chef = activate(browser, mail, base, CHEF, NEW_PASSWORDS["chef"])
    go(chef, "Mon centre", where="nav.main-nav")
    assert chef.locator("h1").first.inner_text() == "Lycée Édouard Herriot"
    assert "LEFÈVRE" in chef.locator("main").inner_text().upper()
    assert chef.locator(".commission-days").inner_text() == "Jour : mercredi 12 mai 2027"
    shot(chef, "15-chef-home")

    # 13. The chef de centre prints the convocations of the day and downloads the PDF.
    with chef.expect_navigation():
        chef.get_by_role("link", name="Impressions : convocations, émargements, fiches, "
                                         "bordereaux").click()
    # The page lists the centre's exam days and fills in the next: nothing to type.
    assert chef.locator("#exam-days").inner_text() == (
        "Jours d'épreuves du centre : mercredi 12 mai 2027 (1 passage).")
    assert chef.get_by_label("Jour des épreuves").input_value() == "2027-05-12"
    shot(chef, "15b-packs-form")
    for checkbox in chef.locator("input[name=kinds]").all():
        if checkbox.get_attribute("value") != "convocation":
            checkbox.uncheck()
    submit(chef, "Générer le lot")
    from playwright.sync_api import expect
    expect(chef.locator("#pack-label")).to_contain_text("Terminé", timeout=30_000)
    shot(chef, "16-pack-done")
    with chef.expect_download() as download:
        chef.get_by_role("link", name="Télécharger le lot (PDF)").click()
    pdf = download.value.path()
    text = pdf_text(pdf.read_bytes())
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile", str(pdf),
                    str(ARTIFACTS / "e2e-16b-convocation")], check=False, timeout=30)
    assert "LEFÈVRE" in text and "Chloé" in text
    assert "Lycée Édouard Herriot" in text
    assert "6 place Edgar Quinet" in text

    # 14. The board no longer lists the convocation as unprinted.
    go(tab, "Tableau de bord")
    board = blockers(tab)
    assert "unprinted" not in board and "not_activated" not in board
    shot(tab, "17-board-end")
