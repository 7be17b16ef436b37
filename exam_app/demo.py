"""The demo session: a believable académie session to explore the app.

Deterministic (seeded), loaded by ``flask --app exam_app demo`` only when the
database holds no session with the demo code. Demo accounts share one
password, printed by the command: never load the demo in production.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.audit.services import record
from exam_app.e4.definition import E4
from exam_app.e5.definition import E5
from exam_app.enrolment.models import Candidate, Centre, Establishment, ExamSession
from exam_app.extensions import db
from exam_app.juries.models import Commission

DEMO_CODE = "SAM2027"


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD", "demo-sam-2027")


LAST_NAMES = ["Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Lefèvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Muller", "Lefebvre", "Faure", "André", "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Garcia", "Perrin", "Robin", "Clément", "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson", "Marchand", "Duval", "Denis", "Dumont", "Marie", "Lemaire", "Noël", "Meyer", "Dufour", "Meunier", "Brun", "Blanchard", "Giraud", "Joly", "Rivière", "Lucas", "Brunet", "Gaillard", "Barbier", "Arnaud", "Martinez", "Gérard", "Roche", "Renard", "Schmitt", "Roy", "Leroux", "Colin", "Vidal", "Caron", "Picard", "Roger", "Fabre", "Aubert", "Lemoine", "Renaud", "Dumas", "Lacroix", "Olivier", "Philippe", "Bourgeois", "Pierre", "Benoît", "Rey", "Leclerc", "Payet", "Rolland", "Leclercq", "Guillaume", "Lecomte", "N'Diaye", "Nguyen", "Benali", "Haddad", "Ferreira"]
FIRST_NAMES = ["Emma", "Louise", "Jade", "Alice", "Chloé", "Lina", "Léa", "Rose", "Anna", "Mila", "Inès", "Ambre", "Julia", "Mia", "Léna", "Manon", "Juliette", "Lou", "Zoé", "Camille", "Sarah", "Agathe", "Jeanne", "Eva", "Nina", "Romane", "Lucie", "Inaya", "Margaux", "Clara", "Gabriel", "Léo", "Raphaël", "Arthur", "Louis", "Jules", "Adam", "Maël", "Lucas", "Hugo", "Noah", "Liam", "Gabin", "Sacha", "Paul", "Nathan", "Aaron", "Mohamed", "Ethan", "Tom", "Éden", "Léon", "Noé", "Tiago", "Théo", "Isaac", "Marius", "Victor", "Ayden", "Martin", "Yasmine", "Océane", "Maëlys", "Anaïs", "Élodie", "Mélissa", "Kenza", "Salomé", "Laura", "Amandine"]

ESTABLISHMENTS = (
    # uai, name, city, centre index, main status ("ccf" = students, "ponctuel" = apprentices)
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
    user = User(username=username, first_name=first, last_name=last,
                email=f"{username}@demo.invalid")
    user.set_password(demo_password())
    for role, scope in roles:
        user.roles.append(RoleAssignment(role=role.value, **scope))
    db.session.add(user)
    return user


def is_loaded() -> bool:
    return db.session.scalar(sa.select(ExamSession.id).where(ExamSession.code == DEMO_CODE)) \
        is not None


def load(*, candidates: int = 150, seed: int = 2027) -> list[DemoLogin]:
    """Create the demo session and its people. Flushes; the caller commits.

    The steps draw from one seeded generator in a fixed order: reordering
    them changes the demo's names and numbers."""
    rng = random.Random(seed)
    session, centres, establishments = _session_and_places()
    people = _candidates(rng, session=session, centres=centres,
                         establishments=establishments, count=candidates)
    logins: list[DemoLogin] = []
    gestion = _office_and_centre_heads(centres, logins)
    jurors = _Jurors(rng)
    _ponctuel_commissions(rng, session=session, centres=centres,
                          establishments=establishments, jurors=jurors, logins=logins)
    _ccf_commissions(session=session, establishments=establishments, jurors=jurors)
    _correcteurs(jurors, logins)
    _candidate_accounts(people, logins)
    db.session.flush()
    load_jury_day(session=session, actor=gestion)
    record(actor=gestion, action="demo.load", object_type="exam_session", object_id=session.id,
           session_id=session.id, after={"candidates": candidates})
    from exam_app.e6.demo import load_e6

    load_e6(session=session, establishments=establishments, gestion=gestion, rng=rng)
    from exam_app.dossiers import demo as dossiers_demo

    dossiers_demo.load(session=session, candidates=people, actor=gestion)
    return logins


def _session_and_places() -> tuple[ExamSession, list[Centre], list[Establishment]]:
    """The demo session, its centres, and its establishments (reused when already known),
    created through the set-up services a gestionnaire uses (issue 13)."""
    from exam_app.clock import to_local, utcnow
    from exam_app.enrolment import reference, sessions

    # The demo's deposit deadlines fall 30 days from now (dossiers.demo), and a session's
    # dates must fall in its year: a demo loaded after 2027 takes the deadlines' year.
    year = max(2027, to_local(utcnow() + timedelta(days=31)).year)
    session = sessions.create_session(actor=None, code=DEMO_CODE, name="BTS SAM 2027",
                                      academie="Académie de Lyon", year=year,
                                      rules={"e4_fiche_max_pages": 2})
    centres = [reference.save_centre(session=session, actor=None, code=c, name=n, address=a,
                                     postal_code=p, city=v, room="Salle 101", capacity=40,
                                     workstations=12)
               for c, n, a, p, v in CENTRES]
    known = {e.uai: e for e in db.session.scalars(sa.select(Establishment))}
    establishments = []
    for uai, name, city, _, _ in ESTABLISHMENTS:
        establishment = known.get(uai) or reference.save_establishment(
            actor=None, uai=uai, name=name, kind=_kind(name), city=city)
        establishments.append(establishment)
    db.session.flush()
    return session, centres, establishments


def _kind(name: str) -> str:
    """The demo establishment's kind, from its name."""
    for word, kind in (("CFA", "cfa"), ("GRETA", "greta"), ("privé", "lycee_prive")):
        if word in name:
            return kind
    return "lycee_public"


def _candidates(rng: random.Random, *, session: ExamSession, centres: list[Centre],
                establishments: list[Establishment], count: int) -> list[Candidate]:
    """``count`` candidates spread over the establishments, with unique random numbers."""
    people: list[Candidate] = []
    used_numbers: set[str] = set()
    for index in range(count):
        spec = ESTABLISHMENTS[index % len(ESTABLISHMENTS)]
        establishment = establishments[index % len(ESTABLISHMENTS)]
        # Students sit E5 in CCF; apprentices and some late enrolments, ponctuel.
        form = spec[4] if rng.random() > 0.1 else "ponctuel"
        number = f"02{rng.randrange(10**8, 10**9)}"
        while number in used_numbers:
            number = f"02{rng.randrange(10**8, 10**9)}"
        used_numbers.add(number)
        birth = date(2005, 1, 1) + timedelta(days=rng.randrange(0, 3 * 365))
        candidate = Candidate(
            session=session,
            number=number,
            last_name=rng.choice(LAST_NAMES).upper(),
            first_name=rng.choice(FIRST_NAMES),
            birth_date=birth,
            establishment=establishment,
            centre=centres[spec[3]],
            extra_time="1/3" if rng.random() < 0.05 else None,
        )
        candidate.set_form(E5.code, form)
        candidate.refresh_search_text()
        people.append(candidate)
    db.session.add_all(people)
    db.session.flush()
    return people


def _office_and_centre_heads(centres: list[Centre], logins: list[DemoLogin]) -> User:
    """The exam office's account and one chef de centre per centre; the office's user."""
    gestion = _user("gestion", "Claire", "Vasseur", [(Role.GESTIONNAIRE, {})])
    logins.append(DemoLogin("gestionnaire", "gestion", "Claire Vasseur, division des examens"))
    for index, centre in enumerate(centres, start=1):
        first, last = CENTRE_HEADS[index - 1]
        _user(f"centre{index}", first, last, [(Role.CHEF_CENTRE, {"centre_id": centre.id})])
        logins.append(DemoLogin("chef de centre", f"centre{index}", centre.name))
    return gestion


class _Jurors:
    """Names drawn once from the seeded generator, handed out in order to jurors
    (``jury1``, ``jury2``...) and then to correcteurs."""

    def __init__(self, rng: random.Random):
        self.names = iter(rng.sample([(f, last) for f in FIRST_NAMES for last in LAST_NAMES], 80))
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
                        unit=E5.code, form="ccf", days=_demo_days(),
                        establishment=establishment, teacher_school=establishment,
                        jurors=jurors)


def _correcteurs(jurors: _Jurors, logins: list[DemoLogin]) -> None:
    """Three E6 correcteurs (``correcteur1``..``3``)."""
    for index in range(1, 4):
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
              "candidat1"]
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(
        User.username.in_(wanted)))}
    labels = {"gestion": "gestionnaire", "centre1": "chef de centre", "jury1": "examinateur E4",
              "jury2": "examinateur E4", "jury7": "examinateur E5", "jury8": "examinateur E5",
              "correcteur1": "correcteur", "candidat1": "candidat"}
    return [DemoLogin(labels[name], name, users[name].display_name)
            for name in wanted if name in users]


def load_jury_day(*, session: ExamSession, actor, day: date | None = None) -> None:
    """Passages for today at the LYO01 centre (E4 with jury1/jury2, E5 ponctuel), the
    morning's first E4 passage already marked when the demo loads after it."""
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
        planning.assign_candidates(commission=commission, numbers=[c.number for c in chosen],
                                   variant_code="ponctuel", actor=actor)
        passages = planning.generate_schedule(
            commission=commission, day=day, day_start=time(8, 0), break_minutes=10,
            lunch_start=time(12, 0), lunch_minutes=60, workstations=2,
            room="B12" if unit == E4.code else "C04", actor=actor)
        _grant_demo_exceptions(passages, actor=actor, now=now - timedelta(days=1))
        if unit == E4.code and len(passages) >= 2:
            _play_first_passages(commission, passages, now=now)
    db.session.flush()


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
