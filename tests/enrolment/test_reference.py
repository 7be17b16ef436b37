"""Reference data by CSV or one row (issue 13, item 2): establishments, centres and their
rooms, with the candidate import's all-or-nothing, line-and-column errors, encodings
and idempotence."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from exam_app.accounts.models import Role
from exam_app.audit.models import AuditEvent
from exam_app.enrolment import reference
from exam_app.enrolment.models import Centre, CentreRoom, Establishment, EstablishmentKind
from exam_app.errors import Invalid

ETAB_HEADER = "UAI;Nom;Type;Ville"
CENTRE_HEADER = "Code centre;Nom;Adresse;Code postal;Ville;Salle;Capacité;Postes E5"


def _csv(*lines: str, encoding="utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def _errors(report) -> list[str]:
    return [str(e) for e in report.errors]


def _count(db, model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _events(db, action):
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).all()


@pytest.fixture()
def gestion(create_user):
    return create_user(Role.GESTIONNAIRE)


def _import_etabs(gestion, data):
    return reference.import_establishments(data=data, actor=gestion, max_rows=100,
                                           filename="etablissements.csv")


# --- establishments ---------------------------------------------------------------------

def test_establishments_import_creates_with_kinds_and_is_idempotent(db, gestion):
    data = _csv(ETAB_HEADER, "0690026D;Lycée Édouard-Herriot;Lycée public;Lyon",
                "0691664X;CFA Métiers du tertiaire;CFA;Lyon",
                "0011194T;Lycée Saint-Joseph;privé;Bourg-en-Bresse",
                "0690713Z;GRETA Lyon Métropole;greta;", "0420013L;Autre organisme;;")
    report = _import_etabs(gestion, data)
    assert (report.ok, report.created, report.updated, report.unchanged) == (True, 5, 0, 0)
    kinds = dict(db.session.execute(sa.select(Establishment.uai, Establishment.kind)).all())
    assert kinds == {"0690026D": EstablishmentKind.LYCEE_PUBLIC,
                     "0691664X": EstablishmentKind.CFA,
                     "0011194T": EstablishmentKind.LYCEE_PRIVE,
                     "0690713Z": EstablishmentKind.GRETA, "0420013L": EstablishmentKind.OTHER}
    again = _import_etabs(gestion, data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)
    [first, second] = _events(db, "establishment.import")
    assert first.after["created"] == 5 and len(first.after["changes"]) == 5
    assert second.after["changes"] == []


def test_establishments_import_reads_windows_1252_and_updates_a_changed_row(db, gestion):
    _import_etabs(gestion, _csv(ETAB_HEADER, "0690026D;Lycée Herriot;Lycée public;Lyon"))
    report = _import_etabs(gestion, _csv(
        "uai;nom;type;ville", "0690026D;Lycée Édouard-Herriot;Lycée public;Lyon",
        encoding="cp1252"))
    assert (report.ok, report.encoding, report.updated) == (True, "Windows-1252", 1)
    assert db.session.scalar(sa.select(Establishment.name)) == "Lycée Édouard-Herriot"
    change = _events(db, "establishment.import")[-1].after["changes"][0]
    # The CCF flag, not in the file, is kept (and recorded) as it was.
    assert change == {"uai": "0690026D", "before": {"name": "Lycée Herriot",
                                                    "kind": "lycee_public", "city": "Lyon",
                                                    "ccf": False},
                      "after": {"name": "Lycée Édouard-Herriot", "kind": "lycee_public",
                                "city": "Lyon", "ccf": False}}


def test_establishments_import_is_all_or_nothing_with_line_and_column(db, gestion):
    report = _import_etabs(gestion, _csv(
        ETAB_HEADER, "0690026D;Lycée Édouard-Herriot;Lycée public;Lyon",
        "069002;Lycée court;;", "0690026D;Doublon;;", "0691664X;CFA;université;",
        "0420013L;;;"))
    assert not report.ok
    assert _errors(report) == [
        "ligne 3, colonne « UAI » : « 069002 » n'est pas un code UAI (7 chiffres suivis "
        "d'une lettre).",
        "ligne 4, colonne « UAI » : l'UAI 0690026D figure déjà ligne 2.",
        "ligne 5, colonne « Type » : « université » : attendu lycée public, lycée privé, CFA, "
        "GRETA ou autre.",
        "ligne 6, colonne « Nom » : valeur obligatoire manquante.",
    ]
    assert _count(db, Establishment) == 0
    assert _events(db, "establishment.import") == []


def test_establishments_import_refuses_a_file_without_the_required_columns(db, gestion):
    report = _import_etabs(gestion, _csv("Code;Ville", "0690026D;Lyon"))
    assert _errors(report) == [
        "ligne 1 : colonne(s) obligatoire(s) absente(s) : « UAI », « Nom ». En-têtes "
        "attendus : UAI ; Nom ; Type ; Ville ; Habilité CCF."]


def test_save_establishment_creates_then_updates_and_audits(db, gestion):
    reference.save_establishment(actor=gestion, uai="0690026d", name="Lycée Herriot",
                                 kind="lycee_public", city="Lyon")
    saved = reference.save_establishment(actor=gestion, uai="0690026D", name="Lycée Herriot",
                                         kind="cfa", city="Lyon")
    assert (saved.uai, saved.kind) == ("0690026D", EstablishmentKind.CFA)
    events = _events(db, "establishment.save")
    assert [(e.before or {}).get("kind") for e in events] == [None, "lycee_public"]
    with pytest.raises(Invalid) as refused:
        reference.save_establishment(actor=gestion, uai="ABC", name="X")
    assert (refused.value.field, refused.value.message) == (
        "uai", "« ABC » n'est pas un code UAI (7 chiffres suivis d'une lettre).")


# --- centres ----------------------------------------------------------------------------

def _import_centres(session, gestion, data):
    return reference.import_centres(session=session, data=data, actor=gestion, max_rows=100,
                                    filename="centres.csv")


CENTRES_FILE = _csv(
    CENTRE_HEADER,
    "LYO01;Lycée Jean-Monnet;12 rue du Plat;69002;Lyon;B12;30;12",
    "LYO01;;;;;B14;24;0",
    "STE01;Lycée Claude-Fauriel;28 avenue de la Libération;42000;Saint-Étienne;;;",
)


def test_centres_import_creates_centres_and_rooms_and_is_idempotent(db, gestion,
                                                                    create_session):
    session = create_session()
    report = _import_centres(session, gestion, CENTRES_FILE)
    assert (report.ok, report.created, report.rooms_created) == (True, 2, 2)
    lyon = db.session.scalar(sa.select(Centre).where(Centre.code == "LYO01"))
    assert [(r.name, r.capacity, r.workstations) for r in lyon.rooms] == [
        ("B12", 30, 12), ("B14", 24, 0)]
    assert (lyon.full_address, lyon.capacity, lyon.workstations) == (
        "12 rue du Plat, 69002 Lyon", 54, 12)
    again = _import_centres(session, gestion, CENTRES_FILE)
    assert (again.created, again.updated, again.unchanged, again.rooms_created,
            again.rooms_updated) == (0, 0, 2, 0, 0)
    assert _count(db, CentreRoom) == 2
    # A changed capacity updates the room; the centre itself is unchanged.
    changed = _import_centres(session, gestion, _csv(CENTRE_HEADER, "LYO01;;;;;B12;32;12"))
    assert (changed.unchanged, changed.rooms_updated) == (1, 1)
    audit = _events(db, "centre.import")[-1].after["changes"]
    assert audit == [{"code": "LYO01", "before": {"name": "Lycée Jean-Monnet",
                                                  "address": "12 rue du Plat",
                                                  "postal_code": "69002", "city": "Lyon"},
                      "after": {"name": "Lycée Jean-Monnet", "address": "12 rue du Plat",
                                "postal_code": "69002", "city": "Lyon"},
                      "rooms": [{"room": "B12",
                                 "before": {"name": "B12", "capacity": 30, "workstations": 12},
                                 "after": {"name": "B12", "capacity": 32, "workstations": 12}}]}]


def test_centres_import_is_all_or_nothing_with_line_and_column(db, gestion, create_session):
    session = create_session()
    report = _import_centres(session, gestion, _csv(
        CENTRE_HEADER,
        "LYO01;Lycée Jean-Monnet;12 rue du Plat;69002;Lyon;B12;30;12",
        "LYO01;Autre nom;;;;B12;20;0",
        "STE01;Lycée Fauriel;;4200;;Salle 3;;",
        "ROA01;;;;;A1;2000;x",
        "NEW01;;;;;;;",
    ))
    assert _errors(report) == [
        "ligne 3, colonne « Nom » : le centre LYO01 a une autre valeur ligne 2 "
        "(« Lycée Jean-Monnet »).",
        "ligne 3, colonne « Salle » : la salle « B12 » du centre LYO01 figure déjà ligne 2.",
        "ligne 4, colonne « Code postal » : « 4200 » n'est pas un code postal (5 chiffres).",
        "ligne 4, colonne « Capacité » : indiquez la capacité de la salle « Salle 3 ».",
        "ligne 5, colonne « Capacité » : capacité : « 2000 » n'est pas un nombre entier de 1 à "
        "1000.",
        "ligne 5, colonne « Postes E5 » : postes : « x » n'est pas un nombre entier de 0 à 1000.",
    ]
    assert _count(db, Centre) == 0 and _count(db, CentreRoom) == 0
    # A valid file naming a centre unknown to the session, without its name.
    unknown = _import_centres(session, gestion, _csv(CENTRE_HEADER, "NEW01;;;;;A1;20;0"))
    assert _errors(unknown) == [
        "ligne 2, colonne « Nom » : centre NEW01 inconnu : indiquez son nom pour le créer."]
    assert _count(db, Centre) == 0
    assert _events(db, "centre.import") == []


def test_centres_are_per_session(db, gestion, create_session):
    first, second = create_session(), create_session()
    _import_centres(first, gestion, CENTRES_FILE)
    report = _import_centres(second, gestion, CENTRES_FILE)
    assert report.created == 2
    assert _count(db, Centre) == 4


def test_save_centre_with_a_room_creates_then_updates(db, gestion, create_session):
    session = create_session()
    reference.save_centre(session=session, actor=gestion, code="lyo01", name="Lycée Monnet",
                          postal_code="69002", city="Lyon", room="B12", capacity="30",
                          workstations="")
    centre = reference.save_centre(session=session, actor=gestion, code="LYO01",
                                   name="Lycée Jean-Monnet", room="B12", capacity=30,
                                   workstations=10)
    assert (centre.code, centre.name, centre.city) == ("LYO01", "Lycée Jean-Monnet", "Lyon")
    assert [(r.name, r.capacity, r.workstations) for r in centre.rooms] == [("B12", 30, 10)]
    events = _events(db, "centre.save")
    assert [e.before and e.before["name"] for e in events] == [None, "Lycée Monnet"]
    with pytest.raises(Invalid) as refused:
        reference.save_centre(session=session, actor=gestion, code="LYO02", name="")
    assert (refused.value.field, refused.value.message) == ("name",
                                                            "Valeur obligatoire manquante.")
