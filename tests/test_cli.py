"""The flask commands: demo, import-candidates, create-user (Flask's CLI runner)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.audit.models import AuditEvent
from exam_app.enrolment.models import Candidate, Centre, Establishment, ExamSession
from exam_app.juries.models import Commission

HEADER = "N° candidat;Nom;Prénom;Date de naissance;UAI;Établissement;Forme E5"


def _invoke(app, db, *args, **kwargs):
    db.session.commit()  # the command runs in its own app context and session
    result = app.test_cli_runner().invoke(args=list(args), **kwargs)
    db.session.expire_all()
    return result


def _csv(tmp_path, *rows: str, name="candidats.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(("\r\n".join((HEADER, *rows)) + "\r\n").encode(encoding))
    return path


def _count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture(autouse=True)
def _fast_hashing(fast_password_hashing):
    pass


# ---- demo -----------------------------------------------------------------------------


def test_demo_loads_the_session_once_and_prints_the_logins(loaded_demo, demo_db):
    # The shared demo was loaded by `flask demo` into an empty database.
    db = demo_db
    first_output = loaded_demo.output
    assert loaded_demo.exit_code == 0, first_output
    assert "Session de démonstration « SAM2027 » chargée (150 candidats)." in first_output
    assert "Comptes de démonstration (mot de passe commun : demo-sam-2027)" in first_output
    for username in ("gestion", "centre1", "jury1", "jury7", "correcteur1", "candidat1"):
        assert f" {username} " in first_output
    session = db.session.scalars(sa.select(ExamSession)).one()
    assert (session.code, session.name) == ("SAM2027", "BTS SAM 2027")
    assert _count(db, Centre) == 3
    assert _count(db, Establishment) == 8
    assert _count(db, Candidate) == 150
    assert set(db.session.scalars(sa.select(Commission.unit_code)).all()) == {"E4", "E5"}
    assert set(db.session.scalars(sa.select(RoleAssignment.role)).all()) == {r.value for r in Role}
    users = _count(db, User)

    second = loaded_demo.app.test_cli_runner().invoke(args=["demo"])
    db.session.expire_all()
    assert second.exit_code == 0, second.output
    assert "La session de démonstration est déjà chargée : rien à faire." in second.output
    assert "Comptes de démonstration (mot de passe commun : demo-sam-2027)" in second.output
    assert " gestion " in second.output
    assert " candidat1 " in second.output
    assert _count(db, ExamSession) == 1
    assert _count(db, Candidate) == 150
    assert _count(db, User) == users


def test_demo_demo_accounts_log_in_with_the_printed_password(demo_copy):
    from tests.conftest import IsolatedClient, csrf_token_from

    app = demo_copy.app()
    app.test_client_class = IsolatedClient
    client = app.test_client()
    page = client.get("/connexion")
    response = client.post("/connexion", data={
        "username": "gestion", "password": "demo-sam-2027",
        "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert client.get("/", follow_redirects=True).request.path == "/gestion/sessions/SAM2027/"


def test_demo_does_not_mix_into_a_database_holding_other_sessions(app, db, create_session):
    create_session(code="REEL2027")
    result = _invoke(app, db, "demo")
    assert result.exit_code == 0, result.output
    assert ("La base contient déjà des sessions : la démonstration n'est pas chargée "
            "(--force pour la charger quand même).") in result.output
    assert db.session.scalars(sa.select(ExamSession.code)).all() == ["REEL2027"]
    assert _count(db, User) == 0


def test_demo_force_loads_next_to_other_sessions(app, db, create_session):
    create_session(code="REEL2027")
    result = _invoke(app, db, "demo", "--force", "--candidates", "12")
    assert result.exit_code == 0, result.output
    assert "Session de démonstration « SAM2027 » chargée (12 candidats)." in result.output
    assert sorted(db.session.scalars(sa.select(ExamSession.code)).all()) == ["REEL2027", "SAM2027"]


def test_demo_refuses_a_demo_password_outside_the_policy(app, db, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "password1234")
    result = _invoke(app, db, "demo")
    assert result.exit_code == 1
    assert ("Démonstration non chargée : Ce mot de passe est trop courant ou trop facile à "
            "deviner") in result.output
    assert (_count(db, ExamSession), _count(db, User), _count(db, AuditEvent)) == (0, 0, 0)


# ---- import-candidates ----------------------------------------------------------------


def test_import_candidates_uses_the_only_session(app, db, tmp_path, create_session,
                                                 create_establishment):
    session = create_session()
    create_establishment(uai="0690026D")
    path = _csv(tmp_path, "02712345678;Dupré;Élodie;14/03/2005;0690026D;;CCF",
                "02712345679;Lefèvre;Chloé;2004-12-01;0421788R;Lycée Simone-Weil;ponctuel",
                encoding="cp1252")
    result = _invoke(app, db, "import-candidates", str(path))
    assert result.exit_code == 0, result.output
    assert result.output == (f"Import terminé dans {session.code} : 2 créé(s), 0 mis à jour, "
                             "0 inchangé(s), 1 établissement(s) créé(s).\n")
    assert db.session.scalars(sa.select(Candidate.last_name).order_by(Candidate.number)).all() == [
        "Dupré", "Lefèvre"]
    event = db.session.scalars(sa.select(AuditEvent)).one()
    assert (event.action, event.actor_label, event.after["file"]) == (
        "candidate.import", "système", "candidats.csv")

    again = _invoke(app, db, "import-candidates", str(path))
    assert again.exit_code == 0, again.output
    assert again.output == (f"Import terminé dans {session.code} : 0 créé(s), 0 mis à jour, "
                            "2 inchangé(s), 0 établissement(s) créé(s).\n")


def test_import_candidates_needs_session_when_there_are_several(app, db, tmp_path, create_session,
                                                                create_establishment):
    create_session(code="A2027")
    create_session(code="B2027")
    create_establishment(uai="0690026D")
    path = _csv(tmp_path, "02712345678;Dupré;Élodie;14/03/2005;0690026D;;CCF")
    result = _invoke(app, db, "import-candidates", str(path))
    assert result.exit_code == 1
    assert "Plusieurs sessions existent : précisez --session CODE." in result.output
    assert _count(db, Candidate) == 0

    result = _invoke(app, db, "import-candidates", str(path), "--session", "B2027")
    assert result.exit_code == 0, result.output
    assert "Import terminé dans B2027 : 1 créé(s)" in result.output
    assert db.session.scalar(sa.select(ExamSession.code).join(
        Candidate, Candidate.session_id == ExamSession.id)) == "B2027"


def test_import_candidates_with_unknown_session_or_no_session(app, db, tmp_path, create_session):
    path = _csv(tmp_path, "02712345678;Dupré;Élodie;14/03/2005;0690026D;;CCF")
    result = _invoke(app, db, "import-candidates", str(path))
    assert result.exit_code == 1
    assert "Aucune session n'existe." in result.output
    create_session(code="A2027")
    result = _invoke(app, db, "import-candidates", str(path), "--session", "Z9")
    assert result.exit_code == 1
    assert "Aucune session n'a le code « Z9 »." in result.output


def test_import_candidates_bad_file_exits_1_with_french_errors(app, db, tmp_path, create_session,
                                                               create_establishment):
    create_session()
    create_establishment(uai="0690026D")
    path = _csv(tmp_path, "02712345678;Dupré;Élodie;14/03/2005;0690026D;;CCF",
                "02712345679;Martin;Paul;31/02/2005;0690026D;;CCF",
                "02712345678;Roux;Léa;14/03/2005;0690026D;;oral")
    result = _invoke(app, db, "import-candidates", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Import refusé : 3 erreur(s). Rien n'a été importé.\n"
        "  ligne 3, colonne « Date de naissance » : « 31/02/2005 » n'est pas une date valide "
        "(JJ/MM/AAAA ou AAAA-MM-JJ).\n"
        "  ligne 4, colonne « N° candidat » : le numéro 02712345678 figure déjà ligne 2.\n"
        "  ligne 4, colonne « Forme E5 » : « oral » : attendu CCF ou ponctuel.\n"
    )
    assert _count(db, Candidate) == 0
    assert _count(db, AuditEvent) == 0


def test_import_candidates_binary_file_exits_1(app, db, tmp_path, create_session):
    create_session()
    path = tmp_path / "candidats.pdf"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    result = _invoke(app, db, "import-candidates", str(path))
    assert result.exit_code == 1
    assert "Ce fichier n'est pas un fichier CSV (contenu binaire" in result.stderr
    assert _count(db, Candidate) == 0


def test_import_candidates_refuses_a_file_over_the_size_limit(app, db, tmp_path, monkeypatch,
                                                              create_session):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 1024 * 1024)
    create_session()
    path = tmp_path / "gros.csv"
    path.write_bytes(HEADER.encode() + b"\r\n" + b"x;" * (600 * 1024))
    result = _invoke(app, db, "import-candidates", str(path))
    assert result.exit_code == 1
    assert "Le fichier dépasse 1 Mo : découpez-le. Rien n'a été importé." in result.output


def test_import_candidates_missing_file_is_a_usage_error(app, db, tmp_path):
    result = _invoke(app, db, "import-candidates", str(tmp_path / "absent.csv"))
    assert result.exit_code == 2
    assert "absent.csv" in result.output


# ---- create-user ----------------------------------------------------------------------


def _roles(db, username: str) -> list[tuple]:
    return db.session.execute(
        sa.select(RoleAssignment.role, RoleAssignment.centre_id, RoleAssignment.candidate_id)
        .join(User, User.id == RoleAssignment.user_id).where(User.username == username)
        .order_by(RoleAssignment.role)
    ).all()


def test_create_user_gestionnaire(app, db):
    result = _invoke(app, db, "create-user", "--username", " Claire.Vasseur ", "--first-name",
                     "Claire", "--last-name", "Vasseur", "--email", "c.vasseur@ac-lyon.fr",
                     "--role", "gestionnaire", "--password", "un-long-mot-de-passe")
    assert result.exit_code == 0, result.output
    assert result.output == "Compte « claire.vasseur » créé (gestionnaire).\n"
    user = db.session.scalars(sa.select(User)).one()
    assert (user.username, user.display_name, user.email) == (
        "claire.vasseur", "Claire Vasseur", "c.vasseur@ac-lyon.fr")
    assert user.check_password("un-long-mot-de-passe") is True
    assert _roles(db, "claire.vasseur") == [("gestionnaire", None, None)]
    event = db.session.scalars(sa.select(AuditEvent)).one()
    assert (event.action, event.after) == (
        "user.create", {"username": "claire.vasseur", "roles": ["gestionnaire"]})


def test_create_user_with_scoped_roles(app, db, create_session, create_centre, create_candidate):
    session = create_session()
    centre = create_centre(session, code="LYO01")
    candidate = create_candidate(session, number="02712345678")
    result = _invoke(app, db, "create-user", "--username", "chef", "--first-name", "Patrick",
                     "--last-name", "Lemoine", "--role", "chef_centre", "--role", "examinateur",
                     "--centre", "LYO01", "--password", "un-long-mot-de-passe")
    assert result.exit_code == 0, result.output
    assert result.output == "Compte « chef » créé (chef_centre, examinateur).\n"
    assert _roles(db, "chef") == [("chef_centre", centre.id, None), ("examinateur", None, None)]

    result = _invoke(app, db, "create-user", "--username", "eleve", "--first-name", "Élodie",
                     "--last-name", "Dupré", "--role", "candidat", "--candidate", "02712345678",
                     "--session", session.code, "--password", "un-long-mot-de-passe")
    assert result.exit_code == 0, result.output
    assert _roles(db, "eleve") == [("candidat", None, candidate.id)]


def test_create_user_asks_for_the_password_twice(app, db):
    result = _invoke(app, db, "create-user", "--username", "corr", "--first-name", "A",
                     "--last-name", "B", "--role", "correcteur",
                     input="un-long-mot-de-passe\nun-long-mot-de-passe\n")
    assert result.exit_code == 0, result.output
    assert db.session.scalars(sa.select(User)).one().check_password("un-long-mot-de-passe") is True


def test_create_user_refuses_a_scoped_role_without_its_scope(app, db, create_session,
                                                             create_centre):
    create_centre(create_session(), code="LYO01")
    result = _invoke(app, db, "create-user", "--username", "chef", "--first-name", "A",
                     "--last-name", "B", "--role", "chef_centre", "--password", "un-long-mot")
    assert result.exit_code == 1
    assert "Rôle chef_centre : --centre CODE inconnu ou absent." in result.output
    result = _invoke(app, db, "create-user", "--username", "eleve", "--first-name", "A",
                     "--last-name", "B", "--role", "candidat", "--candidate", "NOPE",
                     "--password", "un-long-mot")
    assert result.exit_code == 1
    assert "Rôle candidat : --candidate NUMERO inconnu ou absent." in result.output
    assert _count(db, User) == 0


def test_create_user_refuses_a_duplicate_username(app, db, create_user):
    create_user(Role.CORRECTEUR, username="corr")
    result = _invoke(app, db, "create-user", "--username", "CORR", "--first-name", "A",
                     "--last-name", "B", "--role", "correcteur", "--password", "un-long-mot")
    assert result.exit_code == 1
    assert "L'identifiant « corr » existe déjà." in result.output
    assert _count(db, User) == 1


def test_create_user_refuses_a_short_password(app, db):
    result = _invoke(app, db, "create-user", "--username", "corr", "--first-name", "A",
                     "--last-name", "B", "--role", "correcteur", "--password", "court")
    assert result.exit_code == 1
    assert "Le mot de passe doit contenir au moins 12 caractères." in result.output
    assert _count(db, User) == 0
    assert _count(db, AuditEvent) == 0


def test_create_user_refuses_an_unknown_role(app, db):
    result = _invoke(app, db, "create-user", "--username", "x", "--first-name", "A",
                     "--last-name", "B", "--role", "directeur", "--password", "un-long-mot")
    assert result.exit_code == 2
    assert "'directeur' is not one of" in result.output
    assert _count(db, User) == 0


# ---- set-password ---------------------------------------------------------------------


def test_set_password_changes_the_password_and_audits(app, db, create_user):
    user = create_user(Role.GESTIONNAIRE, username="claire.vasseur", first_name="Claire",
                       last_name="Vasseur")
    token = user.session_token
    result = _invoke(app, db, "set-password", "--username", " Claire.Vasseur ",
                     input="girafe-piano-orage-77\ngirafe-piano-orage-77\n")
    assert result.exit_code == 0, result.output
    assert result.output.endswith("Mot de passe de « claire.vasseur » changé ; ses sessions "
                                  "ouvertes sont terminées.\n")
    assert user.check_password("girafe-piano-orage-77") is True
    assert user.session_token != token
    event = db.session.scalars(sa.select(AuditEvent)).one()
    assert (event.action, event.actor_id, event.object_id) == (
        "user.password_set", None, str(user.id))


def test_set_password_refuses_a_weak_password_or_an_unknown_user(app, db, create_user):
    from tests.conftest import PASSWORD

    user = create_user(Role.GESTIONNAIRE, username="claire.vasseur")
    result = _invoke(app, db, "set-password", "--username", "claire.vasseur", "--password",
                     "court")
    assert result.exit_code == 1
    assert "Le mot de passe doit contenir au moins 12 caractères." in result.output
    result = _invoke(app, db, "set-password", "--username", "personne", "--password",
                     "girafe-piano-orage-77")
    assert result.exit_code == 1
    assert "Aucun compte n'a l'identifiant « personne »." in result.output
    assert user.check_password(PASSWORD) is True
    assert _count(db, AuditEvent) == 0


def test_create_user_ccf_coordinator_of_an_establishment(app, db, create_establishment):
    lycee = create_establishment(uai="0690026D", name="Lycée Édouard-Herriot")
    result = _invoke(app, db, "create-user", "--username", "ccf.herriot", "--first-name",
                     "Sylvie", "--last-name", "Marchand", "--role", "coordinateur_ccf",
                     "--establishment", "0690026d", "--password", "un-long-mot-de-passe")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.username == "ccf.herriot"))
    assert user.establishment_ids() == frozenset({lycee.id})
    missing = _invoke(app, db, "create-user", "--username", "ccf.x", "--first-name", "A",
                      "--last-name", "B", "--role", "coordinateur_ccf", "--password",
                      "un-long-mot-de-passe")
    assert missing.exit_code != 0
    assert "Rôle coordinateur_ccf : --establishment UAI inconnu ou absent." in missing.output
