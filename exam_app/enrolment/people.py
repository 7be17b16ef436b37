"""People and their roles for a session (issue 13, item 2): teachers (with their
establishment's UAI), professionals (with their company), correcteurs, chefs de
centre (with their centre) and gestionnaires, by CSV file or one at a time.

As for the other reference data: every row checked first, nothing written when
one is wrong (errors by line and column), idempotent (a person is matched on
their e-mail address, required; roles already held are kept), audited. New
accounts get no usable password: they are activated by the person through a
one-time link (issue 13, item 3: enrolment/activation.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import sqlalchemy as sa

from exam_app.accounts.models import Role, RoleAssignment, User
from exam_app.audit.services import record
from exam_app.enrolment.csv_import import EMAIL_RE, UAI_RE, Column, normalise_header
from exam_app.enrolment.csv_table import read_table
from exam_app.enrolment.models import Centre, Establishment, ExamSession, PersonProfile
from exam_app.enrolment.reference import ReferenceReport, _first_error
from exam_app.errors import Invalid
from exam_app.extensions import db

PEOPLE_COLUMNS = (
    Column("last_name", "Nom", True, ("nom", "nomdefamille")),
    Column("first_name", "Prénom", True, ("prenom", "prenoms")),
    Column("email", "Courriel", True, ("courriel", "email", "mail", "adressemail")),
    Column("role", "Rôle", True, ("role", "fonction", "qualite")),
    Column("uai", "UAI", False, ("uai", "codeuai", "rne", "uaietablissement")),
    Column("company", "Entreprise", False, ("entreprise", "societe", "employeur",
                                           "organisme")),
    Column("centre", "Centre", False, ("centre", "codecentre")),
)

TEACHER, PROFESSIONAL = "enseignant", "professionnel"
ROLE_ALIASES = {
    "enseignant": TEACHER, "professeur": TEACHER, "enseignante": TEACHER,
    "professionnel": PROFESSIONAL, "professionnelle": PROFESSIONAL, "pro": PROFESSIONAL,
    "correcteur": Role.CORRECTEUR.value, "correctrice": Role.CORRECTEUR.value,
    "chefdecentre": Role.CHEF_CENTRE.value, "chefcentre": Role.CHEF_CENTRE.value,
    "gestionnaire": Role.GESTIONNAIRE.value,
}
ACCOUNT_ROLE = {TEACHER: Role.EXAMINATEUR, PROFESSIONAL: Role.EXAMINATEUR,
                Role.CORRECTEUR.value: Role.CORRECTEUR, Role.CHEF_CENTRE.value: Role.CHEF_CENTRE,
                Role.GESTIONNAIRE.value: Role.GESTIONNAIRE}


def person_values(cells: dict[str, str], report, *, centres: dict[str, Centre],
                  establishments: dict[str, Establishment]) -> dict:
    """Checked values of one person and role; errors reported by field."""
    last_name, first_name = cells.get("last_name") or "", cells.get("first_name") or ""
    for name, value in (("last_name", last_name), ("first_name", first_name)):
        if not value:
            report(name, "valeur obligatoire manquante.")
        elif len(value) > 100:
            report(name, "100 caractères au plus.")
    email = (cells.get("email") or "").strip()
    if not email:
        report("email", "valeur obligatoire manquante (l'adresse sert à activer le compte).")
    elif len(email) > 120 or not EMAIL_RE.match(email):
        report("email", f"« {email} » n'est pas une adresse électronique.")
    role_text = cells.get("role") or ""
    role = ROLE_ALIASES.get(normalise_header(role_text))
    if role is None:
        report("role", f"« {role_text} » : attendu enseignant, professionnel, correcteur, "
                       "chef de centre ou gestionnaire.")
    uai = (cells.get("uai") or "").upper().replace(" ", "")
    company = cells.get("company") or ""
    centre_code = (cells.get("centre") or "").upper().replace(" ", "")
    establishment = centre = None
    if role == TEACHER:
        if not uai:
            report("uai", "l'établissement (UAI) d'un enseignant est obligatoire.")
        elif not UAI_RE.match(uai):
            report("uai", f"« {uai} » n'est pas un code UAI (7 chiffres suivis d'une lettre).")
        else:
            establishment = establishments.get(uai)
            if establishment is None:
                report("uai", f"établissement {uai} inconnu : importez-le d'abord.")
    if role == PROFESSIONAL:
        if not company:
            report("company", "l'entreprise d'un professionnel est obligatoire.")
        elif len(company) > 200:
            report("company", "200 caractères au plus.")
    if role == Role.CHEF_CENTRE.value:
        if not centre_code:
            report("centre", "le centre d'un chef de centre est obligatoire.")
        else:
            centre = centres.get(centre_code)
            if centre is None:
                report("centre", f"centre {centre_code} inconnu dans la session.")
    return {"last_name": last_name, "first_name": first_name, "email": email,
            "key": email.casefold(), "role": role, "establishment": establishment,
            "company": company if role == PROFESSIONAL else "", "centre": centre}


@dataclass
class _Person:
    line: int
    last_name: str
    first_name: str
    email: str
    roles: list[tuple[Role, int | None]] = field(default_factory=list)
    establishment: Establishment | None = None
    company: str = ""


def _lookups(session: ExamSession) -> tuple[dict, dict]:
    centres = {c.code: c for c in db.session.scalars(
        sa.select(Centre).where(Centre.session_id == session.id))}
    establishments = {e.uai: e for e in db.session.scalars(sa.select(Establishment))}
    return centres, establishments


def _merge(rows: list[tuple[int, dict]], report) -> dict[str, _Person]:
    """One person per e-mail; a person's rows must agree on the name and profile."""
    people: dict[str, _Person] = {}
    for line, values in rows:
        person = people.get(values["key"])
        if person is None:
            person = people[values["key"]] = _Person(line, values["last_name"],
                                                     values["first_name"], values["email"])
        elif (person.last_name, person.first_name) != (values["last_name"],
                                                       values["first_name"]):
            report(line, "last_name", f"{values['email']} est au nom de {person.first_name} "
                                      f"{person.last_name} ligne {person.line}.")
            continue
        if values["establishment"] is not None:
            if person.establishment not in (None, values["establishment"]):
                report(line, "uai", f"{values['email']} a un autre établissement ligne "
                                    f"{person.line}.")
            person.establishment = values["establishment"]
        if values["company"]:
            person.company = values["company"]
        role = (ACCOUNT_ROLE[values["role"]],
                values["centre"].id if values["centre"] is not None else None)
        if role not in person.roles:
            person.roles.append(role)
    return people


def _existing(people: dict[str, _Person]) -> tuple[dict[str, User], dict[str, User]]:
    """Users matched by e-mail, and users holding the username a new account would take."""
    keys = list(people)
    by_email = {u.email.casefold(): u for u in db.session.scalars(
        sa.select(User).where(sa.func.lower(User.email).in_(keys)))}
    by_username = {u.username: u for u in db.session.scalars(
        sa.select(User).where(User.username.in_(keys)))}
    return by_email, by_username


def _check_usernames(people: dict[str, _Person], report) -> None:
    by_email, by_username = _existing(people)
    for key, person in people.items():
        if key not in by_email and key in by_username:
            report(person.line, "email", f"l'identifiant « {key} » est déjà pris par un autre "
                                         "compte (adresse électronique différente).")


def _apply(people: dict[str, _Person]) -> dict:
    """Create or update the accounts and their roles, then the profiles: two flushes for
    the whole file (not one a person), the existing profiles read in one query."""
    by_email, _ = _existing(people)
    profiles = {p.user_id: p for p in db.session.scalars(
        sa.select(PersonProfile).where(PersonProfile.user_id.in_(
            [u.id for u in by_email.values()])))} if by_email else {}
    tally = {"created": 0, "updated": 0, "unchanged": 0, "changes": []}
    accounts = []
    for key, person in people.items():
        user = by_email.get(key)
        created = user is None
        if created:
            user = User(username=key, email=person.email, first_name=person.first_name,
                        last_name=person.last_name)
            # Unusable until the person activates the account (enrolment/activation.py).
            user.set_unusable_password()
            db.session.add(user)
        held = {(Role(r.role), r.centre_id) for r in user.roles}
        added = [(role, centre_id) for role, centre_id in person.roles
                 if (role, centre_id) not in held]
        for role, centre_id in added:
            user.roles.append(RoleAssignment(role=role.value, centre_id=centre_id))
        renamed = not created and (user.first_name, user.last_name) != (person.first_name,
                                                                        person.last_name)
        before_name = {"first_name": user.first_name, "last_name": user.last_name}
        user.first_name, user.last_name = person.first_name, person.last_name
        accounts.append((key, person, user, created, added, renamed, before_name))
    db.session.flush()  # the new accounts' ids, for their profiles
    for key, person, user, created, added, renamed, before_name in accounts:
        profile = profiles.get(user.id)
        before_profile = ({"establishment": profile.establishment_id, "company": profile.company}
                          if profile else None)
        wanted = before_profile
        if person.establishment or person.company:
            current = before_profile or {"establishment": None, "company": ""}
            wanted = {"establishment": person.establishment.id if person.establishment
                      else current["establishment"],
                      "company": person.company or current["company"]}
            if wanted != before_profile:
                if profile is None:
                    profile = PersonProfile(user_id=user.id)
                    db.session.add(profile)
                profile.establishment_id, profile.company = (wanted["establishment"],
                                                             wanted["company"])
        outcome = ("created" if created else "updated" if added or renamed
                   or wanted != before_profile else "unchanged")
        tally[outcome] += 1
        if outcome != "unchanged":
            tally["changes"].append({
                "email": person.email, "user": key,
                "before": None if created else {**before_name, "profile": before_profile},
                "after": {"first_name": person.first_name, "last_name": person.last_name,
                          "roles_added": [[r.value, c] for r, c in added],
                          "profile": wanted}})
    db.session.flush()
    return tally


def import_people(*, session: ExamSession, data: bytes, actor, max_rows: int,
                  filename: str = "") -> ReferenceReport:
    """Create or update people and their roles from a CSV file, all or nothing."""
    table = read_table(data, columns=PEOPLE_COLUMNS, max_rows=max_rows, what="personne")
    centres, establishments = _lookups(session)
    rows = []
    for row in table.rows:
        values = person_values(
            row.cells, lambda name, message, line=row.line: table.error(line, name, message),
            centres=centres, establishments=establishments)
        rows.append((row.line, values))
    if table.ok:
        people = _merge(rows, table.error)
        _check_usernames(people, table.error)
    if not table.ok:
        return ReferenceReport(errors=sorted(table.errors, key=lambda e: e.line),
                               error_count=table.error_count, encoding=table.encoding)
    tally = _apply(people)
    record(actor=actor, action="person.import", object_type="exam_session",
           object_id=session.id, session_id=session.id,
           after={"file": filename, "sha256": hashlib.sha256(data).hexdigest(),
                  "rows": len(rows), **tally})
    return ReferenceReport(tally["created"], tally["updated"], tally["unchanged"],
                           encoding=table.encoding)


def save_person(*, session: ExamSession, actor, last_name: str, first_name: str, email: str,
                role: str, uai: str = "", company: str = "", centre: str = "") -> User:
    """Create or update one person with one more role (the form's row)."""
    centres, establishments = _lookups(session)
    cells = {"last_name": " ".join(last_name.split()), "first_name": " ".join(first_name.split()),
             "email": email, "role": role, "uai": uai, "company": " ".join(company.split()),
             "centre": centre}
    values = _first_error(lambda report: person_values(
        cells, report, centres=centres, establishments=establishments))
    errors: list[tuple[str, str]] = []

    def report(line, name, message):
        errors.append((name, message))

    people = _merge([(0, values)], report)
    _check_usernames(people, report)
    if errors:
        raise Invalid(errors[0][1][0].upper() + errors[0][1][1:], field=errors[0][0])
    tally = _apply(people)
    if tally["changes"]:
        change = tally["changes"][0]
        record(actor=actor, action="person.save", object_type="user", object_id=change["user"],
               session_id=session.id, before=change["before"], after=change["after"])
    return db.session.scalar(sa.select(User).where(User.username == values["key"]))


def profiles(user_ids: list[int]) -> dict[int, PersonProfile]:
    """The profiles of these users, by user id (for the people page)."""
    if not user_ids:
        return {}
    return {p.user_id: p for p in db.session.scalars(
        sa.select(PersonProfile).where(PersonProfile.user_id.in_(user_ids)))}
