"""Candidates get a centre (issue 13, item 4), enrolment side: the candidate CSV's optional
Centre column, the establishment -> centre table (save, CSV import) and the query of
candidates without a centre."""

from __future__ import annotations

import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.enrolment import centres
from exam_app.enrolment.models import Candidate, CentreOrigin, EstablishmentCentre
from exam_app.enrolment.services import import_candidates
from exam_app.errors import Invalid

HEADER = "N° candidat;Nom;Prénom;Date de naissance;UAI;Établissement;Forme E5;Centre"


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\r\n".join((header, *rows)) + "\r\n").encode("utf-8")


def _row(number: str, centre: str = "", last: str = "Dupré", uai: str = "0690026D") -> str:
    return f"{number};{last};Élodie;14/03/2005;{uai};Lycée Ampère;CCF;{centre}"


def _import(session, data: bytes):
    return import_candidates(session=session, data=data, actor=None, max_rows=1000,
                             filename="candidats.csv")


def _centres_of(db, session) -> list[tuple[str, str | None, str | None]]:
    rows = db.session.scalars(sa.select(Candidate).where(Candidate.session_id == session.id)
                              .order_by(Candidate.number)).all()
    return [(c.number, c.centre.code if c.centre else None,
             c.centre_origin.value if c.centre_origin else None) for c in rows]


def test_import_sets_the_centre_given_by_its_code(db, create_session, create_centre):
    session = create_session()
    create_centre(session, code="LYO01")
    report = _import(session, _csv(_row("001", "lyo01"), _row("002", "")))
    assert (report.ok, report.created) == (True, 2)
    assert _centres_of(db, session) == [("001", "LYO01", "import"), ("002", None, None)]


def test_import_accepts_centre_header_aliases(db, create_session, create_centre):
    session = create_session()
    create_centre(session, code="LYO01")
    data = _csv(_row("001", "LYO01"), header=HEADER.replace("Centre", "Code centre d'examen"))
    assert _import(session, data).ok
    assert _centres_of(db, session) == [("001", "LYO01", "import")]


def test_import_refuses_an_unknown_centre_with_line_and_column(db, create_session,
                                                               create_centre):
    session = create_session()
    create_centre(session, code="LYO01")
    other = create_session()
    create_centre(other, code="STE01")  # a centre of another session is unknown here
    report = _import(session, _csv(_row("001", "LYO01"), _row("002", "STE01"),
                                   _row("003", "LYO 99")))
    assert not report.ok
    assert [str(e) for e in report.errors] == [
        "ligne 3, colonne « Centre » : centre STE01 inconnu dans cette session : créez-le "
        "d'abord (page « Centres ») ou corrigez le code.",
        "ligne 4, colonne « Centre » : centre LYO99 inconnu dans cette session : créez-le "
        "d'abord (page « Centres ») ou corrigez le code.",
    ]
    assert _centres_of(db, session) == []
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == 0


def test_import_reads_a_windows_1252_semicolon_file_with_centres(db, create_session,
                                                                 create_centre):
    session = create_session()
    create_centre(session, code="LYO01")
    create_centre(session, code="STE01")
    text = "\r\n".join((HEADER, _row("001", "LYO01", last="Lefèvre"),
                        _row("002", "ste01", last="Émery"))) + "\r\n"
    report = _import(session, text.encode("cp1252"))
    assert (report.ok, report.encoding, report.created) == (True, "Windows-1252", 2)
    assert _centres_of(db, session) == [("001", "LYO01", "import"), ("002", "STE01", "import")]
    names = db.session.scalars(sa.select(Candidate.last_name).order_by(Candidate.number)).all()
    assert names == ["Lefèvre", "Émery"]


def test_reimport_gives_a_centre_to_a_candidate_without_one_and_is_idempotent(
        db, create_session, create_centre):
    session = create_session()
    create_centre(session, code="LYO01")
    assert _import(session, _csv(_row("001"))).ok
    report = _import(session, _csv(_row("001", "LYO01")))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    report = _import(session, _csv(_row("001", "LYO01")))
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1)
    assert _centres_of(db, session) == [("001", "LYO01", "import")]


def test_import_refuses_to_move_a_candidate_to_another_centre(db, create_session,
                                                              create_centre):
    session = create_session()
    create_centre(session, code="LYO01")
    create_centre(session, code="STE01")
    assert _import(session, _csv(_row("001", "LYO01"))).ok
    report = _import(session, _csv(_row("001", "STE01")))
    assert [str(e) for e in report.errors] == [
        "ligne 2, colonne « Centre » : le candidat 001 est déjà affecté au centre LYO01 : "
        "déplacez-le depuis la liste des candidats (ses documents imprimés y sont remplacés)."]
    assert _centres_of(db, session) == [("001", "LYO01", "import")]


def test_candidates_without_centre_counts_and_lists_them(db, create_session, create_centre,
                                                         create_candidate):
    session = create_session()
    centre = create_centre(session)
    create_candidate(session, centre=centre)
    b = create_candidate(session, last_name="BERNARD")
    a = create_candidate(session, last_name="ARNAUD")
    create_candidate(create_session())  # another session's
    found = centres.candidates_without_centre(session)
    assert (found.count, [c.id for c in found.candidates]) == (2, [a.id, b.id])
    assert centres.candidates_without_centre(session, limit=1).count == 2
    assert [c.id for c in centres.candidates_without_centre(session, limit=1).candidates] == [a.id]


def test_save_centre_table_writes_audits_and_refuses_another_sessions_centre(
        db, create_session, create_centre, create_establishment, create_user):
    session = create_session()
    lyon, ste = create_centre(session, code="LYO01"), create_centre(session, code="STE01")
    foreign = create_centre(create_session(), code="X01")
    e1, e2 = create_establishment(uai="0690001A"), create_establishment(uai="0690002B")
    actor = create_user()
    assert centres.save_centre_table(session=session, actor=actor,
                                     choices={e1.id: lyon.id, e2.id: ste.id}) == (2, 0)
    assert centres.save_centre_table(session=session, actor=actor,
                                     choices={e1.id: lyon.id, e2.id: None}) == (0, 1)
    assert centres.table_centres(session) == {e1.id: lyon.id}
    events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.action, e.before, e.after) for e in events] == [
        ("centre_table.save", {"0690001A": None, "0690002B": None},
         {"0690001A": "LYO01", "0690002B": "STE01"}),
        ("centre_table.save", {"0690002B": "STE01"}, {"0690002B": None}),
    ]
    try:
        centres.save_centre_table(session=session, actor=actor, choices={e1.id: foreign.id})
        raise AssertionError("a centre of another session was accepted")
    except Invalid as error:
        assert error.message == "Ce centre n'appartient pas à la session : rechargez la page."
    assert centres.table_centres(session) == {e1.id: lyon.id}


def test_import_centre_table_all_or_nothing_with_line_errors(db, create_session, create_centre,
                                                             create_establishment):
    session = create_session()
    create_centre(session, code="LYO01")
    e1 = create_establishment(uai="0690001A")
    bad = "UAI;Centre\r\n0690001A;LYO01\r\n0699999Z;LYO01\r\n0690001A;NOPE\r\n".encode("cp1252")
    report = centres.import_centre_table(session=session, data=bad, actor=None, max_rows=100)
    assert [str(e) for e in report.errors] == [
        "ligne 3, colonne « UAI » : établissement 0699999Z inconnu : créez-le d'abord "
        "(page « Établissements »).",
        "ligne 4, colonne « UAI » : l'établissement 0690001A figure déjà ligne 2.",
        "ligne 4, colonne « Centre » : centre NOPE inconnu dans cette session.",
    ]
    assert db.session.scalar(sa.select(sa.func.count(EstablishmentCentre.id))) == 0
    good = b"uai,code centre\r\n0690001A,lyo01\r\n"
    report = centres.import_centre_table(session=session, data=good, actor=None, max_rows=100)
    assert (report.ok, report.written, report.unchanged) == (True, 1, 0)
    report = centres.import_centre_table(session=session, data=good, actor=None, max_rows=100)
    assert (report.ok, report.written, report.unchanged) == (True, 0, 1)
    assert list(centres.table_centres(session)) == [e1.id]


def test_centre_origin_values_are_stored_as_text(db, create_session, create_candidate,
                                                 create_centre):
    session = create_session()
    c = create_candidate(session, centre=create_centre(session),
                         centre_origin=CentreOrigin.TABLE)
    db.session.commit()
    assert db.session.execute(sa.text("SELECT centre_origin FROM candidate WHERE id = :i"),
                              {"i": c.id}).scalar() == "table"
