"""The demo session: a believable académie session to explore the app.

Deterministic (seeded), loaded by ``flask --app exam_app demo`` only when the
database holds no session with the demo code. Demo accounts share one
password, printed by the command: never load the demo in production.

Everything is written through the public services that the pages and commands use
(issue 13): the session, its places, the establishment -> centre table, a candidate
CSV import, accounts, E6 rooms and attendance, deposits. tests/test_demo_services.py
fails when a demo module constructs a model or writes to one directly.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from exam_app.accounts.models import Role, User
from exam_app.audit.services import record
from exam_app.e4.definition import E4
from exam_app.e5.definition import E5
from exam_app.enrolment.models import (
    Candidate,
    CandidateStatus,
    Centre,
    Establishment,
    ExamSession,
)
from exam_app.extensions import db
from exam_app.juries.models import Commission

DEMO_CODE = "SAM2027"


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD", "demo-sam-2027")


LAST_NAMES = ["Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Lefèvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Lefebvre", "Faure", "André", "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Garcia", "Perrin", "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson", "Marchand", "Duval", "Denis", "Dumont", "Marie", "Lemaire", "Noël", "Meyer", "Dufour", "Meunier", "Brun", "Blanchard", "Giraud", "Joly", "Rivière", "Lucas", "Brunet", "Gaillard", "Barbier", "Arnaud", "Martinez", "Gérard", "Roche", "Renard", "Schmitt", "Roy", "Leroux", "Colin", "Vidal", "Caron", "Picard", "Roger", "Fabre", "Aubert", "Lemoine", "Renaud", "Dumas", "Lacroix", "Olivier", "Philippe", "Bourgeois", "Pierre", "Benoît", "Rey", "Leclerc", "Payet", "Rolland", "Leclercq", "Guillaume", "Lecomte", "N'Diaye", "Nguyen", "Benali", "Haddad", "Ferreira"]
FIRST_NAMES = ["Emma", "Louise", "Jade", "Alice", "Chloé", "Lina", "Léa", "Rose", "Anna", "Mila", "Inès", "Ambre", "Julia", "Mia", "Léna", "Manon", "Juliette", "Lou", "Zoé", "Camille", "Sarah", "Agathe", "Jeanne", "Eva", "Nina", "Romane", "Lucie", "Inaya", "Margaux", "Clara", "Gabriel", "Léo", "Raphaël", "Arthur", "Louis", "Jules", "Adam", "Maël", "Lucas", "Hugo", "Noah", "Liam", "Gabin", "Sacha", "Paul", "Nathan", "Aaron", "Mohamed", "Ethan", "Tom", "Éden", "Léon", "Noé", "Tiago", "Théo", "Isaac", "Marius", "Victor", "Ayden", "Martin", "Yasmine", "Océane", "Maëlys", "Anaïs", "Élodie", "Mélissa", "Kenza", "Salomé", "Laura", "Amandine"]

ESTABLISHMENTS = (
    # uai, name, city, centre index, "ccf" for a lycée allowed to run the CCF form (its
    # students and apprentices sit E5 in CCF), "ponctuel" for the CFA and the GRETA
    ("0690026D", "Lycée Édouard-Herriot", "Lyon", 0, "ccf"),
    ("0690104P", "Lycée La Martinière-Diderot", "Lyon", 0, "ccf"),
    ("0691664X", "CFA Métiers du tertiaire", "Lyon", 0, "ponctuel"),
    ("0420013L", "Lycée Honoré-d'Urfé", "Saint-Étienne", 1, "ccf"),
    ("0421788R", "Lycée Simone-Weil", "Saint-Étienne", 1, "ccf"),
    ("0010016Z", "Lycée Lalande", "Bourg-en-Bresse", 2, "ccf"),
    ("0011194T", "Lycée Saint-Joseph (privé)", "Bourg-en-Bresse", 2, "ccf"),
    ("0690713Z", "GRETA Lyon Métropole", "Villeurbanne", 2, "ponctuel"),
)
CENTRES = (
    ("LYO01", "Lycée Jean-Monnet", "12 rue du Plat", "69002", "Lyon"),
    ("STE01", "Lycée Claude-Fauriel", "28 avenue de la Libération", "42000",
     "Saint-Étienne"),
    ("BRG01", "Lycée Quinet", "5 boulevard Édouard-Herriot", "01000",
     "Bourg-en-Bresse"),
)

CENTRE_HEADS = (("Patrick", "Lemoine"), ("Nadia", "Benali"), ("Hélène", "Caron"))


@dataclass(frozen=True)
class DemoLogin:
    role: str
    username: str
    who: str


def _user(username: str, first: str, last: str, roles: list[tuple[Role, dict]]) -> User:
    """A demo account with the demo password, as ``flask create-user`` creates one."""
    from exam_app.accounts.services import create_user

    return create_user(username=username, password=demo_password(), first_name=first,
                       last_name=last, roles=roles, email=f"{username}@demo.invalid")


def is_loaded() -> bool:
    return db.session.scalar(sa.select(ExamSession.id).where(ExamSession.code == DEMO_CODE)) \
        is not None


def load(*, candidates: int = 150, seed: int = 2027) -> list[DemoLogin]:
    """Create the demo session and its people. Flushes; the caller commits.

    The steps draw from one seeded generator in a fixed order: reordering
    them changes the demo's names and numbers."""
    rng = random.Random(seed)
    logins: list[DemoLogin] = []
    gestion = _office(logins)
    session, centres, establishments = _session_and_places(actor=gestion)
    _centre_heads(centres, logins)
    people = _candidates(rng, session=session, centres=centres,
                         establishments=establishments, count=candidates, actor=gestion)
    _registrations(people, session=session, actor=gestion)
    jurors = _Jurors(rng)
    _ponctuel_commissions(rng, session=session, centres=centres,
                          establishments=establishments, jurors=jurors, logins=logins)
    _ccf_commissions(session=session, establishments=establishments, jurors=jurors)
    _ccf_coordinator(establishments, logins)
    _correcteurs(jurors, logins, count=max(3, -(-candidates // COPIES_PER_LOT)))
    _candidate_accounts(people, logins)
    db.session.flush()
    load_jury_day(session=session, actor=gestion)
    record(actor=gestion, action="demo.load", object_type="exam_session", object_id=session.id,
           session_id=session.id, after={"candidates": candidates})
    from exam_app.e6.demo import load_e6

    load_e6(session=session, establishments=establishments, gestion=gestion, rng=rng)
    from exam_app.dossiers import demo as dossiers_demo

    dossiers_demo.load(session=session, candidates=people, actor=gestion)
    _deliberation(session=session, people=people, actor=gestion, logins=logins)
    _publication(session=session, actor=gestion)
    return logins


def _publication(*, session: ExamSession, actor: User) -> None:
    """The plan published (the candidates see their convocation, date, time and room) and
    the relevés de notes announced for after the délibération."""
    from exam_app.enrolment.sessions import set_releve_publication
    from exam_app.juries.errors import JuryError
    from exam_app.juries.publication import publish_plan

    # A demo whose hand-made day leaves a conflict (its size, the time of day it is
    # loaded) stays unpublished: the planning board shows the conflict to fix.
    with contextlib.suppress(JuryError):
        publish_plan(session=session, actor=actor)
    set_releve_publication(session=session, actor=actor,
                           published_at=datetime(2027, 7, 6, 9, 0,
                                                 tzinfo=ZoneInfo(session.timezone)))


# Entered as a gestionnaire would from the session's règlement d'examen: illustrative
# values for the demo, not defaults (the app has none: issue 14, §4).
DEMO_OTHER_UNITS = (("U1", "Culture générale et expression", "3"),
                    ("U21", "Langue vivante étrangère A", "2"),
                    ("U3", "Culture économique, juridique et managériale", "3"))


def _deliberation(*, session: ExamSession, people: list[Candidate], actor,
                  logins: list[DemoLogin]) -> None:
    """The jury de délibération (``deliberation1`` presides, ``deliberation2`` sits), the
    diploma's other units with their coefficients, the marks of the first 40 candidates
    imported from a CSV, and one result changed by the jury. Fixed names: drawing from the
    seeded generator here would change nothing before, but keeps the later steps' draws."""
    from exam_app.deliberation import other_units, services
    from exam_app.results.compute import Kind, session_results

    president = _user("deliberation1", "Claire", "Duval", [(Role.JURY_DELIBERATION, {})])
    member = _user("deliberation2", "Karim", "Benali", [(Role.JURY_DELIBERATION, {})])
    logins.append(DemoLogin("président délib.", "deliberation1",
                            "Claire Duval, présidente du jury"))
    logins.append(DemoLogin("membre délib.", "deliberation2",
                            "Karim Benali, membre du jury"))
    services.set_jury(session=session, president_id=president.id, member_ids=[member.id],
                      actor=actor)
    for code, label, coefficient in DEMO_OTHER_UNITS:
        other_units.save_other_unit(session=session, code=code, label=label,
                                    coefficient=coefficient, actor=actor)
    lines = ["N° candidat;" + ";".join(code for code, _, _ in DEMO_OTHER_UNITS)]
    for index, candidate in enumerate(people[:40]):
        marks = [str(8 + (index * 7 + offset * 3) % 11) for offset in range(3)]
        if index % 13 == 5:
            marks[1] = "DISP"
        lines.append(f"{candidate.number};" + ";".join(marks))
    other_units.import_other_marks(session=session, data="\n".join(lines).encode(),
                                   actor=actor, max_rows=1000, filename="demo-autres.csv")
    results = session_results(session.id, unit_codes=("E4",))
    marked = next((cid for cid in results.candidate_ids
                   if results.of(cid, "E4").kind is Kind.MARK), None)
    if marked is not None:
        before = results.of(marked, "E4")
        raised = min(before.mark + 1, 20)
        services.change_result(session_id=session.id, candidate_id=marked, unit_code="E4",
                               value=str(raised), version=0, before=before.printed,
                               reason="Erreur de report de la grille constatée par le jury",
                               actor=member)


def _session_and_places(*, actor: User) -> tuple[ExamSession, list[Centre],
                                                 list[Establishment]]:
    """The demo session, its centres, and its establishments (reused when already known),
    created through the set-up services a gestionnaire uses (issue 13)."""
    from exam_app.clock import to_local, utcnow
    from exam_app.enrolment import reference, sessions

    # The demo's deposit deadlines fall 30 days from now (dossiers.demo), and a session's
    # dates must fall in its year: a demo loaded after 2027 takes the deadlines' year.
    year = max(2027, to_local(utcnow() + timedelta(days=31)).year)
    session = sessions.create_session(actor=actor, code=DEMO_CODE, name="BTS SAM 2027",
                                      academie="Académie de Lyon", year=year,
                                      rules={"e4_fiche_max_pages": 2})
    centres = [reference.save_centre(session=session, actor=actor, code=c, name=n, address=a,
                                     postal_code=p, city=v, room="Salle 101", capacity=40,
                                     workstations=12)
               for c, n, a, p, v in CENTRES]
    known = {e.uai: e for e in db.session.scalars(sa.select(Establishment))}
    establishments = []
    for uai, name, city, _, route in ESTABLISHMENTS:
        establishment = known.get(uai) or reference.save_establishment(
            actor=actor, uai=uai, name=name, kind=_kind(name), city=city, ccf=route == "ccf")
        establishments.append(establishment)
    db.session.flush()
    return session, centres, establishments


def _kind(name: str) -> str:
    """The demo establishment's kind, from its name."""
    for word, kind in (("CFA", "cfa"), ("GRETA", "greta"), ("privé", "lycee_prive")):
        if word in name:
            return kind
    return "lycee_public"


CANDIDATE_HEADER = ("N° candidat", "Nom", "Prénom", "Date de naissance", "UAI", "Statut",
                    "Aménagement")


def _status(route: str, name: str, draw: float) -> CandidateStatus:
    """A candidate's status from their establishment and one draw in [0, 1): lycées
    have mostly students, some apprentices (mixed sections) and a few candidats
    individuels (redoublants); the CFA, apprentices; the GRETA, continuing-education
    trainees, with some distance learners and candidats individuels."""
    if route == "ccf":
        return (CandidateStatus.INDIVIDUEL if draw < 0.05 else
                CandidateStatus.APPRENTISSAGE if draw < 0.13 else CandidateStatus.SCOLAIRE)
    if "GRETA" in name:
        return (CandidateStatus.INDIVIDUEL if draw < 0.2 else
                CandidateStatus.DISTANCE if draw < 0.4 else CandidateStatus.FORMATION_CONTINUE)
    return CandidateStatus.APPRENTISSAGE


def _candidates(rng: random.Random, *, session: ExamSession, centres: list[Centre],
                establishments: list[Establishment], count: int, actor: User) -> list[Candidate]:
    """``count`` candidates spread over the establishments, with unique random numbers, in
    the order drawn: imported from a CSV file as the division des examens imports theirs,
    then given their establishment's centre by the session's establishment -> centre table."""
    from exam_app.documents.moves import apply_centre_table
    from exam_app.enrolment.centres import save_centre_table
    from exam_app.enrolment.services import import_candidates

    rows: list[tuple[str, ...]] = []
    used_numbers: set[str] = set()
    for index in range(count):
        spec = ESTABLISHMENTS[index % len(ESTABLISHMENTS)]
        # The status gives the E5 form (registration.default_form): CCF for students and
        # apprentices of a lycée allowed to run it, ponctuel for everyone else.
        status = _status(spec[4], spec[1], rng.random())
        number = f"02{rng.randrange(10**8, 10**9)}"
        while number in used_numbers:
            number = f"02{rng.randrange(10**8, 10**9)}"
        used_numbers.add(number)
        birth = date(2005, 1, 1) + timedelta(days=rng.randrange(0, 3 * 365))
        # Drawn in this order (last name, first name, extra time): the demo's names.
        last_name = rng.choice(LAST_NAMES).upper()
        first_name = rng.choice(FIRST_NAMES)
        extra_time = "1/3" if rng.random() < 0.05 else ""
        rows.append((number, last_name, first_name, birth.isoformat(), spec[0], status.label,
                     extra_time))
    text = io.StringIO()
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
    writer.writerow(CANDIDATE_HEADER)
    writer.writerows(rows)
    report = import_candidates(session=session, data=text.getvalue().encode(), actor=actor,
                               max_rows=max(count, 1), filename="candidats-demo.csv")
    if not report.ok:
        raise RuntimeError(f"demo candidates refused: {[str(e) for e in report.errors]}")
    save_centre_table(session=session, actor=actor, choices={
        establishment.id: centres[spec[3]].id
        for establishment, spec in zip(establishments, ESTABLISHMENTS, strict=True)})
    apply_centre_table(session=session, actor=actor)
    by_number = {c.number: c for c in db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session.id))}
    return [by_number[row[0]] for row in rows]


# The first candidates get dossier deposits (dossiers.demo: candidat1..3, then 24 complete
# dossiers): registrations that free a candidate from a unit are given to later ones.
WITH_DEPOSITS = 27


def _registrations(people: list[Candidate], *, session: ExamSession, actor: User) -> None:
    """Units some candidates do not sit, imported from a registrations CSV file: E4 marks
    kept from 2025 by candidats individuels (redoublants), E4 exempted for two
    continuing-education trainees (bloc 1 validated through a VAE), and one of them
    registered for E5 next year only (forme progressive)."""
    from exam_app.enrolment.registration import import_registrations

    later = people[WITH_DEPOSITS:]
    repeaters = [c for c in later if c.status == CandidateStatus.INDIVIDUEL][:3]
    trainees = [c for c in later if c.status == CandidateStatus.FORMATION_CONTINUE][:2]
    kept_year = str(session.year - 2)
    rows = [(c.number, E4.code, "Bénéfice", mark, kept_year,
             f"Demande de conservation de la note de {kept_year}")
            for c, mark in zip(repeaters, ("12,5", "14", "11"), strict=False)]
    rows += [(c.number, E4.code, "Dispensé", "", "", "Bloc 1 validé par VAE")
             for c in trainees]
    rows += [(c.number, E5.code, "Non inscrit", "", "",
              f"Forme progressive : E5 présentée en {session.year + 1}")
             for c in trainees[1:]]
    if not rows:
        return
    text = io.StringIO()
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
    writer.writerow(("N° candidat", "Épreuve", "Inscription", "Note", "Session", "Motif"))
    writer.writerows(rows)
    report = import_registrations(session=session, data=text.getvalue().encode(), actor=actor,
                                  max_rows=len(rows), filename="inscriptions-demo.csv")
    if not report.ok:
        raise RuntimeError(f"demo registrations refused: {[str(e) for e in report.errors]}")


def _office(logins: list[DemoLogin]) -> User:
    """The exam office's account."""
    gestion = _user("gestion", "Claire", "Vasseur", [(Role.GESTIONNAIRE, {})])
    logins.append(DemoLogin("gestionnaire", "gestion", "Claire Vasseur, division des examens"))
    return gestion


def _centre_heads(centres: list[Centre], logins: list[DemoLogin]) -> None:
    """One chef de centre per centre (``centre1``...)."""
    for index, centre in enumerate(centres, start=1):
        first, last = CENTRE_HEADS[index - 1]
        _user(f"centre{index}", first, last, [(Role.CHEF_CENTRE, {"centre_id": centre.id})])
        logins.append(DemoLogin("chef de centre", f"centre{index}", centre.name))


class _Jurors:
    """Names drawn once from the seeded generator, handed out in order to jurors
    (``jury1``, ``jury2``...) and then to correcteurs."""

    def __init__(self, rng: random.Random):
        every = [(f, last) for f in FIRST_NAMES for last in LAST_NAMES]
        drawn = rng.sample(every, 80)
        # A large demo (many commissions, a correcteur per 60 copies) needs more: the other
        # names in order, without drawing again (the seeded demo stays the same).
        chosen = set(drawn)
        self.names = itertools.chain(drawn, (n for n in every if n not in chosen))
        self.count = 0

    def next_name(self) -> tuple[str, str]:
        return next(self.names)

    def examiner(self) -> tuple[User, str]:
        """A new examinateur account and its username."""
        self.count += 1
        first, last = self.next_name()
        username = f"jury{self.count}"
        return _user(username, first, last, [(Role.EXAMINATEUR, {})]), username


# The demo's professionals: their companies (none where a demo candidate did an internship).
COMPANIES = ("Groupe Rhône Assistance", "Clinique du Parc", "Transports Alpes Logistique",
             "Banque Saône Crédit", "Agence Confluence Immobilier", "Mutuelle des Monts")


def _add_commission(*, session: ExamSession, code: str, unit: str, form: str, days: list[date],
                    teacher_school: Establishment, jurors: _Jurors, centre: Centre | None = None,
                    establishment: Establishment | None = None) -> tuple[str, str]:
    """Form ``code`` through the set-up service, with a new teacher of ``teacher_school`` and
    a new professional (their profiles saved as a gestionnaire would); their usernames."""
    from exam_app.enrolment import people
    from exam_app.juries import commissions

    teacher, t_login = jurors.examiner()
    pro, p_login = jurors.examiner()
    people.save_person(session=session, actor=None, last_name=teacher.last_name,
                       first_name=teacher.first_name, email=teacher.email, role="enseignant",
                       uai=teacher_school.uai)
    people.save_person(session=session, actor=None, last_name=pro.last_name,
                       first_name=pro.first_name, email=pro.email, role="professionnel",
                       company=COMPANIES[jurors.count % len(COMPANIES)])
    commissions.create_commission(
        session=session, actor=None, code=code, unit_code=unit, form=form, days=days,
        centre_id=centre.id if centre else None,
        establishment_id=establishment.id if establishment else None,
        jurors=commissions.Jurors(teacher.id, pro.id))
    return t_login, p_login


def _demo_days() -> list[date]:
    """The demo's jury days: today (the jury day ``load_jury_day`` plans) and tomorrow."""
    from exam_app.clock import to_local, utcnow

    today = to_local(utcnow()).date()
    return [today, today + timedelta(days=1)]


def _ccf_days() -> list[date]:
    """The days the demo's CCF situations were held: situation A two weeks ago, B one week
    ago (``load_jury_day`` plays them)."""
    from exam_app.clock import to_local, utcnow

    today = to_local(utcnow()).date()
    return [today - timedelta(days=14), today - timedelta(days=7)]


def _ponctuel_commissions(rng: random.Random, *, session: ExamSession, centres: list[Centre],
                          establishments: list[Establishment], jurors: _Jurors,
                          logins: list[DemoLogin]) -> None:
    """One ponctuel commission per unit (E4, E5) and centre; the first centre's jurors log in."""

    def teacher_from_elsewhere(centre_index: int) -> Establishment:
        # Conflict of interest: a ponctuel teacher never examines their own students.
        choices = [e for e, spec in zip(establishments, ESTABLISHMENTS, strict=True)
                   if spec[3] != centre_index and spec[4] == "ccf"]
        return rng.choice(choices)

    for unit in (E4.code, E5.code):
        for index, centre in enumerate(centres):
            code = f"{unit}-{centre.code}"
            t_login, p_login = _add_commission(
                session=session, code=code, unit=unit, form="ponctuel", days=_demo_days(),
                centre=centre, teacher_school=teacher_from_elsewhere(index), jurors=jurors)
            if index == 0:
                logins.append(DemoLogin(f"examinateur {unit}", t_login,
                                        f"enseignant, commission {code}"))
                logins.append(DemoLogin(f"examinateur {unit}", p_login,
                                        f"professionnel, commission {code}"))


def _ccf_commissions(*, session: ExamSession, establishments: list[Establishment],
                     jurors: _Jurors) -> None:
    """One E5 CCF commission per establishment of students, with one of its teachers."""
    for establishment, spec in zip(establishments, ESTABLISHMENTS, strict=True):
        if spec[4] != "ccf":
            continue
        _add_commission(session=session, code=f"{E5.code}-CCF-{establishment.uai}",
                        unit=E5.code, form="ccf", days=_ccf_days() + _demo_days(),
                        establishment=establishment, teacher_school=establishment,
                        jurors=jurors)


def _ccf_coordinator(establishments: list[Establishment], logins: list[DemoLogin]) -> None:
    """The CCF coordinator (``ccf1``) of the first lycée, whose situations A and B the jury
    day holds (``_ccf_situations``)."""
    first = next(e for e, spec in zip(establishments, ESTABLISHMENTS, strict=True)
                 if spec[4] == "ccf")
    _user("ccf1", "Sylvie", "Marchand",
          [(Role.COORDINATEUR_CCF, {"establishment_id": first.id})])
    logins.append(DemoLogin("coordinateur CCF", "ccf1", first.name))


# A correcteur marks a few dozen copies: a large demo has as many correcteurs as its
# copies need (a lot of ~60 copies each), as an académie would, not lots of 1,600.
COPIES_PER_LOT = 60


def _correcteurs(jurors: _Jurors, logins: list[DemoLogin], *, count: int = 3) -> None:
    """E6 correcteurs ``correcteur1``..``3`` (more for a large demo)."""
    for index in range(1, count + 1):
        first, last = jurors.next_name()
        _user(f"correcteur{index}", first, last, [(Role.CORRECTEUR, {})])
    logins.append(DemoLogin("correcteur", "correcteur1", "correcteur E6"))


def _candidate_accounts(people: list[Candidate], logins: list[DemoLogin]) -> None:
    """Accounts for the first three candidates (``candidat1``..``3``)."""
    for index, candidate in enumerate(people[:3], start=1):
        _user(f"candidat{index}", candidate.first_name, candidate.last_name,
              [(Role.CANDIDAT, {"candidate_id": candidate.id})])
        logins.append(DemoLogin("candidat", f"candidat{index}",
                                f"{candidate.first_name} {candidate.last_name}, "
                                f"n° {candidate.number}"))


def logins_for_display() -> list[DemoLogin]:
    """The demo logins, rebuilt from the database (for a second ``make run``)."""
    if not is_loaded():
        return []
    wanted = ["gestion", "centre1", "jury1", "jury2", "jury7", "jury8", "correcteur1",
              "candidat1", "deliberation1", "deliberation2", "ccf1"]
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(
        User.username.in_(wanted)))}
    labels = {"gestion": "gestionnaire", "centre1": "chef de centre", "jury1": "examinateur E4",
              "jury2": "examinateur E4", "jury7": "examinateur E5", "jury8": "examinateur E5",
              "correcteur1": "correcteur", "candidat1": "candidat",
              "deliberation1": "président délib.",
              "deliberation2": "membre délib.",
              "ccf1": "coordinateur CCF"}
    return [DemoLogin(labels[name], name, users[name].display_name)
            for name in wanted if name in users]


def load_jury_day(*, session: ExamSession, actor, day: date | None = None) -> None:
    """Passages for today at the LYO01 centre (E4 with jury1/jury2, E5 ponctuel), the
    morning's first E4 passage already marked when the demo loads after it, and the
    last one's E4 dossier refused (NV); the CCF situations of the first lycée."""
    from datetime import time

    from exam_app.clock import to_local, utcnow
    from exam_app.juries import planning

    now = utcnow()
    day = day or to_local(now).date()
    for unit, count in ((E4.code, 8), (E5.code, 4)):
        commission = db.session.scalar(sa.select(Commission).where(
            Commission.session_id == session.id, Commission.code == f"{unit}-LYO01"))
        pool = db.session.scalars(
            sa.select(Candidate).where(Candidate.session_id == session.id,
                                       Candidate.centre_id == commission.centre_id,
                                       Candidate.sits_in(unit, "ponctuel"))
            .order_by(Candidate.last_name, Candidate.id)).all()
        chosen = [c for c in pool if planning.conflict_of_interest(commission, c) is None][:count]
        if unit == E4.code and len(chosen) >= 3:
            _refuse_dossier(chosen[-1], unit_code=unit, actor=actor, now=now)
        planning.assign_candidates(commission=commission, numbers=[c.number for c in chosen],
                                   variant_code="ponctuel", actor=actor)
        passages = planning.generate_schedule(
            commission=commission, day=day, day_start=time(8, 0), break_minutes=10,
            lunch_start=time(12, 0), lunch_minutes=60, workstations=2,
            room="B12" if unit == E4.code else "C04", actor=actor)
        _grant_demo_exceptions(passages, actor=actor, now=now - timedelta(days=1))
        if unit == E4.code and len(passages) >= 2:
            _play_first_passages(commission, passages, now=now)
    _ccf_situations(session=session, actor=actor, now=now)
    db.session.flush()


def _refuse_dossier(candidate: Candidate, *, unit_code: str, actor, now) -> None:
    """The conformity control refuses the candidate's dossier for a reason that makes the
    unit NV: the candidate is convoked but not interviewed, and the result reads NV."""
    from exam_app.dossiers.conformity import decide
    from exam_app.dossiers.models import Decision

    decide(candidate=candidate, unit_code=unit_code, decision=Decision.NON_COMPLIANT,
           reasons=["stage_insuffisant"], actor=actor, confirm_early=True,
           now=now - timedelta(days=2),
           comment="Attestations de stage : 48 journées sur les 70 exigées.")


def _ccf_situations(*, session: ExamSession, actor, now) -> None:
    """The E5 CCF situations of the first lycée's commission, held on ``_ccf_days``: its
    first candidate sat A and B (the result is settled), the second sat B, A being
    planned for tomorrow (the result waits for A), the third sat A and was absent at B
    (ABS)."""
    from datetime import time

    from exam_app.clock import local_zone, to_local
    from exam_app.juries import lifecycle, planning
    from exam_app.juries.models import Attendance

    uai = next(spec[0] for spec in ESTABLISHMENTS if spec[4] == "ccf")
    commission = db.session.scalar(sa.select(Commission).where(
        Commission.session_id == session.id, Commission.code == f"{E5.code}-CCF-{uai}"))
    pool = db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session.id,
                                   Candidate.establishment_id == commission.establishment_id,
                                   Candidate.sits_in(E5.code, "ccf"))
        .order_by(Candidate.last_name, Candidate.id)).all()
    if len(pool) < 3:
        return
    settled, waiting, absent = pool[:3]
    day_a, day_b = _ccf_days()
    jurors = [m.user for m in commission.members]

    def plan(candidates: list[Candidate], variant: str, day: date) -> list:
        planning.assign_candidates(commission=commission, numbers=[c.number for c in candidates],
                                   variant_code=variant, actor=actor, now=now)
        passages = planning.generate_schedule(
            commission=commission, day=day, day_start=time(9, 0), break_minutes=10,
            lunch_start=time(12, 0), lunch_minutes=60, workstations=2, room="Salle 214",
            actor=actor, now=now)
        _grant_demo_exceptions(passages, actor=actor, now=passages[0].scheduled_at
                               - timedelta(days=1))
        return passages

    first_a, absent_a = plan([settled, absent], "ccf_a", day_a)
    _play(first_a, jurors, appreciation="Veille structurée, sources variées et fiables.")
    _play(absent_a, jurors, appreciation="Veille pertinente, synthèse à améliorer.")
    first_b, waiting_b, absent_b = plan([settled, waiting, absent], "ccf_b", day_b)
    _play(first_b, jurors, mark="15", appreciation="Simulation maîtrisée, choix justifiés.")
    _play(waiting_b, jurors, mark="13,5",
          appreciation="Solution adaptée ; la communication gagnerait en précision.")
    lifecycle.set_attendance(passage=absent_b, attendance=Attendance.ABSENT, actor=jurors[0],
                             now=absent_b.scheduled_at)
    # Situation A of the second candidate, postponed: planned tomorrow morning.
    (waiting_a,) = planning.assign_candidates(
        commission=commission, numbers=[waiting.number], variant_code="ccf_a", actor=actor,
        now=now)
    tomorrow = to_local(now).date() + timedelta(days=1)
    planning.move_passage(passage=waiting_a, actor=actor, now=now,
                          scheduled_at=datetime.combine(tomorrow, time(9, 0), local_zone())
                          .astimezone(UTC))
    _grant_demo_exceptions([waiting_a], actor=actor, now=now)


def _play(passage, jurors: list[User], *, appreciation: str, mark: str | None = None) -> None:
    """Run the passage at its scheduled time through every step, fill in the agreed grid
    (every criterion, the appreciation, the mark where the situation carries it) and
    have both jurors validate it."""
    from exam_app.juries import autosave, grids, lifecycle, validation

    now = passage.scheduled_at
    lifecycle.start_passage(passage=passage, actor=jurors[0], now=now)
    for index, segment in enumerate(lifecycle.planned_segments(passage)):
        now += timedelta(seconds=segment.allowed_seconds)
        lifecycle.advance(passage=passage, from_index=index, actor=jurors[0], now=now)
    levels = ("S", "TS", "S", "I", "TS", "S")
    values = [(name, levels[n % len(levels)])
              for n, name in enumerate(n for n in grids.field_names(passage.unit_code,
                                                                     passage.variant_code)
                                       if n.startswith("c:"))]
    values.append(("appreciation", appreciation))
    if mark is not None:
        values.append(("mark", mark))
    context = autosave.save_context(passage_id=passage.id, user_id=jurors[0].id)
    autosave.save_fields(context=context, actor=jurors[0], now=now + timedelta(minutes=2),
                         ops=[{"op": f"demo-{passage.id}-{n}", "field": name, "value": value,
                               "base": 0} for n, (name, value) in enumerate(values)])
    db.session.refresh(passage)
    for juror in jurors:
        validation.validate(passage=passage, revision=passage.agreed_revision, actor=juror,
                            now=now + timedelta(minutes=4))


def _grant_demo_exceptions(passages: list, *, actor, now) -> None:
    """The demo's jury day runs before its dossiers are controlled: each passage gets the
    gestionnaire's exception (audited, printed on the fiche) so that its jurors can start."""
    from exam_app.juries.derogation import grant_start_exception, needs_exception

    for passage in passages:
        if needs_exception(passage):
            grant_start_exception(passage=passage, actor=actor, now=now,
                                  reason="Démonstration : journée d'oral avant la fin du "
                                         "contrôle de conformité.")


def _play_first_passages(commission: Commission, passages: list, *, now) -> None:
    """The morning's first passage marked and validated, and the second one absent, when
    their time has passed."""
    from exam_app.juries import autosave, grids, lifecycle, validation
    from exam_app.juries.models import Attendance

    first, second = passages[0], passages[1]
    jurors = [m.user for m in commission.members]
    start = first.scheduled_at
    if start + timedelta(minutes=60) <= now:
        lifecycle.start_passage(passage=first, actor=jurors[0], now=start)
        lifecycle.advance(passage=first, from_index=0, actor=jurors[0],
                         now=start + timedelta(minutes=24))
        lifecycle.advance(passage=first, from_index=1, actor=jurors[1],
                         now=start + timedelta(minutes=53))
        context = autosave.save_context(passage_id=first.id, user_id=jurors[0].id)
        grid = grids.field_names(E4.code, "ponctuel")
        levels = ["S", "TS", "S", "S", "I", "S", "TS"]
        ops = [{"op": f"demo-{first.id}-{n}", "field": name, "value": value, "base": 0}
               for n, (name, value) in enumerate(zip(grid, levels, strict=False))]
        ops.append({"op": f"demo-{first.id}-a", "field": "appreciation", "base": 0,
                    "value": "Missions bien présentées, outils maîtrisés ; analyse réflexive à approfondir."})
        ops.append({"op": f"demo-{first.id}-m", "field": "mark", "value": "14,5", "base": 0})
        autosave.save_fields(context=context, ops=ops, actor=jurors[0],
                             now=start + timedelta(minutes=56))
        db.session.refresh(first)
        for juror in jurors:
            validation.validate(passage=first, revision=first.agreed_revision, actor=juror,
                              now=start + timedelta(minutes=58))
    if second.scheduled_at + timedelta(minutes=15) <= now:
        lifecycle.set_attendance(passage=second, attendance=Attendance.ABSENT,
                                actor=jurors[0], now=second.scheduled_at)
