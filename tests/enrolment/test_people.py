"""People and their roles by CSV or one row (issue 13, item 2): e-mail required, teachers
with their establishment, professionals with their company, chefs de centre with their
centre; all or nothing, idempotent, audited; accounts without a usable password."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role, User
from exam_app.audit.models import AuditEvent
from exam_app.enrolment import people
from exam_app.enrolment.models import PersonProfile
from exam_app.errors import Invalid
from tests.conftest import csrf_token_from

HEADER = "Nom;Prénom;Courriel;Rôle;UAI;Entreprise;Centre"


def _csv(*lines: str, encoding="utf-8") -> bytes:
    return ("\r\n".join((HEADER, *lines)) + "\r\n").encode(encoding)


@pytest.fixture()
def world(db, create_session, create_centre, create_establishment, create_user):
    session = create_session()
    centre = create_centre(session, code="LYO01")
    lycee = create_establishment(uai="0690026D", name="Lycée Édouard-Herriot")
    return {"session": session, "centre": centre, "lycee": lycee,
            "gestion": create_user(Role.GESTIONNAIRE)}


def _import(world, data):
    return people.import_people(session=world["session"], data=data, actor=world["gestion"],
                                max_rows=100, filename="personnes.csv")


def _user(db, email):
    return db.session.scalar(sa.select(User).where(User.email == email))


PEOPLE = _csv(
    "Roy;Anne;anne.roy@ac-lyon.fr;Enseignant;0690026D;;",
    "Marchand;Paul;p.marchand@example.fr;professionnel;;Transports Rhône;",
    "Roy;Anne;Anne.Roy@ac-lyon.fr;correcteur;;;",
    "Lemoine;Patrick;p.lemoine@ac-lyon.fr;Chef de centre;;;LYO01",
    "Caron;Hélène;h.caron@ac-lyon.fr;gestionnaire;;;",
)


def test_people_import_creates_accounts_roles_profiles_and_is_idempotent(db, world):
    report = _import(world, PEOPLE)
    assert (report.ok, report.created, report.updated, report.unchanged) == (True, 4, 0, 0)
    anne = _user(db, "anne.roy@ac-lyon.fr")
    assert anne.username == "anne.roy@ac-lyon.fr"
    assert anne.role_set == {Role.EXAMINATEUR, Role.CORRECTEUR}
    assert db.session.get(PersonProfile, anne.id).establishment_id == world["lycee"].id
    assert db.session.get(PersonProfile, _user(db, "p.marchand@example.fr").id).company == \
        "Transports Rhône"
    assert _user(db, "p.lemoine@ac-lyon.fr").centre_ids() == {world["centre"].id}
    # No usable password until the person activates the account.
    assert not anne.check_password("")
    assert anne.password_hash.startswith("!")
    again = _import(world, PEOPLE)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "person.import")).all()
    assert [len(e.after["changes"]) for e in events] == [4, 0]


def test_people_import_adds_a_role_to_a_known_person(db, world):
    _import(world, PEOPLE)
    report = _import(world, _csv("Marchand;Paul;p.marchand@example.fr;correcteur;;;"))
    assert (report.updated, report.unchanged) == (1, 0)
    assert _user(db, "p.marchand@example.fr").role_set == {Role.EXAMINATEUR, Role.CORRECTEUR}


def test_people_import_is_all_or_nothing_with_line_and_column(db, world, create_user):
    create_user(Role.GESTIONNAIRE, username="pris@ac-lyon.fr", email="autre@ac-lyon.fr")
    report = _import(world, _csv(
        "Roy;Anne;anne.roy@ac-lyon.fr;Enseignant;0690026D;;",
        "Sans;Mail;;correcteur;;;",
        "Roy;Anne;;Enseignant;;;",
        "Prof;Inconnu;p@ac-lyon.fr;enseignant;0999999Z;;",
        "Pro;Sans;pro@example.fr;professionnel;;;",
        "Chef;Perdu;chef@ac-lyon.fr;chef de centre;;;ZZZ99",
        "X;Y;x@y.fr;directeur;;;",
    ))
    assert [str(e) for e in report.errors] == [
        "ligne 3, colonne « Courriel » : valeur obligatoire manquante (l'adresse sert à "
        "activer le compte).",
        "ligne 4, colonne « Courriel » : valeur obligatoire manquante (l'adresse sert à "
        "activer le compte).",
        "ligne 4, colonne « UAI » : l'établissement (UAI) d'un enseignant est obligatoire.",
        "ligne 5, colonne « UAI » : établissement 0999999Z inconnu : importez-le d'abord.",
        "ligne 6, colonne « Entreprise » : l'entreprise d'un professionnel est obligatoire.",
        "ligne 7, colonne « Centre » : centre ZZZ99 inconnu dans la session.",
        "ligne 8, colonne « Rôle » : « directeur » : attendu enseignant, professionnel, "
        "correcteur, chef de centre ou gestionnaire.",
    ]
    assert _user(db, "anne.roy@ac-lyon.fr") is None
    taken = _import(world, _csv("Pris;Déjà;Pris@ac-lyon.fr;correcteur;;;"))
    assert [str(e) for e in taken.errors] == [
        "ligne 2, colonne « Courriel » : l'identifiant « pris@ac-lyon.fr » est déjà pris par "
        "un autre compte (adresse électronique différente)."]
    conflicting = _import(world, _csv("Roy;Anne;a@ac-lyon.fr;correcteur;;;",
                                      "Roi;Anne;a@ac-lyon.fr;gestionnaire;;;"))
    assert [str(e) for e in conflicting.errors] == [
        "ligne 3, colonne « Nom » : a@ac-lyon.fr est au nom de Anne Roy ligne 2."]


def test_save_person_one_row_and_its_refusal(db, world):
    user = people.save_person(session=world["session"], actor=world["gestion"],
                              last_name="Roy", first_name="Anne", email="anne.roy@ac-lyon.fr",
                              role="enseignant", uai="0690026d")
    assert user.role_set == {Role.EXAMINATEUR}
    event = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "person.save")).one()
    assert event.after["roles_added"] == [["examinateur", None]]
    with pytest.raises(Invalid) as refused:
        people.save_person(session=world["session"], actor=world["gestion"], last_name="Pro",
                           first_name="Sans", email="pro@example.fr", role="professionnel")
    assert (refused.value.field, refused.value.message) == (
        "company", "L'entreprise d'un professionnel est obligatoire.")


def test_people_page_upload_and_roles(client, db, world, login_as, create_user):
    login_as(world["gestion"])
    code = world["session"].code
    url = f"/gestion/sessions/{code}/personnes/import"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token,
                                      "file": (io.BytesIO(PEOPLE), "p.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    page = client.get(f"/gestion/sessions/{code}/personnes").get_data(as_text=True)
    assert "Transports Rhône" in page and "Lycée Édouard-Herriot" in page
    assert "Chef de centre (LYO01)" in page
    login_as(create_user(Role.CORRECTEUR))
    assert client.get(f"/gestion/sessions/{code}/personnes").status_code == 403


def test_import_people_command(app, db, world, tmp_path):
    path = tmp_path / "personnes.csv"
    path.write_bytes(PEOPLE.decode().encode("cp1252"))  # as a French spreadsheet saves it
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["import-people", str(path), "--session",
                                                world["session"].code])
    db.session.expire_all()
    assert result.exit_code == 0, result.output
    assert result.output == "Import terminé : 4 créé(s), 0 mis à jour, 0 inchangé(s).\n"
