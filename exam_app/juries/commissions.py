"""Forming commissions (issue 13, item 5): a unit, a form, a centre (ponctuel) or an
establishment (CCF), the days it sits, and exactly one teacher and one professional —
or a teacher holding the professional's seat, recorded with its reason and printed
as such. Jurors declare the days they cannot sit.

Every refusal is an ``Invalid`` (field named) or a ``Conflict`` in French, raised
before anything is written that the caller would keep (views roll back). Same
contract as every service: keyword-only arguments, flush and audit, never commit.

Serialised decisions: an edit is a conditional UPDATE on the commission's version
(a stale form is refused); the jurors' ``user`` rows are locked (in id order) before
their other commissions are read, so two commissions formed at once cannot book one
juror twice on a day.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from exam_app.accounts.models import Role, User
from exam_app.audit.services import record
from exam_app.enrolment.csv_import import Column
from exam_app.enrolment.csv_table import read_table
from exam_app.enrolment.models import Candidate, Centre, Establishment, ExamSession, PersonProfile
from exam_app.enrolment.reference import ReferenceReport
from exam_app.errors import Conflict, Invalid, ServiceError
from exam_app.extensions import db
from exam_app.formatting import french_sort_key
from exam_app.juries.grids import grid_key_for
from exam_app.juries.models import (
    AGREED,
    Commission,
    CommissionDay,
    CommissionMember,
    Grid,
    JurorAvailability,
    MemberRole,
    Passage,
)
from exam_app.juries.planning import (
    _create_grid,
    conflict_with,
    internship_organisations,
    pro_companies,
)
from exam_app.units import UnitForm, UnitKind, all_units, get_unit

MAX_DAYS = 31


@dataclass(frozen=True)
class Jurors:
    """Who sits: the teacher, and the professional's seat (a teacher when
    ``replacement_reason`` is given)."""

    teacher_id: int | None
    professional_id: int | None
    replacement_reason: str = ""


def oral_units() -> list:
    """The units examined by a commission (oral units)."""
    return [u for u in all_units() if u.kind == UnitKind.ORAL]


def _profiles(user_ids: list[int]) -> dict[int, PersonProfile]:
    if not user_ids:
        return {}
    return {p.user_id: p for p in db.session.scalars(
        sa.select(PersonProfile).where(PersonProfile.user_id.in_(user_ids)))}


def is_teacher(user: User, profile: PersonProfile | None) -> bool:
    """An examinateur whose profile names their establishment."""
    return (user.has_role(Role.EXAMINATEUR) and profile is not None
            and profile.establishment_id is not None)


def is_professional(user: User, profile: PersonProfile | None) -> bool:
    """An examinateur whose profile names their company."""
    return user.has_role(Role.EXAMINATEUR) and profile is not None and bool(profile.company)


def juror_choices() -> tuple[list[User], list[User]]:
    """The teachers and the professionals who may sit, by name (for the form's lists)."""
    users = sorted(db.session.scalars(
        sa.select(User).join(PersonProfile, PersonProfile.user_id == User.id)).all(),
        key=lambda u: (french_sort_key(u.last_name, u.first_name), u.id))
    profiles = _profiles([u.id for u in users])
    teachers = [u for u in users if is_teacher(u, profiles.get(u.id))]
    pros = [u for u in users if is_professional(u, profiles.get(u.id))]
    return teachers, pros


def juror_id(email: str, *, field: str) -> int:
    """The account with this e-mail address (for the CLI and the CSV import)."""
    email = (email or "").strip()
    if not email:
        raise Invalid("Indiquez le courriel du juré.", field=field)
    user = db.session.scalar(sa.select(User).where(
        sa.func.lower(User.email) == email.casefold()))
    if user is None:
        raise Invalid(f"Aucun compte avec l'adresse « {email} ».", field=field)
    return user.id


def place_ids(*, session: ExamSession, centre_code: str | None,
              uai: str | None) -> tuple[int | None, int | None]:
    """The centre (by code, in the session) and the establishment (by UAI) named."""
    centre_id = establishment_id = None
    if centre_code:
        centre_id = db.session.scalar(sa.select(Centre.id).where(
            Centre.session_id == session.id, Centre.code == centre_code.strip().upper()))
        if centre_id is None:
            raise Invalid(f"Centre {centre_code} inconnu dans la session.", field="centre_id")
    if uai:
        establishment_id = db.session.scalar(sa.select(Establishment.id).where(
            Establishment.uai == uai.strip().upper()))
        if establishment_id is None:
            raise Invalid(f"Établissement {uai} inconnu.", field="establishment_id")
    return centre_id, establishment_id


def _fr(day: date) -> str:
    return f"{day:%d/%m/%Y}"


def _check_place(session: ExamSession, *, unit_code: str, form: str, centre_id: int | None,
                 establishment_id: int | None) -> tuple[Centre | None, Establishment | None]:
    units = {u.code: u for u in oral_units()}
    if unit_code not in units:
        raise Invalid("Choisissez une épreuve orale (E4 ou E5).", field="unit_code")
    if form not in {f.value for f in units[unit_code].forms}:
        raise Invalid(f"L'épreuve {unit_code} ne se passe pas en forme « {form} ».",
                      field="form")
    if form == UnitForm.PONCTUEL.value:
        centre = db.session.get(Centre, centre_id) if centre_id else None
        if centre is None or centre.session_id != session.id:
            raise Invalid("Une commission en forme ponctuelle siège dans un centre d'examen "
                          "de la session : choisissez-le.", field="centre_id")
        return centre, None
    establishment = db.session.get(Establishment, establishment_id) if establishment_id else None
    if establishment is None:
        raise Invalid("Une commission de CCF siège dans l'établissement de ses candidats : "
                      "choisissez-le.", field="establishment_id")
    return None, establishment


def _check_days(days: list[date]) -> list[date]:
    days = sorted(set(days or []))
    if not days:
        raise Invalid("Indiquez au moins un jour de passage.", field="days")
    if len(days) > MAX_DAYS:
        raise Invalid(f"{MAX_DAYS} jours au plus par commission.", field="days")
    return days


def _lock_users(ids: list[int]) -> dict[int, User]:
    """The jurors' rows locked in id order, so that two formations naming one juror are
    decided one at a time, the second reading the first's commission. PostgreSQL:
    ``SELECT ... FOR UPDATE``; SQLite: a no-op UPDATE of the rows takes the database's
    write lock (the driver opens the transaction at the first write)."""
    db.session.flush()
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(sa.update(User).where(User.id.in_(ids))
                           .values(session_token=User.session_token)
                           .execution_options(synchronize_session=False))
    else:
        db.session.execute(sa.select(User.id).where(User.id.in_(ids)).order_by(User.id)
                           .with_for_update())
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}


def _check_jurors(jurors: Jurors) -> tuple[User, User, dict[int, PersonProfile]]:
    """The two jurors, locked, each with the profile their seat needs."""
    if not jurors.teacher_id:
        raise Invalid("Choisissez l'enseignant de la commission.", field="teacher_id")
    if not jurors.professional_id:
        seat = ("l'enseignant qui remplace le professionnel" if jurors.replacement_reason
                else "le professionnel de la commission")
        raise Invalid(f"Choisissez {seat}.", field="professional_id")
    if jurors.teacher_id == jurors.professional_id:
        raise Invalid("Une même personne ne peut occuper les deux sièges de la commission.",
                      field="professional_id")
    users = _lock_users(sorted([jurors.teacher_id, jurors.professional_id]))
    profiles = _profiles(list(users))
    teacher, second = users.get(jurors.teacher_id), users.get(jurors.professional_id)
    if teacher is None:
        raise Invalid("Enseignant inconnu.", field="teacher_id")
    if second is None:
        raise Invalid("Juré inconnu.", field="professional_id")
    if not is_teacher(teacher, profiles.get(teacher.id)):
        raise Invalid(f"{teacher.display_name} n'a pas le profil d'enseignant (examinateur "
                      "rattaché à un établissement).", field="teacher_id")
    if jurors.replacement_reason:
        if len(jurors.replacement_reason) > 300:
            raise Invalid("300 caractères au plus.", field="replacement_reason")
        if not is_teacher(second, profiles.get(second.id)):
            raise Invalid(f"{second.display_name} n'a pas le profil d'enseignant : seul un "
                          "enseignant peut remplacer le professionnel.", field="professional_id")
    elif not is_professional(second, profiles.get(second.id)):
        raise Invalid(f"{second.display_name} n'a pas le profil de professionnel (examinateur "
                      "rattaché à une entreprise). Un enseignant ne peut siéger à la place du "
                      "professionnel qu'en remplacement, avec son motif.",
                      field="professional_id")
    return teacher, second, profiles


def _check_calendar(users: list[tuple[User, str]], days: list[date], session: ExamSession,
                    *, exclude_id: int | None) -> None:
    """Refuse a juror already sitting elsewhere, or unavailable, on one of the days."""
    for user, field in users:
        busy = db.session.execute(
            sa.select(Commission.code, CommissionDay.day)
            .join(CommissionMember, CommissionMember.commission_id == Commission.id)
            .join(CommissionDay, CommissionDay.commission_id == Commission.id)
            .where(CommissionMember.user_id == user.id, CommissionDay.day.in_(days),
                   Commission.id != (exclude_id or 0))
            .order_by(CommissionDay.day, Commission.code)).first()
        if busy is not None:
            raise Invalid(f"{user.display_name} siège déjà dans la commission {busy.code} le "
                          f"{_fr(busy.day)} : un juré ne siège que dans une commission à la "
                          "fois.", field=field)
        away = db.session.scalar(
            sa.select(JurorAvailability.day).where(
                JurorAvailability.session_id == session.id,
                JurorAvailability.user_id == user.id, JurorAvailability.day.in_(days),
                JurorAvailability.is_available.is_(False))
            .order_by(JurorAvailability.day))
        if away is not None:
            raise Invalid(f"{user.display_name} est indisponible le {_fr(away)}.", field=field)


def _snapshot(commission: Commission) -> dict:
    """What the audit trail keeps of a commission."""
    return {
        "code": commission.code, "unit": commission.unit_code, "form": commission.form,
        "centre_id": commission.centre_id, "establishment_id": commission.establishment_id,
        "days": [d.isoformat() for d in commission.day_list],
        "members": [{"user_id": m.user_id, "role": m.member_role,
                     "replacement": bool(m.is_replacement),
                     "reason": m.replacement_reason} for m in commission.members],
    }


def _check_code(session: ExamSession, code: str, *, exclude_id: int | None) -> str:
    code = " ".join((code or "").split()).upper()
    if not code:
        raise Invalid("Indiquez le code de la commission.", field="code")
    if len(code) > 30:
        raise Invalid("30 caractères au plus.", field="code")
    taken = db.session.scalar(sa.select(Commission.id).where(
        Commission.session_id == session.id, sa.func.upper(Commission.code) == code,
        Commission.id != (exclude_id or 0)))
    if taken is not None:
        raise Invalid(f"La commission {code} existe déjà dans la session.", field="code")
    return code


def _members(teacher: User, second: User, profiles: dict[int, PersonProfile],
             jurors: Jurors) -> list[CommissionMember]:
    replacement = bool(jurors.replacement_reason)
    return [
        CommissionMember(user_id=teacher.id, user=teacher, member_role=MemberRole.TEACHER.value,
                         establishment_id=profiles[teacher.id].establishment_id,
                         is_replacement=False),
        CommissionMember(user_id=second.id, user=second, member_role=MemberRole.PROFESSIONAL.value,
                         establishment_id=(profiles[second.id].establishment_id
                                           if replacement else None),
                         is_replacement=replacement,
                         replacement_reason=jurors.replacement_reason or None),
    ]


def create_commission(*, session: ExamSession, actor, code: str, unit_code: str, form: str,
                      days: list[date], jurors: Jurors, centre_id: int | None = None,
                      establishment_id: int | None = None,
                      now: datetime | None = None) -> Commission:
    """Form a commission: checked place, days and jurors; audited."""
    code = _check_code(session, code, exclude_id=None)
    centre, establishment = _check_place(session, unit_code=unit_code, form=form,
                                         centre_id=centre_id, establishment_id=establishment_id)
    days = _check_days(days)
    jurors = _clean(jurors)
    teacher, second, profiles = _check_jurors(jurors)
    _check_calendar([(teacher, "teacher_id"), (second, "professional_id")], days, session,
                    exclude_id=None)
    commission = Commission(session_id=session.id, code=code, unit_code=unit_code, form=form,
                            centre_id=centre.id if centre else None,
                            establishment_id=establishment.id if establishment else None,
                            version=1)
    commission.members = _members(teacher, second, profiles, jurors)
    commission.days = [CommissionDay(day=d) for d in days]
    db.session.add(commission)
    db.session.flush()
    db.session.refresh(commission)
    record(actor=actor, action="commission.create", object_type="commission",
           object_id=commission.id, session_id=session.id, now=now,
           after=_snapshot(commission))
    return commission


def _clean(jurors: Jurors) -> Jurors:
    return Jurors(jurors.teacher_id or None, jurors.professional_id or None,
                  " ".join((jurors.replacement_reason or "").split()))


def update_commission(*, commission: Commission, actor, version: int, code: str, days: list[date],
                      jurors: Jurors, centre_id: int | None = None,
                      establishment_id: int | None = None, confirm_removal: bool = False,
                      now: datetime | None = None) -> Commission:
    """Edit a commission as shown at ``version``: code, place, days and jurors (its unit
    and form are fixed once formed). Removing a juror from a commission that has
    passages needs ``confirm_removal``; the passages' juror grids follow the jurors."""
    bumped = db.session.execute(
        sa.update(Commission).where(Commission.id == commission.id,
                                    Commission.version == version)
        .values(version=Commission.version + 1)
        .execution_options(synchronize_session=False))
    if bumped.rowcount != 1:
        raise Conflict("Cette commission vient d'être modifiée par quelqu'un d'autre : "
                       "rechargez la page pour voir sa version actuelle.")
    db.session.refresh(commission)
    session = commission.session
    before = _snapshot(commission)
    code = _check_code(session, code, exclude_id=commission.id)
    centre, establishment = _check_place(
        session, unit_code=commission.unit_code, form=commission.form, centre_id=centre_id,
        establishment_id=establishment_id)
    days = _check_days(days)
    jurors = _clean(jurors)
    teacher, second, profiles = _check_jurors(jurors)
    _check_calendar([(teacher, "teacher_id"), (second, "professional_id")], days, session,
                    exclude_id=commission.id)
    new_members = _members(teacher, second, profiles, jurors)
    passages = db.session.scalars(sa.select(Passage).where(
        Passage.commission_id == commission.id).order_by(Passage.id)).all()
    _check_passages(commission, passages, new_members, days, confirm_removal)
    old_ids = {m.user_id for m in commission.members}
    new_ids = {m.user_id for m in new_members}
    commission.code = code
    commission.centre_id = centre.id if centre else None
    commission.establishment_id = establishment.id if establishment else None
    by_user = {m.user_id: m for m in commission.members}
    for member in new_members:
        kept = by_user.get(member.user_id)
        if kept is not None:
            kept.member_role, kept.establishment_id = member.member_role, member.establishment_id
            kept.is_replacement = member.is_replacement
            kept.replacement_reason = member.replacement_reason
    commission.members = [by_user.get(m.user_id) or m for m in new_members]
    old_days = {d.day: d for d in commission.days}
    commission.days = [old_days.get(d) or CommissionDay(day=d) for d in days]
    db.session.flush()
    if old_ids != new_ids:
        _regrid(passages, removed=old_ids - new_ids, added=new_ids - old_ids)
    db.session.refresh(commission)
    record(actor=actor, action="commission.update", object_type="commission",
           object_id=commission.id, session_id=session.id, now=now, before=before,
           after=_snapshot(commission))
    return commission


def _check_passages(commission: Commission, passages: list[Passage],
                    new_members: list[CommissionMember], days: list[date],
                    confirm_removal: bool) -> None:
    """The passages already planned must stay possible with the new jurors."""
    if not passages:
        return
    removed = {m.user_id for m in commission.members} - {m.user_id for m in new_members}
    if removed:
        started = [p for p in passages if p.started_at is not None or p.is_final]
        if started:
            raise Conflict(f"Le passage de {started[0].candidate.full_name} a déjà commencé : "
                           "les jurés de cette commission ne peuvent plus changer.",
                           field="professional_id")
        if not confirm_removal:
            raise Conflict(f"Cette commission a {len(passages)} passage(s) : confirmez le "
                           "retrait du juré (ses grilles individuelles non commencées seront "
                           "remplacées par celles du nouveau juré).", field="confirm_removal")
    for passage in passages:
        conflict = conflict_with(form=commission.form, members=new_members,
                                 candidate=passage.candidate)
        if conflict:
            raise Invalid(conflict, field="teacher_id")
    # Scheduled passages must fall on one of the commission's days.
    from exam_app.clock import to_local

    for passage in passages:
        if passage.scheduled_at and to_local(passage.scheduled_at).date() not in days:
            raise Invalid(f"Le passage de {passage.candidate.full_name} est planifié le "
                          f"{_fr(to_local(passage.scheduled_at).date())} : gardez ce jour ou "
                          "déplacez d'abord le passage.", field="days")


def _regrid(passages: list[Passage], *, removed: set[int], added: set[int]) -> None:
    """A removed juror's individual grids go; the new juror gets empty ones."""
    ids = [p.id for p in passages]
    if removed:
        for grid in db.session.scalars(sa.select(Grid).where(
                Grid.passage_id.in_(ids), Grid.key != AGREED,
                Grid.owner_id.in_(sorted(removed)))):
            db.session.delete(grid)
        db.session.flush()
    for passage in passages:
        for user_id in sorted(added):
            _create_grid(passage, grid_key_for(user_id), user_id)
    db.session.flush()


def formation_warnings(commission: Commission, limit: int = 10) -> list[str]:
    """Candidates of the commission's centre (ponctuel) or establishment (CCF) sitting its
    unit whom it could not examine (conflict of interest): they go to another commission."""
    query = sa.select(Candidate).where(Candidate.session_id == commission.session_id)
    if get_unit(commission.unit_code).has_several_forms:
        query = query.where(Candidate.sits_in(commission.unit_code, commission.form))
    if commission.form == UnitForm.CCF.value:
        query = query.where(Candidate.establishment_id == commission.establishment_id)
    else:
        query = query.where(Candidate.centre_id == commission.centre_id)
    candidates = db.session.scalars(query.order_by(Candidate.number)).all()
    members = list(commission.members)
    companies = pro_companies(members)
    organisations = internship_organisations([c.id for c in candidates])
    conflicts = [text for c in candidates if (text := conflict_with(
        form=commission.form, members=members, candidate=c, companies=companies,
        organisations=organisations.get(c.id, [])))]
    if len(conflicts) > limit:
        conflicts = [*conflicts[:limit], f"… et {len(conflicts) - limit} autre(s)."]
    return conflicts


def set_availability(*, session: ExamSession, actor, user_id: int, day: date, available: bool,
                     note: str = "", now: datetime | None = None) -> list[str]:
    """Record whether a juror can sit on a day; the codes of the commissions they are
    booked in that day when now unavailable (flagged, to be restaffed)."""
    user = db.session.get(User, user_id)
    if user is None or not user.has_role(Role.EXAMINATEUR):
        raise Invalid("Choisissez un examinateur.", field="user_id")
    note = " ".join((note or "").split())
    if len(note) > 200:
        raise Invalid("200 caractères au plus.", field="note")
    row = db.session.scalar(sa.select(JurorAvailability).where(
        JurorAvailability.session_id == session.id, JurorAvailability.user_id == user_id,
        JurorAvailability.day == day).with_for_update(of=JurorAvailability))
    before = None if row is None else {"available": row.is_available, "note": row.note}
    if row is None:
        row = JurorAvailability(session_id=session.id, user_id=user_id, day=day)
        db.session.add(row)
    row.is_available, row.note = available, note
    db.session.flush()
    record(actor=actor, action="juror.availability", object_type="user", object_id=user_id,
           session_id=session.id, now=now, before=before,
           after={"day": day.isoformat(), "available": available, "note": note})
    return [] if available else booked_codes(user_id=user_id, day=day)


def booked_codes(*, user_id: int, day: date) -> list[str]:
    """The commissions a juror sits in on a day."""
    return list(db.session.scalars(
        sa.select(Commission.code)
        .join(CommissionMember, CommissionMember.commission_id == Commission.id)
        .join(CommissionDay, CommissionDay.commission_id == Commission.id)
        .where(CommissionMember.user_id == user_id, CommissionDay.day == day)
        .order_by(Commission.code)))


def unavailable_flags(session_id: int) -> dict[int, list[str]]:
    """Per commission of the session, its jurors declared unavailable on one of its days."""
    rows = db.session.execute(
        sa.select(Commission.id, User, CommissionDay.day)
        .join(CommissionMember, CommissionMember.commission_id == Commission.id)
        .join(User, User.id == CommissionMember.user_id)
        .join(CommissionDay, CommissionDay.commission_id == Commission.id)
        .join(JurorAvailability, sa.and_(
            JurorAvailability.user_id == CommissionMember.user_id,
            JurorAvailability.day == CommissionDay.day,
            JurorAvailability.session_id == session_id,
            JurorAvailability.is_available.is_(False)))
        .where(Commission.session_id == session_id)
        .order_by(CommissionDay.day)).all()
    flags: dict[int, list[str]] = {}
    for commission_id, user, day in rows:
        flags.setdefault(commission_id, []).append(
            f"{user.display_name} indisponible le {_fr(day)}")
    return flags


def availabilities(session_id: int) -> list[JurorAvailability]:
    """The session's declared availabilities, by day then juror."""
    return list(db.session.scalars(
        sa.select(JurorAvailability).where(JurorAvailability.session_id == session_id)
        .order_by(JurorAvailability.day, JurorAvailability.user_id)))


# ---- CSV import: one commission per line, all or nothing ------------------------------

COMMISSION_COLUMNS = (
    Column("code", "Code", True, ("code", "commission", "codecommission")),
    Column("unit", "Épreuve", True, ("epreuve", "unite", "unit")),
    Column("form", "Forme", False, ("forme", "modalite")),
    Column("centre", "Centre", False, ("centre", "codecentre")),
    Column("uai", "UAI", False, ("uai", "etablissement", "codeuai")),
    Column("days", "Jours", True, ("jours", "jour", "dates", "date")),
    Column("teacher", "Enseignant", True, ("enseignant", "courrielenseignant",
                                           "enseignantcourriel")),
    Column("professional", "Professionnel", True, ("professionnel", "courrielprofessionnel",
                                                   "professionnelcourriel")),
    Column("reason", "Motif du remplacement", False, ("motif", "motifduremplacement",
                                                       "remplacement")),
)
# The service's field names, as columns of the file.
_COLUMN_OF = {"code": "code", "unit_code": "unit", "form": "form", "centre_id": "centre",
              "establishment_id": "uai", "days": "days", "teacher_id": "teacher",
              "professional_id": "professional", "replacement_reason": "reason"}


def _file_days(text: str) -> list[date]:
    days = []
    for part in text.replace(";", ",").replace("|", ",").split(","):
        part = part.strip()
        if not part:
            continue
        for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
            try:
                days.append(datetime.strptime(part, pattern).date())
                break
            except ValueError:
                continue
        else:
            raise Invalid(f"« {part} » n'est pas une date (JJ/MM/AAAA).", field="days")
    return days


def import_commissions(*, session: ExamSession, data: bytes, actor, max_rows: int,
                       filename: str = "") -> ReferenceReport:
    """Form (or, for a known code, edit) the commissions of a CSV file, all or nothing:
    every line goes through ``create_commission`` / ``update_commission``, so a juror named
    on two lines for one day is refused on the second. The caller rolls back on errors."""
    table = read_table(data, columns=COMMISSION_COLUMNS, max_rows=max_rows, what="commission")
    if not table.ok:
        return ReferenceReport(errors=table.errors, error_count=table.error_count,
                               encoding=table.encoding)
    tally = {"created": 0, "updated": 0, "unchanged": 0}
    for row in table.rows:
        cells = row.cells
        try:
            centre_id, establishment_id = place_ids(session=session, centre_code=cells.get("centre"),
                                                    uai=cells.get("uai"))
            values = {
                "code": cells.get("code") or "", "days": _file_days(cells.get("days") or ""),
                "centre_id": centre_id, "establishment_id": establishment_id,
                "jurors": Jurors(juror_id(cells.get("teacher") or "", field="teacher_id"),
                                 juror_id(cells.get("professional") or "",
                                          field="professional_id"),
                                 cells.get("reason") or "")}
            code = " ".join(values["code"].split()).upper()
            existing = db.session.scalar(sa.select(Commission).where(
                Commission.session_id == session.id, sa.func.upper(Commission.code) == code))
            if existing is None:
                create_commission(session=session, actor=actor,
                                  unit_code=(cells.get("unit") or "").strip().upper(),
                                  form=(cells.get("form") or "ponctuel").strip().lower(),
                                  **values)
                tally["created"] += 1
                continue
            before = _snapshot(existing)
            update_commission(commission=existing, actor=actor, version=existing.version,
                              **values)
            if _snapshot(existing) == before:
                tally["unchanged"] += 1
            else:
                tally["updated"] += 1
        except ServiceError as error:
            table.error(row.line, _COLUMN_OF.get(error.field or "", ""), error.message)
    if not table.ok:
        return ReferenceReport(errors=table.errors, error_count=table.error_count,
                               encoding=table.encoding)
    record(actor=actor, action="commission.import", object_type="exam_session",
           object_id=session.id, session_id=session.id,
           after={"file": filename, "sha256": hashlib.sha256(data).hexdigest(),
                  "rows": len(table.rows), **tally})
    return ReferenceReport(tally["created"], tally["updated"], tally["unchanged"],
                           encoding=table.encoding)
