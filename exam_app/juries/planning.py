"""Planning the jury day: commission settings, assigning candidates (with the
conflict-of-interest rule), generating the sequence, moving and swapping passages.

Same contract as every jury service: keyword-only arguments, flush and audit, never
commit, never read ``request``; refusals raise ``JuryError``.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, time

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import local_zone, utcnow
from exam_app.dossiers.models import InternshipPeriod
from exam_app.enrolment.models import Candidate, PersonProfile, search_key
from exam_app.enrolment.services import Page, paginate
from exam_app.extensions import db
from exam_app.juries import timer
from exam_app.juries.errors import JuryError, JuryInvalid
from exam_app.juries.grids import field_names, grid_key_for
from exam_app.juries.lifecycle import day_bounds, plan_for
from exam_app.juries.models import (
    AGREED,
    Attendance,
    Commission,
    CommissionDay,
    CommissionMember,
    CommissionSettings,
    Grid,
    GridField,
    MemberRole,
    Passage,
)
from exam_app.units import UnitForm, UnitKind, all_units, get_unit


def settings_for(commission: Commission) -> CommissionSettings:
    """The commission's planning settings, created with defaults when absent."""
    settings = db.session.get(CommissionSettings, commission.id)
    if settings is None:
        settings = CommissionSettings(commission_id=commission.id, day_start=time(8, 0),
                                      break_minutes=10, lunch_start=time(12, 0),
                                      lunch_minutes=60, prep_workstations=2, room="")
        db.session.add(settings)
        db.session.flush()
    return settings


def conflict_of_interest(commission: Commission, candidate: Candidate) -> str | None:
    """The conflict that forbids this commission to examine this candidate, if any: the
    one check behind assigning, swapping, forming and editing a commission."""
    return conflict_with(form=commission.form, members=list(commission.members),
                         candidate=candidate)


def _folded(text: str | None) -> str:
    """Lower-case, accent-free words of an organisation's name, for comparison."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join("".join(c if c.isalnum() else " " for c in plain).split())


def same_organisation(first: str | None, second: str | None) -> bool:
    """Two names of one organisation: equal once folded, or one (of 6 characters at least)
    contained in the other as whole words (« Cabinet Roux » and « Cabinet Roux & associés »)."""
    a, b = _folded(first), _folded(second)
    if not a or not b:
        return False
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return len(short) >= 6 and f" {short} " in f" {long} "


def conflict_with(*, form: str, members: list, candidate: Candidate,
                  companies: dict[int, str] | None = None,
                  organisations: list[str] | None = None) -> str | None:
    """The conflict of interest between these jurors and this candidate, if any:

    - ponctuel form: a teacher (or a teacher replacing the professional) of the
      candidate's establishment (in CCF the candidate's own teachers examine, by design);
    - both forms: the professional works for a company where the candidate did an
      internship (the internship tutor works there too: the periods record the
      organisation, not the tutor).

    ``companies`` (by user id) and ``organisations`` (the candidate's internships), when
    the caller already read them for many candidates (``unassigned_candidates``)."""
    if form == UnitForm.PONCTUEL.value:
        for member in members:
            if member.establishment_id and member.establishment_id == candidate.establishment_id:
                return (f"Conflit d'intérêts : {member.user.display_name} enseigne à "
                        f"{candidate.establishment.name}, l'établissement de "
                        f"{candidate.full_name} (n° {candidate.number}) ; en forme ponctuelle, "
                        "un enseignant n'interroge jamais un candidat de son établissement.")
    pros = [m for m in members if m.member_role == MemberRole.PROFESSIONAL.value
            and not m.is_replacement]
    if not pros:
        return None
    if companies is None:
        companies = pro_companies(pros)
    if organisations is None:
        organisations = internship_organisations([candidate.id]).get(candidate.id, [])
    for member in pros:
        company = companies.get(member.user_id)
        for organisation in organisations:
            if same_organisation(company, organisation):
                return (f"Conflit d'intérêts : {member.user.display_name} travaille pour "
                        f"{company}, où {candidate.full_name} (n° {candidate.number}) a fait "
                        f"son stage ({organisation}) ; le professionnel n'interroge jamais un "
                        "candidat de son entreprise.")
    return None


def pro_companies(members: list) -> dict[int, str]:
    """The companies of these members, by user id (from their profiles)."""
    ids = [m.user_id for m in members]
    if not ids:
        return {}
    return {p.user_id: p.company for p in db.session.scalars(
        sa.select(PersonProfile).where(PersonProfile.user_id.in_(ids)))}


def internship_organisations(candidate_ids: list[int]) -> dict[int, list[str]]:
    """The organisations of these candidates' internships, by candidate id."""
    found: dict[int, list[str]] = {}
    if not candidate_ids:
        return found
    for candidate_id, organisation in db.session.execute(
            sa.select(InternshipPeriod.candidate_id, InternshipPeriod.organisation)
            .where(InternshipPeriod.candidate_id.in_(candidate_ids))
            .order_by(InternshipPeriod.candidate_id, InternshipPeriod.start_date)):
        found.setdefault(candidate_id, []).append(organisation)
    return found


def has_several_forms(unit_code: str) -> bool:
    """A unit sat in CCF or ponctuel by candidate status (E5): the candidate's form
    (``Candidate.form_for``) decides."""
    return get_unit(unit_code).has_several_forms


def variants_for(commission: Commission) -> list:
    """The unit's situations sat in the commission's form."""
    return list(get_unit(commission.unit_code).variants_for(commission.form))


def _create_grid(passage: Passage, key: str, owner_id: int | None) -> Grid:
    grid = Grid(passage_id=passage.id, key=key, owner_id=owner_id)
    grid.fields = [GridField(name=n, value="", version=0)
                   for n in field_names(passage.unit_code, passage.variant_code)]
    db.session.add(grid)
    return grid


def assign_candidates(*, commission: Commission, numbers: list[str], variant_code: str,
                      actor, now: datetime | None = None) -> list[Passage]:
    """Create one passage per candidate number, all or none, with every check."""
    now = now or utcnow()
    allowed = {v.code for v in variants_for(commission)}
    if variant_code not in allowed:
        raise JuryInvalid(
            "Cette situation d'épreuve ne correspond pas à la forme de la commission.")
    _require_open(commission)
    numbers = [n.strip().upper() for n in numbers if n.strip()]
    if not numbers:
        raise JuryInvalid("Indiquez au moins un numéro de candidat.")
    if len(set(numbers)) != len(numbers):
        raise JuryInvalid("Un même numéro de candidat figure deux fois dans la liste.")
    candidates = {c.number.upper(): c for c in db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == commission.session_id,
                                   sa.func.upper(Candidate.number).in_(numbers)))}
    errors = []
    for number in numbers:
        candidate = candidates.get(number)
        if candidate is None:
            errors.append(f"Candidat n° {number} inconnu dans cette session.")
            continue
        registration = candidate.registration(commission.unit_code)
        if not candidate.sits(commission.unit_code):
            errors.append(f"{candidate.full_name} (n° {number}) ne passe pas "
                          f"l'{commission.unit_code} : {registration.printed}.")
            continue
        if (has_several_forms(commission.unit_code)
                and (form := candidate.form_for(commission.unit_code)) != commission.form):
            errors.append(f"{candidate.full_name} (n° {number}) passe l'{commission.unit_code} "
                          f"en forme {form.label}, pas dans cette commission.")
            continue
        conflict = conflict_of_interest(commission, candidate)
        if conflict:
            errors.append(conflict)
            continue
        existing = db.session.scalar(sa.select(Passage).where(
            Passage.candidate_id == candidate.id, Passage.unit_code == commission.unit_code,
            Passage.variant_code == variant_code))
        if existing is not None:
            errors.append(f"{candidate.full_name} (n° {number}) a déjà un passage "
                          f"(commission {existing.commission.code}).")
    if errors:
        raise JuryInvalid(" ".join(errors))
    last = db.session.scalar(sa.select(sa.func.max(Passage.position))
                             .where(Passage.commission_id == commission.id)) or 0
    settings = settings_for(commission)
    passages = []
    for offset, number in enumerate(numbers, start=1):
        passage = Passage(commission_id=commission.id, candidate_id=candidates[number].id,
                          unit_code=commission.unit_code, variant_code=variant_code,
                          room=settings.room, position=last + offset,
                          attendance=Attendance.UNKNOWN.value, agreed_revision=0)
        db.session.add(passage)
        db.session.flush()
        _create_grid(passage, AGREED, None)
        for member in commission.members:
            _create_grid(passage, grid_key_for(member.user_id), member.user_id)
        passages.append(passage)
    db.session.flush()
    record(actor=actor, action="passage.assign", object_type="commission",
           object_id=commission.id, session_id=commission.session_id, now=now,
           after={"candidates": numbers, "variant": variant_code})
    return passages


def generate_schedule(*, commission: Commission, day: date, day_start: time, break_minutes: int,
                      lunch_start: time, lunch_minutes: int, workstations: int, room: str,
                      actor, now: datetime | None = None) -> list[Passage]:
    """Set the scheduled start of every not-yet-started passage, in order (on one of the
    commission's days, when it names them)."""
    if commission.days and day not in commission.day_list:
        raise JuryInvalid(f"La commission {commission.code} ne siège pas le {day:%d/%m/%Y} : "
                          "choisissez l'un de ses jours ("
                          + ", ".join(f"{d:%d/%m/%Y}" for d in commission.day_list) + ").")
    _require_open(commission)
    settings = settings_for(commission)
    settings.day_start, settings.break_minutes = day_start, break_minutes
    settings.lunch_start, settings.lunch_minutes = lunch_start, lunch_minutes
    settings.prep_workstations, settings.room = workstations, room
    passages = [p for p in commission_passages(commission) if p.started_at is None]
    if not passages:
        raise JuryInvalid("Aucun passage à planifier : affectez d'abord des candidats.")
    items = [timer.solo_and_jury_seconds(plan_for(p)) for p in passages]
    starts = timer.schedule(
        items,
        start=datetime.combine(day, day_start, local_zone()),
        break_seconds=break_minutes * 60,
        lunch_start=datetime.combine(day, lunch_start, local_zone()),
        lunch_seconds=lunch_minutes * 60,
        workstations=workstations,
    )
    for passage, start in zip(passages, starts, strict=True):
        passage.scheduled_at = start.astimezone(UTC)
        passage.room = room
    db.session.flush()
    record(actor=actor, action="passage.schedule", object_type="commission",
           object_id=commission.id, session_id=commission.session_id, now=now,
           after={"day": day, "passages": len(passages), "break_minutes": break_minutes,
                  "lunch": f"{lunch_start:%H:%M}+{lunch_minutes}", "workstations": workstations})
    return passages


def unassigned_candidates(commission: Commission, limit: int = 200) -> list[Candidate]:
    """Candidates of the commission's centre (ponctuel) or establishment (CCF) who sit
    this unit in this form and have no passage yet for it, without a conflict of interest."""
    query = sa.select(Candidate).where(
        Candidate.session_id == commission.session_id,
        ~sa.exists().where(Passage.candidate_id == Candidate.id,
                           Passage.unit_code == commission.unit_code))
    query = query.where(Candidate.sits_in(commission.unit_code, commission.form))
    if commission.form == UnitForm.CCF.value:
        query = query.where(Candidate.establishment_id == commission.establishment_id)
    elif commission.centre_id is not None:
        query = query.where(Candidate.centre_id == commission.centre_id)
    candidates = db.session.scalars(
        query.order_by(Candidate.search_text, Candidate.id).limit(limit)).all()
    members = list(commission.members)
    companies = pro_companies(members)
    organisations = internship_organisations([c.id for c in candidates])
    return [c for c in candidates if conflict_with(
        form=commission.form, members=members, candidate=c, companies=companies,
        organisations=organisations.get(c.id, [])) is None]


def commission_passages(commission: Commission) -> list[Passage]:
    """The commission's passages in the day's order (unscheduled last)."""
    return list(db.session.scalars(
        sa.select(Passage).where(Passage.commission_id == commission.id)
        .order_by(Passage.scheduled_at.is_(None), Passage.scheduled_at, Passage.position,
                  Passage.id)))


def own_swap_partners(passages: list[Passage]) -> list[Passage]:
    """Of a commission's ``passages``, those a swap may still move (not started, not final):
    its planning page offers them in each row, so that row costs the commission, not the
    day's other commissions (those are reached one passage at a time: ``swap_partners``)."""
    return [p for p in passages if p.started_at is None and p.finalized_at is None]


SWAP_PAGE = 50  # passages a page of « Échanger avec… » lists


def swap_partners(*, passage: Passage, day: date, q: str = "", page: int = 1,
                  per_page: int | None = None) -> Page:
    """Passages ``passage`` may be swapped with, on ``day``, one page of them: not started,
    of the same session, unit, form and variant, in any commission, in the day's order;
    ``q`` narrows them to a candidate's name or number, or a commission's code."""
    commission = passage.commission
    start, end = day_bounds(day)
    query = (sa.select(Passage)
             .join(Commission, Commission.id == Passage.commission_id)
             .join(Candidate, Candidate.id == Passage.candidate_id)
             .where(Commission.session_id == commission.session_id,
                    Commission.unit_code == commission.unit_code,
                    Commission.form == commission.form,
                    Passage.variant_code == passage.variant_code, Passage.id != passage.id,
                    Passage.started_at.is_(None), Passage.finalized_at.is_(None),
                    Passage.scheduled_at >= start, Passage.scheduled_at < end)
             .options(sa.orm.contains_eager(Passage.commission),
                      sa.orm.contains_eager(Passage.candidate)))
    for word in search_key(q).split()[:5]:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(sa.or_(Candidate.search_text.like(f"%{escaped}%", escape="\\"),
                                   sa.func.upper(Commission.code) == word))
    return paginate(query.order_by(Passage.scheduled_at, Commission.code, Passage.position,
                                   Passage.id), page=page, per_page=per_page or SWAP_PAGE)


def _require_open(commission: Commission) -> None:
    """A CCF commission's planning is locked once its establishment's marks are transmitted."""
    from exam_app.juries.ccf import require_open

    require_open(commission, lock=True)


def _require_unstarted(passage: Passage) -> None:
    if passage.started_at is not None or passage.is_final:
        raise JuryError(f"Le passage de {passage.candidate.full_name} a déjà commencé : "
                        "il ne peut plus être déplacé.")


def move_passage(*, passage: Passage, scheduled_at: datetime, actor,
                 now: datetime | None = None) -> None:
    """Move a passage to another start time."""
    _require_unstarted(passage)
    _require_open(passage.commission)
    before = passage.scheduled_at
    passage.scheduled_at = scheduled_at
    db.session.flush()
    record(actor=actor, action="passage.move", object_type="passage", object_id=passage.id,
           session_id=passage.commission.session_id, now=now,
           before={"scheduled_at": before}, after={"scheduled_at": scheduled_at})


def swap_passages(*, first: Passage, second: Passage, actor, now: datetime | None = None) -> None:
    """Swap two candidates' slots (time, room, commission), with the same checks."""
    if first.id == second.id:
        raise JuryInvalid("Choisissez deux passages différents.")
    if (first.unit_code, first.variant_code) != (second.unit_code, second.variant_code) or \
            first.commission.session_id != second.commission.session_id:
        raise JuryInvalid(
            "On n'échange que deux passages de la même épreuve et de la même session.")
    _require_unstarted(first)
    _require_unstarted(second)
    _require_open(first.commission)
    _require_open(second.commission)
    for passage, target in ((first, second.commission), (second, first.commission)):
        conflict = conflict_of_interest(target, passage.candidate)
        if conflict:
            raise JuryError(conflict)
    before = {"first": [first.commission_id, first.scheduled_at, first.room],
              "second": [second.commission_id, second.scheduled_at, second.room]}
    if first.commission_id != second.commission_id:
        # Independent grids belong to the jurors of the commission.
        for passage in (first, second):
            for grid in db.session.scalars(sa.select(Grid).where(
                    Grid.passage_id == passage.id, Grid.key != AGREED)):
                db.session.delete(grid)
        db.session.flush()
    first.commission_id, second.commission_id = second.commission_id, first.commission_id
    first.scheduled_at, second.scheduled_at = second.scheduled_at, first.scheduled_at
    first.room, second.room = second.room, first.room
    first.position, second.position = second.position, first.position
    db.session.flush()
    if before["first"][0] != before["second"][0]:
        for passage in (first, second):
            db.session.refresh(passage)
            for member in passage.commission.members:
                _create_grid(passage, grid_key_for(member.user_id), member.user_id)
    db.session.flush()
    record(actor=actor, action="passage.swap", object_type="passage",
           object_id=f"{first.id},{second.id}", session_id=first.commission.session_id,
           now=now, before=before,
           after={"first": [first.commission_id, first.scheduled_at, first.room],
                  "second": [second.commission_id, second.scheduled_at, second.room]})




# ---- readiness: what the session dashboard counts (one query each) --------------------

def _members(commission_id, role: MemberRole | None = None):
    query = sa.select(sa.func.count(CommissionMember.id)).where(
        CommissionMember.commission_id == commission_id)
    if role is not None:
        query = query.where(CommissionMember.member_role == role.value)
    return query.scalar_subquery()


def incomplete_commissions_count(session_id: int) -> int:
    """How many of the session's commissions are not ready: not exactly one teacher and
    one professional, or no day: none set on the commission and no passage with a time
    (commissions formed before days existed have only the latter). One query."""
    has_day = sa.or_(
        sa.exists().where(CommissionDay.commission_id == Commission.id),
        sa.exists().where(Passage.commission_id == Commission.id,
                          Passage.scheduled_at.is_not(None)))
    return db.session.scalar(
        sa.select(sa.func.count(Commission.id)).where(
            Commission.session_id == session_id,
            sa.or_(_members(Commission.id) != 2,
                   _members(Commission.id, MemberRole.TEACHER) != 1,
                   _members(Commission.id, MemberRole.PROFESSIONAL) != 1,
                   ~has_day))) or 0


def unplanned_conditions(sits) -> list:
    """One SQL condition per situation of an oral unit: the candidate (``Candidate``)
    sits it (``sits(unit, form)``, a condition) without a planned passage (one with a
    time) for it. Shared with the dashboard's fused counts (overview/counts_fused.py)."""
    missing = []
    for unit in all_units():
        if unit.kind != UnitKind.ORAL or unit.grid is None:
            continue
        for variant in unit.variants:
            planned = sa.exists().where(Passage.candidate_id == Candidate.id,
                                        Passage.unit_code == unit.code,
                                        Passage.variant_code == variant.code,
                                        Passage.scheduled_at.is_not(None))
            missing.append(sa.and_(sits(unit, variant.form), ~planned))
    return missing


def unplanned_candidates_count(session_id: int) -> int:
    """How many of the session's candidates lack a planned passage (one with a time) for
    a situation of an oral unit they sit in their form. One query."""
    missing = unplanned_conditions(lambda unit, form: Candidate.sits_in(unit.code, form))
    if not missing:
        return 0
    return db.session.scalar(
        sa.select(sa.func.count(Candidate.id))
        .where(Candidate.session_id == session_id, sa.or_(*missing))) or 0


def room_usage(centre_id: int) -> dict[str, int]:
    """The rooms of a centre named by its commissions' passages: {name: passages}."""
    return {name: count for name, count in db.session.execute(
        sa.select(Passage.room, sa.func.count(Passage.id))
        .join(Commission, Commission.id == Passage.commission_id)
        .where(Commission.centre_id == centre_id, Passage.room != "")
        .group_by(Passage.room))}
