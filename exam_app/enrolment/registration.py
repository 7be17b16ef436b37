"""Candidate statuses and per-unit registrations: the default form a status gives,
the gestionnaire's changes (audited) and the registrations CSV.

Who sits a unit is decided by ``Candidate.sits_in`` (SQL) and its Python twin
``Candidate.sits``; every reader asks them. Printed results of a candidate who
does not sit a unit come from ``printed_registrations``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.enrolment import results_lock
from exam_app.enrolment.csv_decode import UnreadableFile, decode, has_binary_controls, sniff_delimiter
from exam_app.enrolment.csv_import import RowError, normalise_header
from exam_app.enrolment.models import (
    Candidate,
    CandidateStatus,
    Establishment,
    ExamSession,
    RegistrationKind,
    UnitRegistration,
)
from exam_app.extensions import db
from exam_app.formatting import decimal_fr
from exam_app.units import UnitForm, all_units, get_unit

# Statuses that sit a two-form unit in CCF when their establishment may run it
# (DOMAIN.md, "Status decides the form": students of a lycée, apprentices of a CFA
# and continuing-education trainees of an establishment allowed to run CCF);
# candidats individuels and distance learners sit it ponctuel.
CCF_STATUSES = frozenset({CandidateStatus.SCOLAIRE, CandidateStatus.APPRENTISSAGE,
                          CandidateStatus.FORMATION_CONTINUE})

# A kept mark is kept "for five years from the session where it was obtained" and
# only when ≥ 10/20 (DOMAIN.md, "Bénéfice de notes").
BENEFICE_YEARS = 5
BENEFICE_MIN_MARK = Decimal(10)


def default_form(status: CandidateStatus | None, establishment: Establishment | None) -> UnitForm:
    """The form a two-form unit (E5) is sat in by default: CCF only for a status that
    sits CCF in an establishment allowed to run it; ponctuel otherwise."""
    if status in CCF_STATUSES and establishment is not None and establishment.is_ccf_allowed:
        return UnitForm.CCF
    return UnitForm.PONCTUEL


def _key(text: str) -> str:
    return normalise_header(text)


STATUS_WORDS: dict[str, CandidateStatus] = {
    **dict.fromkeys(("scolaire", "statutscolaire", "etudiant", "etudiante", "formationinitiale",
                     "initiale", "fi", "sco", "lycee"), CandidateStatus.SCOLAIRE),
    **dict.fromkeys(("apprentissage", "apprenti", "apprentie", "app", "cfa", "alternance",
                     "alternant"), CandidateStatus.APPRENTISSAGE),
    **dict.fromkeys(("formationcontinue", "continue", "fc", "stagiairedelaformationcontinue",
                     "formationprofessionnellecontinue", "fpc", "greta"),
                    CandidateStatus.FORMATION_CONTINUE),
    **dict.fromkeys(("candidatindividuel", "individuel", "individuelle", "candidatlibre", "libre",
                     "ci", "cl", "candidatindividuellibre"), CandidateStatus.INDIVIDUEL),
    **dict.fromkeys(("enseignementadistance", "distance", "ead", "cned", "adistance",
                     "formationadistance"), CandidateStatus.DISTANCE),
}
STATUS_EXPECTED = "scolaire, apprentissage, formation continue, candidat individuel (libre) " \
                  "ou enseignement à distance"


def parse_status(text: str) -> CandidateStatus | None:
    """The status a spreadsheet cell names (case, accents and punctuation ignored)."""
    return STATUS_WORDS.get(_key(text))


KIND_WORDS: dict[str, RegistrationKind] = {
    **dict.fromkeys(("presente", "presenter", "inscrit", "sit", "passe", "epreuve", "oui"),
                    RegistrationKind.SIT),
    **dict.fromkeys(("benefice", "beneficedenote", "beneficedenotes", "b", "noteconservee",
                     "report", "reportdenote"), RegistrationKind.BENEFICE),
    **dict.fromkeys(("dispense", "dispensee", "d", "dispensedepreuve", "blocvalide"),
                    RegistrationKind.DISPENSE),
    **dict.fromkeys(("noninscrit", "noninscrite", "non", "ni", "notregistered"),
                    RegistrationKind.NOT_REGISTERED),
}


# ---- validation, shared by the form and the CSV ------------------------------------------


class RegistrationError(ValueError):
    """Refused input: {field: French message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class Registration:
    """A validated registration for one unit."""

    unit_code: str
    kind: RegistrationKind
    form: UnitForm | None = None
    kept_mark: Decimal | None = None
    kept_year: int | None = None
    reason: str = ""


def _mark(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        return None
    return value if value.is_finite() and value == value.quantize(Decimal("0.01")) else None


def validate(*, session: ExamSession, candidate: Candidate, unit_code: str,
             kind: RegistrationKind | str, form: str | None = None, kept_mark: str | None = None,
             kept_year: str | int | None = None, reason: str | None = None) -> Registration:
    """Check one registration; raise ``RegistrationError`` with a message per field."""
    errors: dict[str, str] = {}
    try:
        unit = get_unit(unit_code)
    except KeyError:
        raise RegistrationError({"unit": f"« {unit_code} » n'est pas une épreuve de la session "
                                         f"({', '.join(u.code for u in all_units())})."}) from None
    kind = RegistrationKind(kind)
    reason = " ".join((reason or "").split())
    if len(reason) > 300:
        errors["reason"] = "300 caractères au plus."
    if kind == RegistrationKind.SIT:
        if form:
            try:
                chosen = UnitForm(form)
            except ValueError:
                chosen = None
            if chosen not in unit.forms:
                errors["form"] = (f"l'{unit.code} se passe en forme "
                                  + " ou ".join(f.label for f in unit.forms) + ".")
        elif unit.has_several_forms:
            chosen = default_form(candidate.status, candidate.establishment)
        else:
            chosen = unit.forms[0]
        if errors:
            raise RegistrationError(errors)
        return Registration(unit.code, kind, form=chosen, reason=reason)
    if kind == RegistrationKind.BENEFICE:
        mark = _mark(str(kept_mark or ""))
        if not str(kept_mark or "").strip():
            errors["kept_mark"] = "indiquez la note conservée."
        elif mark is None:
            errors["kept_mark"] = f"« {kept_mark} » n'est pas une note (ex. 14,5)."
        elif not BENEFICE_MIN_MARK <= mark <= unit.max_mark:
            errors["kept_mark"] = (f"seule une note d'au moins {decimal_fr(BENEFICE_MIN_MARK)} "
                                   f"sur {unit.max_mark} se conserve.")
        year_text = str(kept_year or "").strip()
        year = int(year_text) if year_text.isdigit() and len(year_text) == 4 else None
        first = session.year - BENEFICE_YEARS
        if not year_text:
            errors["kept_year"] = "indiquez la session où la note a été obtenue."
        elif year is None:
            errors["kept_year"] = f"« {year_text} » n'est pas une année (ex. {session.year - 1})."
        elif not first <= year < session.year:
            errors["kept_year"] = (f"une note se conserve cinq ans : session de {first} "
                                   f"à {session.year - 1}.")
        if not reason:
            errors["reason"] = "indiquez la demande du candidat (ex. « demande du 12/01 »)."
        if errors:
            raise RegistrationError(errors)
        return Registration(unit.code, kind, kept_mark=mark, kept_year=year, reason=reason)
    if kind == RegistrationKind.DISPENSE and not reason:
        errors["reason"] = "indiquez le motif de la dispense (ex. « bloc 1 validé »)."
    if errors:
        raise RegistrationError(errors)
    return Registration(unit.code, kind, reason=reason)


# ---- services ---------------------------------------------------------------------------


def _lock(candidate: Candidate) -> Candidate:
    """Serialise the changes to one candidate's status and registrations."""
    db.session.execute(sa.select(Candidate.id).where(Candidate.id == candidate.id)
                       .with_for_update())
    db.session.refresh(candidate)
    return candidate


def _row_dict(row: UnitRegistration | None) -> dict:
    if row is None:
        return {"kind": RegistrationKind.SIT.value}
    return {"kind": row.kind.value, "form": row.form.value if row.form else None,
            "kept_mark": row.kept_mark, "kept_year": row.kept_year, "reason": row.reason}


def _store(candidate: Candidate, registration: Registration, now: datetime) -> bool:
    """Write one registration on the candidate; whether anything changed."""
    row = candidate.registration(registration.unit_code)
    unit = get_unit(registration.unit_code)
    if row is None and registration.kind == RegistrationKind.SIT and not unit.has_several_forms:
        return False  # no row already means "sits it in the unit's only form"
    if row is None:
        row = UnitRegistration(unit_code=registration.unit_code, kind=registration.kind)
        candidate.unit_forms.append(row)
    elif (row.kind, row.form, row.kept_mark, row.kept_year, row.reason) == (
            registration.kind, registration.form, registration.kept_mark,
            registration.kept_year, registration.reason):
        return False
    row.kind, row.form = registration.kind, registration.form
    row.kept_mark, row.kept_year = registration.kept_mark, registration.kept_year
    row.reason, row.updated_at = registration.reason, now
    candidate.updated_at = now
    return True


def set_registration(*, candidate: Candidate, registration: Registration, actor,
                     now: datetime | None = None) -> bool:
    """Record how the candidate is registered for one unit (audited); whether it changed."""
    now = now or utcnow()
    results_lock.ensure_open(candidate.session_id)
    candidate = _lock(candidate)
    before = _row_dict(candidate.registration(registration.unit_code))
    if not _store(candidate, registration, now):
        return False
    db.session.flush()
    record(actor=actor, action="candidate.registration", object_type="candidate",
           object_id=candidate.id, session_id=candidate.session_id, now=now,
           before={"unit": registration.unit_code, **before},
           after={"unit": registration.unit_code,
                  **_row_dict(candidate.registration(registration.unit_code))})
    return True


def set_status(*, candidate: Candidate, status: CandidateStatus | None, actor,
               now: datetime | None = None) -> bool:
    """Change the candidate's status (audited); the units they sit in two forms take the
    status's default form again. Whether anything changed."""
    now = now or utcnow()
    results_lock.ensure_open(candidate.session_id)
    candidate = _lock(candidate)
    if candidate.status == status:
        return False
    before = {"status": candidate.status.value if candidate.status else None,
              "forms": _forms(candidate)}
    candidate.status = status
    candidate.updated_at = now
    for unit in all_units():
        row = candidate.registration(unit.code)
        if unit.has_several_forms and row is not None and row.kind == RegistrationKind.SIT:
            row.form = default_form(status, candidate.establishment)
    db.session.flush()
    record(actor=actor, action="candidate.status", object_type="candidate",
           object_id=candidate.id, session_id=candidate.session_id, now=now, before=before,
           after={"status": status.value if status else None, "forms": _forms(candidate)})
    return True


def _forms(candidate: Candidate) -> dict[str, str | None]:
    return {r.unit_code: r.form.value if r.form else None for r in candidate.unit_forms}


def printed_registrations(*, session_id: int, unit_code: str) -> dict[int, str]:
    """Candidate id -> what is printed instead of a result for the candidates who do
    not sit the unit ('Bénéfice 2025 — 14,5', 'Dispensé', 'Non inscrit')."""
    rows = db.session.scalars(
        sa.select(UnitRegistration).join(Candidate, Candidate.id == UnitRegistration.candidate_id)
        .where(Candidate.session_id == session_id, UnitRegistration.unit_code == unit_code,
               UnitRegistration.kind != RegistrationKind.SIT))
    return {row.candidate_id: row.printed for row in rows}


# ---- the registrations CSV ----------------------------------------------------------------

REG_COLUMNS = {
    "number": ("N° candidat", ("ncandidat", "nocandidat", "numcandidat", "numerocandidat",
                               "numero", "ninscription", "numerodecandidat")),
    "unit": ("Épreuve", ("epreuve", "unite", "unit", "code", "codeepreuve")),
    "kind": ("Inscription", ("inscription", "situation", "type", "nature", "kind")),
    "mark": ("Note", ("note", "noteconservee", "mark")),
    "year": ("Session", ("session", "annee", "year", "sessiondobtention", "anneedobtention")),
    "reason": ("Motif", ("motif", "raison", "reason", "demande", "observation")),
    "form": ("Forme", ("forme", "form", "modalite")),
}
REG_REQUIRED = ("number", "unit", "kind")
REG_INDEX = {alias: name for name, (_, aliases) in REG_COLUMNS.items() for alias in aliases}
FIELD_COLUMN = {"unit": "unit", "form": "form", "kept_mark": "mark", "kept_year": "year",
                "reason": "reason"}


@dataclass
class RegistrationImport:
    changed: int = 0
    unchanged: int = 0
    errors: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def import_registrations(*, session: ExamSession, data: bytes, actor, max_rows: int,
                         filename: str = "", now: datetime | None = None) -> RegistrationImport:
    """Import one registration per row (N° candidat, Épreuve, Inscription, Note, Session,
    Motif, Forme), all or nothing; errors name their line and column."""
    now = now or utcnow()
    report = RegistrationImport()

    def error(line: int, name: str, message: str) -> None:
        label = REG_COLUMNS[name][0] if name else ""
        report.errors.append(RowError(line, label, message))

    try:
        text, _ = decode(data)
        if has_binary_controls(text):
            raise UnreadableFile("Ce fichier contient des caractères de contrôle : "
                                 "ce n'est pas un CSV texte.")
    except UnreadableFile as exc:
        error(0, "", str(exc))
        return report
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(first_line))
    try:
        rows = [(reader.line_num, raw) for raw in reader]
    except csv.Error:
        error(reader.line_num, "", "ligne CSV mal formée : guillemet (\") non fermé ou mal placé.")
        return report
    rows = [(line, raw) for line, raw in rows if any(c.strip() for c in raw)]
    if not rows:
        error(0, "", "le fichier est vide.")
        return report
    header_line, header = rows[0]
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        column = REG_INDEX.get(_key(name))
        if column is not None:
            positions.setdefault(column, index)
    missing = [REG_COLUMNS[c][0] for c in REG_REQUIRED if c not in positions]
    if missing:
        error(header_line, "", "colonne(s) obligatoire(s) absente(s) : "
              + ", ".join(f"« {m} »" for m in missing) + ". En-têtes attendus : "
              + " ; ".join(label for label, _ in REG_COLUMNS.values()) + ".")
        return report
    if len(rows) - 1 > max_rows:
        error(0, "", f"le fichier contient plus de {max_rows} lignes : découpez-le.")
        return report
    numbers = {_cell(raw, positions, "number").upper() for _, raw in rows[1:]}
    candidates = {c.number: c for c in db.session.scalars(
        sa.select(Candidate).where(Candidate.session_id == session.id,
                                   Candidate.number.in_(sorted(numbers))))}
    seen: dict[tuple[str, str], int] = {}
    valid: list[tuple[Candidate, Registration]] = []
    for line, raw in rows[1:]:
        number = _cell(raw, positions, "number").upper().replace(" ", "")
        candidate = candidates.get(number)
        if not number:
            error(line, "number", "valeur obligatoire manquante.")
            continue
        if candidate is None:
            error(line, "number", f"candidat n° {number} inconnu dans cette session.")
            continue
        unit_code = _cell(raw, positions, "unit").upper().replace(" ", "")
        kind_text = _cell(raw, positions, "kind")
        kind = KIND_WORDS.get(_key(kind_text))
        if kind is None:
            error(line, "kind", f"« {kind_text} » : attendu présente, bénéfice, dispensé "
                                "ou non inscrit." if kind_text else "valeur obligatoire manquante.")
            continue
        if (number, unit_code) in seen:
            error(line, "unit", f"le candidat {number} a déjà une ligne pour l'{unit_code} "
                                f"(ligne {seen[number, unit_code]}).")
            continue
        seen[number, unit_code] = line
        form_text = _key(_cell(raw, positions, "form"))
        form = {"ccf": "ccf", "ponctuel": "ponctuel", "ponctuelle": "ponctuel"}.get(
            form_text, form_text or None)
        try:
            valid.append((candidate, validate(
                session=session, candidate=candidate, unit_code=unit_code, kind=kind, form=form,
                kept_mark=_cell(raw, positions, "mark"), kept_year=_cell(raw, positions, "year"),
                reason=_cell(raw, positions, "reason"))))
        except RegistrationError as exc:
            for name, message in exc.errors.items():
                error(line, FIELD_COLUMN.get(name, ""), message)
    if report.errors:
        report.errors.sort(key=lambda e: e.line)
        return report
    results_lock.ensure_open(session.id)
    for candidate, registration in valid:
        if _store(candidate, registration, now):
            report.changed += 1
        else:
            report.unchanged += 1
    db.session.flush()
    record(actor=actor, action="candidate.registrations_import", object_type="exam_session",
           object_id=session.id, session_id=session.id, now=now,
           after={"file": filename, "sha256": hashlib.sha256(data).hexdigest(),
                  "rows": len(valid), "changed": report.changed,
                  "registrations": [{"number": c.number, "unit": r.unit_code, "kind": r.kind.value,
                                     "form": r.form.value if r.form else None,
                                     "kept_mark": r.kept_mark, "kept_year": r.kept_year,
                                     "reason": r.reason} for c, r in valid]})
    return report


def _cell(raw: list[str], positions: dict[str, int], name: str) -> str:
    index = positions.get(name)
    if index is None or index >= len(raw):
        return ""
    return " ".join(raw[index].replace("\u00a0", " ").split())
