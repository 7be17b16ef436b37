"""Creating and editing an exam session (issue 13, item 1): its identity and time
zone, each unit's dates, and its rules.

One public service per change, used by the pages, the CLI and the demo loader.
Each one validates everything first and raises ``Invalid`` with a French message
(nothing written), locks the session row, flushes and audits (before/after),
never commits. Dates are checked against each other: deposits open before the
deadline, the deadline falls before the unit's orals, the orals end after they
start, every date in the session's year (or the autumn before).

A rule already used (marks entered, dossiers decided, documents printed, ...)
is changed only with a reason; the documents that print what it governs carry
it in their signed content (``rules_content``), so those printed before the
change verify as superseded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from exam_app.audit.models import AuditEvent
from exam_app.audit.services import record
from exam_app.clock import known_zones, utcnow
from exam_app.enrolment import results_lock
from exam_app.enrolment.models import DepositDeadline, ExamSession, UnitCalendar
from exam_app.errors import Conflict, Invalid
from exam_app.extensions import db
from exam_app.units import UnitKind, all_units

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,39}$")
IDENTITY = ("name", "academie", "year", "timezone")
RULES = ("mark_step", "internship_min_days", "e4_fiche_max_pages", "e6_duration_minutes",
         "nv_excludes_interview", "ccf_combination")
RULE_LABELS = {
    "mark_step": "pas de notation",
    "internship_min_days": "durée minimale de stage",
    "e4_fiche_max_pages": "pages max. par fiche E4",
    "e6_duration_minutes": "durée de l'E6",
    "nv_excludes_interview": "conséquence d'un dossier non valide",
    "ccf_combination": "combinaison des situations de CCF (E5)",
}
# How E5 CCF situations A and B make the unit's result (exam_app.results.compute): the
# result exists once every situation is final, ABS or NV. 'global' is DOMAIN.md's default.
CCF_RULES = {
    "global": "Note globale arrêtée après les situations A et B ; absence à l'une d'elles : ABS",
    "global_absence_counted": "Note globale arrêtée en situation B, une absence en situation A "
                              "y étant prise en compte ; absence en B : ABS",
}
# A rule is "used" once the session's audit trail holds one of these actions (prefixes):
# from then on, changing it needs a reason.
RULE_USES: dict[str, tuple[str, ...]] = {
    "mark_step": ("mark.", "e6.copy.save", "e6.bareme.set", "e6.lot."),
    "internship_min_days": ("dossier.conformity_",),
    "e4_fiche_max_pages": ("dossier.file_deposited", "dossier.file_replaced"),
    "e6_duration_minutes": ("e6.attendance", "e6.room.", "pack.request"),
    "nv_excludes_interview": ("dossier.conformity_", "timer.start", "mark."),
    "ccf_combination": ("mark.", "passage.attendance"),
}
# Printing documents uses every rule they show.
PRINTED = ("pack.request",)


# --- the session's time zone, for clock's display zone ----------------------------------

def zone_of(*, code: str | None = None) -> str | None:
    """The time zone of the session with this code, else of the latest session."""
    query = sa.select(ExamSession.timezone)
    query = (query.where(ExamSession.code == code) if code
             else query.order_by(ExamSession.year.desc(), ExamSession.id.desc()))
    with db.session.no_autoflush:
        return db.session.scalar(query.limit(1))


# --- checks ----------------------------------------------------------------------------

def _text(value, *, field: str, label: str, max_length: int, required: bool = True) -> str:
    text = " ".join(str(value or "").split())
    if required and not text:
        raise Invalid(f"{label} : valeur obligatoire.", field=field)
    if len(text) > max_length:
        raise Invalid(f"{label} : {max_length} caractères au plus.", field=field)
    return text


def _int(value, *, field: str, label: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise Invalid(f"{label} : « {value} » n'est pas un nombre entier.", field=field) from None
    if not low <= number <= high:
        raise Invalid(f"{label} : entre {low} et {high}.", field=field)
    return number


def check_code(code) -> str:
    code = str(code or "").strip().upper()
    if not CODE_RE.match(code):
        raise Invalid("Code de session : 2 à 40 caractères, lettres majuscules, chiffres, « - » "
                      "ou « _ » (ex. SAM-2027-LYON).", field="code")
    return code


def check_timezone(name) -> str:
    name = str(name or "").strip()
    if name not in known_zones():
        raise Invalid(f"Fuseau horaire « {name} » inconnu : indiquez un nom IANA comme "
                      "Europe/Paris, America/Cayenne ou Indian/Reunion.", field="timezone")
    return name


def _identity(values: dict) -> dict:
    checked = {}
    if "name" in values:
        checked["name"] = _text(values["name"], field="name", label="Libellé", max_length=200)
    if "academie" in values:
        checked["academie"] = _text(values["academie"], field="academie", label="Académie",
                                    max_length=120)
    if "year" in values:
        checked["year"] = _int(values["year"], field="year", label="Année", low=2000, high=2100)
    if "timezone" in values:
        checked["timezone"] = check_timezone(values["timezone"])
    return checked


def _rules(values: dict) -> dict:
    checked = {}
    if "mark_step" in values:
        try:
            step = Decimal(str(values["mark_step"]).replace(",", ".").strip())
        except InvalidOperation:
            raise Invalid(f"Pas de notation : « {values['mark_step']} » n'est pas un nombre.",
                          field="mark_step") from None
        if step not in (Decimal("0.25"), Decimal("0.5"), Decimal("1")):
            raise Invalid("Pas de notation : 0,25, 0,5 ou 1 point.", field="mark_step")
        checked["mark_step"] = step
    if "internship_min_days" in values:
        checked["internship_min_days"] = _int(values["internship_min_days"],
                                              field="internship_min_days",
                                              label="Durée minimale de stage", low=0, high=365)
    if "e4_fiche_max_pages" in values:
        pages = values["e4_fiche_max_pages"]
        checked["e4_fiche_max_pages"] = None if pages in (None, "") else _int(
            pages, field="e4_fiche_max_pages", label="Pages max. par fiche E4", low=1, high=50)
    if "e6_duration_minutes" in values:
        checked["e6_duration_minutes"] = _int(values["e6_duration_minutes"],
                                              field="e6_duration_minutes",
                                              label="Durée de l'E6 (minutes)", low=30, high=600)
    if "nv_excludes_interview" in values:
        checked["nv_excludes_interview"] = bool(values["nv_excludes_interview"])
    if "ccf_combination" in values:
        if values["ccf_combination"] not in CCF_RULES:
            raise Invalid("Combinaison des situations de CCF : choisissez une règle de la liste.",
                          field="ccf_combination")
        checked["ccf_combination"] = values["ccf_combination"]
    return checked


def lock_session(session: ExamSession) -> ExamSession:
    """The session, its row locked until the end of the transaction, and re-read (two
    gestionnaires saving at once are applied one after the other)."""
    db.session.flush()
    statement = sa.select(ExamSession).where(ExamSession.id == session.id)
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(sa.update(ExamSession).where(ExamSession.id == session.id)
                           .values(code=ExamSession.code)
                           .execution_options(synchronize_session=False))
    else:
        statement = statement.with_for_update(of=ExamSession)
    return db.session.scalars(statement.execution_options(populate_existing=True)).one()


def _snapshot(session: ExamSession, names) -> dict:
    return {name: getattr(session, name) for name in names}


# --- create and edit --------------------------------------------------------------------

def create_session(*, actor, code: str, name: str, academie: str, year, timezone: str =
                   "Europe/Paris", rules: dict | None = None,
                   now: datetime | None = None) -> ExamSession:
    """Create a session with its identity, time zone and rules (defaults when not given)."""
    code = check_code(code)
    values = _identity({"name": name, "academie": academie, "year": year, "timezone": timezone})
    values.update(_rules(rules or {}))
    if db.session.scalar(sa.select(ExamSession.id).where(ExamSession.code == code)):
        raise Conflict(f"Une session a déjà le code {code}.", field="code")
    now = now or utcnow()
    session = ExamSession(code=code, created_at=now, **values)
    db.session.add(session)
    db.session.flush()
    record(actor=actor, action="session.create", object_type="exam_session",
           object_id=session.id, session_id=session.id,
           after={"code": code, **_snapshot(session, IDENTITY + RULES)}, now=now)
    return session


def update_identity(*, session: ExamSession, actor, now: datetime | None = None,
                    **values) -> list[str]:
    """Change the session's label, académie, year or time zone; the names changed."""
    unknown = set(values) - set(IDENTITY)
    if unknown:
        raise ValueError(f"not identity fields: {sorted(unknown)}")
    checked = _identity(values)
    session = lock_session(session)
    if "year" in checked and checked["year"] != session.year:
        _check_calendar_years(session, checked["year"])
    changed = {k: v for k, v in checked.items() if getattr(session, k) != v}
    if not changed:
        return []
    before = _snapshot(session, changed)
    for key, value in changed.items():
        setattr(session, key, value)
    db.session.flush()
    record(actor=actor, action="session.update", object_type="exam_session",
           object_id=session.id, session_id=session.id, before=before, after=changed, now=now)
    return sorted(changed)


def rules_in_use(session: ExamSession) -> dict[str, bool]:
    """For each rule, whether the session has already used it (see ``RULE_USES``)."""
    actions = set(db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.session_id == session.id).distinct()))
    return {rule: any(a.startswith(prefixes) for a in actions)
            for rule, prefixes in ((r, RULE_USES[r] + PRINTED) for r in RULES)}


def change_rules(*, session: ExamSession, actor, reason: str = "",
                 now: datetime | None = None, **values) -> list[str]:
    """Change some of the session's rules; a rule already used needs a reason. The names
    changed (the documents that print them verify as superseded from now on)."""
    unknown = set(values) - set(RULES)
    if unknown:
        raise ValueError(f"not rules: {sorted(unknown)}")
    checked = _rules(values)
    session = lock_session(session)
    changed = {k: v for k, v in checked.items() if getattr(session, k) != v}
    if not changed:
        return []
    # The results were decided under these rules (the CCF combination, NV, the mark step):
    # once the délibération is closed they are locked with the results.
    results_lock.ensure_open(session.id)
    reason = " ".join((reason or "").split())
    used = [r for r, is_used in rules_in_use(session).items() if is_used and r in changed]
    if used and len(reason) < 5:
        raise Invalid(
            "Règle déjà appliquée ("
            + ", ".join(RULE_LABELS[r] for r in used)
            + ") : des notes, décisions ou documents en dépendent. Indiquez le motif du "
            "changement ; les documents déjà imprimés qui en dépendent seront remplacés.",
            field="reason", code="reason_required")
    before = _snapshot(session, changed)
    for key, value in changed.items():
        setattr(session, key, value)
    db.session.flush()
    record(actor=actor, action="session.rules_change", object_type="exam_session",
           object_id=session.id, session_id=session.id, before=before,
           after={**changed, "used": used}, reason=reason or None, now=now)
    return sorted(changed)


# The rules' defaults (the model's): a document's signed content names a rule only once it
# differs, so that the documents signed before rules were editable keep their hash.
RULE_DEFAULTS = {"mark_step": Decimal("0.5"), "internship_min_days": 70,
                 "e4_fiche_max_pages": None, "e6_duration_minutes": 240,
                 "nv_excludes_interview": True, "ccf_combination": "global"}


def rules_content(session: ExamSession, *names: str) -> list:
    """The rules a printed document depends on, for its signed content: changing one of
    them makes that document verify as superseded (a rule at its default is left out)."""
    return [[name, str(getattr(session, name))] for name in names
            if getattr(session, name) != RULE_DEFAULTS[name]]


# --- unit dates -------------------------------------------------------------------------

@dataclass(frozen=True)
class UnitDates:
    """One unit's dates in a session (None: not set)."""

    unit_code: str
    deposit_opens_at: datetime | None = None
    deposit_deadline_at: datetime | None = None
    orals_start_on: date | None = None
    orals_end_on: date | None = None
    written_at: datetime | None = None


def unit_dates(session: ExamSession) -> dict[str, UnitDates]:
    """Every unit's dates in the session, by unit code (units without dates included)."""
    calendars = {c.unit_code: c for c in db.session.scalars(
        sa.select(UnitCalendar).where(UnitCalendar.session_id == session.id))}
    deadlines = dict(db.session.execute(
        sa.select(DepositDeadline.unit_code, DepositDeadline.deadline_at)
        .where(DepositDeadline.session_id == session.id)).all())
    result = {}
    for unit in all_units():
        c = calendars.get(unit.code)
        result[unit.code] = UnitDates(
            unit.code, c.deposit_opens_at if c else None, deadlines.get(unit.code),
            c.orals_start_on if c else None, c.orals_end_on if c else None,
            c.written_at if c else None)
    return result


def _fmt(value: date | datetime, zone: ZoneInfo) -> str:
    if isinstance(value, datetime):
        local = value.astimezone(zone)
        return f"{local:%d/%m/%Y} à {local:%H} h {local:%M}"
    return f"{value:%d/%m/%Y}"


def _check_dates(session: ExamSession, dates: UnitDates) -> None:
    """Refuse dates that contradict each other or the session's year, with the reason."""
    from exam_app.units import get_unit

    unit = get_unit(dates.unit_code)
    zone = ZoneInfo(session.timezone)
    u = unit.code
    if not unit.has_dossier and (dates.deposit_opens_at or dates.deposit_deadline_at):
        raise Invalid(f"L'épreuve {u} n'a pas de dossier à déposer : pas de dates de dépôt.",
                      field="deposit_deadline_at")
    if unit.kind != UnitKind.ORAL and (dates.orals_start_on or dates.orals_end_on):
        raise Invalid(f"L'épreuve {u} est écrite : pas de période d'oraux.",
                      field="orals_start_on")
    if unit.kind != UnitKind.WRITTEN and dates.written_at:
        raise Invalid(f"L'épreuve {u} est orale : pas de date d'épreuve écrite.",
                      field="written_at")
    if (dates.orals_start_on is None) != (dates.orals_end_on is None):
        raise Invalid(f"{u} : indiquez le premier et le dernier jour des oraux.",
                      field="orals_end_on")
    for name in ("deposit_opens_at", "deposit_deadline_at", "orals_start_on", "orals_end_on",
                 "written_at"):
        value = getattr(dates, name)
        if value is None:
            continue
        year = (value.astimezone(zone) if isinstance(value, datetime) else value).year
        if year not in (session.year - 1, session.year):
            raise Invalid(f"{u} : le {_fmt(value, zone)} n'est pas dans la session "
                          f"{session.year} (dates de {session.year - 1} ou {session.year}).",
                          field=name)
    opens, deadline = dates.deposit_opens_at, dates.deposit_deadline_at
    if opens and deadline and opens >= deadline:
        raise Invalid(f"{u} : l'ouverture des dépôts ({_fmt(opens, zone)}) doit précéder la "
                      f"date limite de dépôt ({_fmt(deadline, zone)}).",
                      field="deposit_opens_at")
    if dates.orals_start_on and dates.orals_end_on and dates.orals_start_on > dates.orals_end_on:
        raise Invalid(f"{u} : le dernier jour des oraux ({_fmt(dates.orals_end_on, zone)}) "
                      f"précède le premier ({_fmt(dates.orals_start_on, zone)}).",
                      field="orals_end_on")
    if deadline and dates.orals_start_on:
        orals_start = datetime.combine(dates.orals_start_on, time(0, 0), zone)
        if deadline >= orals_start:
            raise Invalid(
                f"{u} : la date limite de dépôt ({_fmt(deadline, zone)}) tombe après le début "
                f"des oraux ({_fmt(dates.orals_start_on, zone)}) : les commissions doivent "
                "pouvoir lire les dossiers avant les oraux. Avancez la date limite ou "
                "reculez les oraux.", field="deposit_deadline_at")


def _check_calendar_years(session: ExamSession, year: int) -> None:
    """A new year must still hold every date already set."""
    probe = ExamSession(timezone=session.timezone, year=year)
    for dates in unit_dates(session).values():
        _check_dates(probe, dates)


def set_unit_dates(*, session: ExamSession, actor, unit_code: str,
                   deposit_opens_at: datetime | None = None,
                   deposit_deadline_at: datetime | None = None,
                   orals_start_on: date | None = None, orals_end_on: date | None = None,
                   written_at: datetime | None = None,
                   now: datetime | None = None) -> UnitDates:
    """Set (or clear, with None) one unit's dates: deposit opening and deadline (units
    with a dossier), orals period (oral units), start of the written exam (written
    units). Datetimes are timezone-aware; the deadline is also the dossiers' deadline."""
    for value in (deposit_opens_at, deposit_deadline_at, written_at):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to set_unit_dates")
    dates = UnitDates(unit_code, deposit_opens_at and deposit_opens_at.astimezone(UTC),
                      deposit_deadline_at and deposit_deadline_at.astimezone(UTC),
                      orals_start_on, orals_end_on, written_at and written_at.astimezone(UTC))
    try:
        current = unit_dates(session)[unit_code]
    except KeyError:
        raise Invalid(f"Épreuve « {unit_code} » inconnue.", field="unit_code") from None
    _check_dates(session, dates)
    session = lock_session(session)
    current = unit_dates(session)[unit_code]
    if current == dates:
        return current
    now = now or utcnow()
    calendar = db.session.scalar(sa.select(UnitCalendar).where(
        UnitCalendar.session_id == session.id, UnitCalendar.unit_code == unit_code))
    if calendar is None:
        calendar = UnitCalendar(session_id=session.id, unit_code=unit_code)
        db.session.add(calendar)
    calendar.deposit_opens_at = dates.deposit_opens_at
    calendar.orals_start_on, calendar.orals_end_on = dates.orals_start_on, dates.orals_end_on
    calendar.written_at = dates.written_at
    calendar.updated_at = now
    deadline = db.session.scalar(sa.select(DepositDeadline).where(
        DepositDeadline.session_id == session.id, DepositDeadline.unit_code == unit_code))
    if dates.deposit_deadline_at is None:
        if deadline is not None:
            db.session.delete(deadline)
    else:
        if deadline is None:
            deadline = DepositDeadline(session_id=session.id, unit_code=unit_code,
                                       deadline_at=dates.deposit_deadline_at)
            db.session.add(deadline)
        deadline.deadline_at = dates.deposit_deadline_at
        deadline.updated_at = now
    db.session.flush()
    fields = ("deposit_opens_at", "deposit_deadline_at", "orals_start_on", "orals_end_on",
              "written_at")
    record(actor=actor, action="session.unit_dates", object_type="exam_session",
           object_id=session.id, session_id=session.id,
           before={"unit": unit_code, **{f: getattr(current, f) for f in fields}},
           after={"unit": unit_code, **{f: getattr(dates, f) for f in fields}}, now=now)
    return dates


def check_deadline(*, session: ExamSession, unit_code: str, deadline_at: datetime) -> None:
    """Refuse a deposit deadline that contradicts the unit's other dates (the dossiers'
    own deadline page calls this before moving it)."""
    current = unit_dates(session).get(unit_code) or UnitDates(unit_code)
    _check_dates(session, UnitDates(unit_code, current.deposit_opens_at,
                                    deadline_at.astimezone(UTC), current.orals_start_on,
                                    current.orals_end_on, current.written_at))


# --- relevé de notes publication (issue 14, §4) -------------------------------------------

def set_releve_publication(*, session: ExamSession, actor, published_at: datetime | None,
                           now: datetime | None = None) -> bool:
    """Set (or clear, with None) the moment from which each candidate downloads their
    relevé de notes; True when it changed. One serialised decision on the session row."""
    if published_at is not None:
        if published_at.tzinfo is None:
            raise ValueError("published_at must be timezone-aware")
        published_at = published_at.astimezone(UTC).replace(second=0, microsecond=0)
        if published_at.year not in (session.year - 1, session.year, session.year + 1):
            raise Invalid(f"La date de publication des relevés doit tomber autour de la "
                          f"session {session.year} (entre {session.year - 1} et "
                          f"{session.year + 1}).", field="releve_published_at")
    session = lock_session(session)
    before = session.releve_published_at
    if before == published_at:
        return False
    session.releve_published_at = published_at
    db.session.flush()
    record(actor=actor, action="session.releve_publication", object_type="exam_session",
           object_id=session.id, session_id=session.id, now=now,
           before={"releve_published_at": before.isoformat() if before else None},
           after={"releve_published_at": published_at.isoformat() if published_at else None})
    return True


def releve_published(session: ExamSession, now: datetime | None = None) -> bool:
    """Whether the session's relevés de notes are available to candidates at ``now``."""
    at = session.releve_published_at
    return at is not None and (now or utcnow()) >= at
