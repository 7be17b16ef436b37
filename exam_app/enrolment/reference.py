"""Reference data (issue 13, item 2): establishments and exam centres with their
rooms, by CSV file or one at a time, through the same checks.

An import validates every row first and writes nothing when one is wrong (every
error listed by line and column); it is idempotent (the same file twice changes
nothing the second time: creations, updates and unchanged rows are counted) and
audited with the before/after of each row it changed. Rows are matched on their
national key: the UAI for an establishment, the centre code within a session for
a centre, the room name within its centre. Rooms absent from a file are kept.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.enrolment.csv_import import UAI_RE, Column, RowError, normalise_header
from exam_app.enrolment.csv_table import read_table
from exam_app.enrolment.models import (
    Centre,
    CentreRoom,
    Establishment,
    EstablishmentKind,
    ExamSession,
)
from exam_app.errors import Conflict, Invalid, NotFound
from exam_app.extensions import db

Report = Callable[[str, str], None]  # (field, French message)


@dataclass(frozen=True)
class ReferenceReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rooms_created: int = 0
    rooms_updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    encoding: str = ""

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def _first_error(check: Callable[[Report], dict]) -> dict:
    """Run a row check for a form: the values, or ``Invalid`` naming the first wrong field."""
    errors: list[tuple[str, str]] = []
    values = check(lambda name, message: errors.append((name, message)))
    if errors:
        name, message = errors[0]
        raise Invalid(message[0].upper() + message[1:], field=name)
    return values


def _length(value: str, name: str, limit: int, report: Report) -> str:
    if len(value) > limit:
        report(name, f"{limit} caractères au plus.")
    return value


# --- establishments ---------------------------------------------------------------------

ESTABLISHMENT_COLUMNS = (
    Column("uai", "UAI", True, ("uai", "codeuai", "rne", "uaietablissement")),
    Column("name", "Nom", True, ("nom", "etablissement", "nometablissement", "libelle",
                                 "denomination", "raisonsociale")),
    Column("kind", "Type", False, ("type", "nature", "categorie", "typeetablissement")),
    Column("city", "Ville", False, ("ville", "commune", "localite")),
    Column("ccf", "Habilité CCF", False, ("habiliteccf", "ccf", "habilitationccf", "habilite")),
)

YES_NO = {"oui": True, "o": True, "yes": True, "1": True, "x": True, "vrai": True,
          "non": False, "n": False, "no": False, "0": False, "faux": False, "": None}

KIND_ALIASES = {
    "lyceepublic": EstablishmentKind.LYCEE_PUBLIC, "public": EstablishmentKind.LYCEE_PUBLIC,
    "lpo": EstablishmentKind.LYCEE_PUBLIC, "lyceepublique": EstablishmentKind.LYCEE_PUBLIC,
    "lyceeprive": EstablishmentKind.LYCEE_PRIVE, "prive": EstablishmentKind.LYCEE_PRIVE,
    "lyceeprivesouscontrat": EstablishmentKind.LYCEE_PRIVE,
    "cfa": EstablishmentKind.CFA, "greta": EstablishmentKind.GRETA,
    "autre": EstablishmentKind.OTHER, "": EstablishmentKind.OTHER,
}
KIND_ALIASES.update({normalise_header(k.value): k for k in EstablishmentKind})
KIND_ALIASES.update({normalise_header(k.label): k for k in EstablishmentKind})


def establishment_values(cells: dict[str, str], report: Report) -> dict:
    """Checked values of one establishment (UAI, name, kind, city); errors reported."""
    uai = (cells.get("uai") or "").upper().replace(" ", "")
    if not uai:
        report("uai", "valeur obligatoire manquante.")
    elif not UAI_RE.match(uai):
        report("uai", f"« {uai} » n'est pas un code UAI (7 chiffres suivis d'une lettre).")
    name = _length(cells.get("name") or "", "name", 200, report)
    if not name:
        report("name", "valeur obligatoire manquante.")
    kind_text = cells.get("kind") or ""
    kind = KIND_ALIASES.get(normalise_header(kind_text))
    if kind is None:
        report("kind", f"« {kind_text} » : attendu lycée public, lycée privé, CFA, GRETA ou "
                       "autre.")
    city = _length(cells.get("city") or "", "city", 120, report)
    ccf_text = cells.get("ccf") or ""
    ccf = YES_NO.get(normalise_header(ccf_text), "?")
    if ccf == "?":
        report("ccf", f"« {ccf_text} » : attendu oui ou non.")
        ccf = None
    # None: not given (a new establishment is not habilité; a known one keeps its flag).
    return {"uai": uai, "name": name, "kind": kind, "city": city, "ccf": ccf}


def _establishment_state(e: Establishment) -> dict:
    return {"name": e.name, "kind": e.kind.value if e.kind else None, "city": e.city,
            "ccf": bool(e.is_ccf_allowed)}


def _apply_establishments(rows: list[dict]) -> tuple[int, int, int, list[dict]]:
    """Create or update each establishment: (created, updated, unchanged, changes)."""
    existing = {e.uai: e for e in db.session.scalars(
        sa.select(Establishment).where(Establishment.uai.in_([r["uai"] for r in rows])))}
    created = updated = unchanged = 0
    changes = []
    for row in rows:
        establishment = existing.get(row["uai"])
        ccf = row.get("ccf")
        if ccf is None:
            ccf = bool(establishment.is_ccf_allowed) if establishment is not None else False
        after = {"name": row["name"], "kind": row["kind"].value, "city": row["city"],
                 "ccf": ccf}
        if establishment is None:
            db.session.add(Establishment(uai=row["uai"], name=row["name"], kind=row["kind"],
                                         city=row["city"], is_ccf_allowed=ccf))
            created += 1
            changes.append({"uai": row["uai"], "before": None, "after": after})
            continue
        before = _establishment_state(establishment)
        if before == after:
            unchanged += 1
            continue
        establishment.name, establishment.kind = row["name"], row["kind"]
        establishment.city, establishment.is_ccf_allowed = row["city"], ccf
        updated += 1
        changes.append({"uai": row["uai"], "before": before, "after": after})
    db.session.flush()
    return created, updated, unchanged, changes


def import_establishments(*, data: bytes, actor, max_rows: int,
                          filename: str = "") -> ReferenceReport:
    """Create or update establishments from a CSV file, all or nothing."""
    table = read_table(data, columns=ESTABLISHMENT_COLUMNS, max_rows=max_rows,
                       what="établissement")
    rows, seen = [], {}
    for row in table.rows:
        values = establishment_values(
            row.cells, lambda name, message, line=row.line: table.error(line, name, message))
        uai = values["uai"]
        if uai in seen:
            table.error(row.line, "uai", f"l'UAI {uai} figure déjà ligne {seen[uai]}.")
        elif uai:
            seen[uai] = row.line
        rows.append(values)
    if not table.ok:
        return ReferenceReport(errors=sorted(table.errors, key=lambda e: e.line),
                               error_count=table.error_count, encoding=table.encoding)
    created, updated, unchanged, changes = _apply_establishments(rows)
    record(actor=actor, action="establishment.import", object_type="establishment",
           after={"file": filename, "sha256": hashlib.sha256(data).hexdigest(),
                  "rows": len(rows), "created": created, "updated": updated,
                  "unchanged": unchanged, "changes": changes})
    return ReferenceReport(created, updated, unchanged, encoding=table.encoding)


def save_establishment(*, actor, uai: str, name: str, kind: str = "", city: str = "",
                       ccf: bool | None = None) -> Establishment:
    """Create an establishment, or update the one with this UAI (one row of the form)."""
    values = _first_error(lambda report: establishment_values(
        {"uai": uai, "name": name, "kind": kind, "city": city}, report))
    values["ccf"] = ccf
    created, updated, _, changes = _apply_establishments([values])
    if created or updated:
        change = changes[0]
        record(actor=actor, action="establishment.save", object_type="establishment",
               object_id=values["uai"], before=change["before"], after=change["after"])
    return db.session.scalar(sa.select(Establishment).where(Establishment.uai == values["uai"]))


# --- exam centres and their rooms -------------------------------------------------------

CENTRE_COLUMNS = (
    Column("code", "Code centre", True, ("codecentre", "code", "centre", "ncentre")),
    Column("name", "Nom", False, ("nom", "nomcentre", "libelle", "nomducentre")),
    Column("address", "Adresse", False, ("adresse", "adressepostale", "rue")),
    Column("postal_code", "Code postal", False, ("codepostal", "cp")),
    Column("city", "Ville", False, ("ville", "commune", "localite")),
    Column("room", "Salle", False, ("salle", "nomsalle", "local")),
    Column("capacity", "Capacité", False, ("capacite", "places", "nbplaces", "capacitesalle")),
    Column("workstations", "Postes E5", False,
           ("postese5", "postes", "postesinformatiques", "nbpostes", "postesinformatiquese5")),
)
CENTRE_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,19}$")
POSTAL_RE = re.compile(r"^\d{5}$")
CENTRE_FIELDS = ("name", "address", "postal_code", "city")


def centre_values(cells: dict[str, str], report: Report) -> dict:
    """Checked values of one centre (code, name, address, postal code, city)."""
    code = (cells.get("code") or "").upper().replace(" ", "")
    if not code:
        report("code", "valeur obligatoire manquante.")
    elif not CENTRE_CODE_RE.match(code):
        report("code", f"« {code} » n'est pas un code de centre (lettres, chiffres, « - », "
                       "20 caractères au plus).")
    postal = cells.get("postal_code") or ""
    if postal and not POSTAL_RE.match(postal):
        report("postal_code", f"« {postal} » n'est pas un code postal (5 chiffres).")
    return {"code": code, "name": _length(cells.get("name") or "", "name", 200, report),
            "address": _length(cells.get("address") or "", "address", 300, report),
            "postal_code": postal, "city": _length(cells.get("city") or "", "city", 120, report)}


def _count(text: str, name: str, label: str, low: int, report: Report) -> int | None:
    if not text.isdigit() or not low <= int(text) <= 1000:
        report(name, f"{label} : « {text} » n'est pas un nombre entier de {low} à 1000.")
        return None
    return int(text)


def room_values(cells: dict[str, str], report: Report) -> dict | None:
    """Checked values of one room (name, capacity, workstations), None when the row names
    no room."""
    name = _length(cells.get("room") or "", "room", 80, report)
    capacity_text = cells.get("capacity") or ""
    workstations_text = cells.get("workstations") or ""
    if not name:
        if capacity_text or workstations_text:
            report("room", "indiquez le nom de la salle dont vous donnez la capacité.")
        return None
    if not capacity_text:
        report("capacity", f"indiquez la capacité de la salle « {name} ».")
        return None
    capacity = _count(capacity_text, "capacity", "capacité", 1, report)
    workstations = _count(workstations_text or "0", "workstations", "postes", 0, report)
    return {"name": name, "capacity": capacity, "workstations": workstations}


@dataclass
class _CentreSpec:
    line: int
    values: dict
    rooms: dict[str, dict] = field(default_factory=dict)


def _centre_specs(table) -> dict[str, _CentreSpec]:
    """The file's centres (a centre may span several rows, one per room), with errors for
    a centre described two different ways or a room listed twice."""
    specs: dict[str, _CentreSpec] = {}
    room_lines: dict[tuple[str, str], int] = {}
    for row in table.rows:
        def report(name, message, line=row.line):
            table.error(line, name, message)

        values = centre_values(row.cells, report)
        room = room_values(row.cells, report)
        code = values["code"]
        if not code:
            continue
        spec = specs.setdefault(code, _CentreSpec(row.line, {"code": code}))
        for key in CENTRE_FIELDS:
            if not values[key]:
                continue
            if spec.values.get(key) and spec.values[key] != values[key]:
                report(key, f"le centre {code} a une autre valeur ligne {spec.line} "
                            f"(« {spec.values[key]} »).")
            spec.values.setdefault(key, values[key])
        if room:
            key = (code, room["name"].casefold())
            if key in room_lines:
                report("room", f"la salle « {room['name']} » du centre {code} figure déjà "
                               f"ligne {room_lines[key]}.")
            else:
                room_lines[key] = row.line
                spec.rooms[room["name"]] = room
    return specs


def _centre_state(centre: Centre) -> dict:
    return {key: getattr(centre, key) for key in CENTRE_FIELDS}


def _apply_centres(session: ExamSession, specs: dict[str, _CentreSpec]) -> dict:
    """Create or update the centres and their rooms (a new centre has a name: checked
    before); counts and changes."""
    existing = {c.code: c for c in db.session.scalars(
        sa.select(Centre).where(Centre.session_id == session.id,
                                Centre.code.in_(list(specs))))}
    tally = {"created": 0, "updated": 0, "unchanged": 0, "rooms_created": 0,
             "rooms_updated": 0, "changes": []}
    for code, spec in specs.items():
        centre = existing.get(code)
        before = _centre_state(centre) if centre else None
        if centre is None:
            centre = Centre(session=session, code=code, name=spec.values["name"])
            db.session.add(centre)
        for key in CENTRE_FIELDS:
            if key in spec.values:
                setattr(centre, key, spec.values[key])
        after = _centre_state(centre)
        rooms = {r.name.casefold(): r for r in centre.rooms} if before else {}
        room_changes = []
        for name, values in spec.rooms.items():
            room = rooms.get(name.casefold())
            if room is None:
                centre.rooms.append(CentreRoom(**values))
                tally["rooms_created"] += 1
                room_changes.append({"room": name, "before": None, "after": values})
            elif (room.name, room.capacity, room.workstations) != tuple(values.values()):
                room_changes.append({"room": name, "before": {
                    "name": room.name, "capacity": room.capacity,
                    "workstations": room.workstations}, "after": values})
                room.name, room.capacity = values["name"], values["capacity"]
                room.workstations = values["workstations"]
                tally["rooms_updated"] += 1
        outcome = ("created" if before is None else "updated" if before != after
                   else "unchanged")
        tally[outcome] += 1
        if before != after or room_changes:
            tally["changes"].append({"code": code, "before": before, "after": after,
                                     "rooms": room_changes})
    db.session.flush()
    return tally


def import_centres(*, session: ExamSession, data: bytes, actor, max_rows: int,
                   filename: str = "") -> ReferenceReport:
    """Create or update the session's centres and rooms from a CSV file, all or nothing."""
    table = read_table(data, columns=CENTRE_COLUMNS, max_rows=max_rows, what="centre")
    specs = _centre_specs(table) if table.ok else {}

    def failed() -> ReferenceReport:
        return ReferenceReport(errors=sorted(table.errors, key=lambda e: e.line),
                               error_count=table.error_count, encoding=table.encoding)

    if table.ok:
        known = set(db.session.scalars(sa.select(Centre.code).where(
            Centre.session_id == session.id, Centre.code.in_(list(specs)))))
        for code, spec in specs.items():
            if code not in known and not spec.values.get("name"):
                table.error(spec.line, "name",
                            f"centre {code} inconnu : indiquez son nom pour le créer.")
    if not table.ok:
        return failed()
    tally = _apply_centres(session, specs)
    record(actor=actor, action="centre.import", object_type="exam_session",
           object_id=session.id, session_id=session.id,
           after={"file": filename, "sha256": hashlib.sha256(data).hexdigest(),
                  "rows": len(table.rows), **tally})
    return ReferenceReport(tally["created"], tally["updated"], tally["unchanged"],
                           tally["rooms_created"], tally["rooms_updated"],
                           encoding=table.encoding)


def save_centre(*, session: ExamSession, actor, code: str, name: str, address: str = "",
                postal_code: str = "", city: str = "", room: str = "", capacity="",
                workstations="") -> Centre:
    """Create or update one centre (and, when named, one of its rooms): the form's row;
    an empty field keeps the current value."""
    cells = {"code": code, "name": name, "address": address, "postal_code": postal_code,
             "city": city, "room": room, "capacity": str(capacity or "").strip(),
             "workstations": str(workstations or "").strip()}

    def check(report):
        values = centre_values(cells, report)
        if not values["name"]:
            report("name", "valeur obligatoire manquante.")
        values["room"] = room_values(cells, report)
        return values

    values = _first_error(check)
    # As in a file: an empty cell keeps the centre's current value.
    spec = _CentreSpec(0, {k: values[k] for k in ("code", *CENTRE_FIELDS) if values[k]},
                       {values["room"]["name"]: values["room"]} if values["room"] else {})
    tally = _apply_centres(session, {values["code"]: spec})
    if tally["changes"]:
        change = tally["changes"][0]
        record(actor=actor, action="centre.save", object_type="centre", object_id=values["code"],
               session_id=session.id, before=change["before"],
               after={**change["after"], "rooms": change["rooms"]})
    return db.session.scalar(sa.select(Centre).where(Centre.session_id == session.id,
                                                     Centre.code == values["code"]))


# --- a centre's rooms, edited by its chef de centre -------------------------------------

# What uses a centre's rooms, by room name: {name: why, in French}. Passages (juries) and
# the E6 seating (e6) sit above enrolment: the page that calls these services passes it.
RoomUsage = Callable[[int], dict[str, str]]


def _lock_centre(centre: Centre) -> None:
    """Serialise every change of the centre's rooms (PostgreSQL: the centre's row; SQLite:
    the database's write lock, taken by a no-op UPDATE as the transaction's first write)."""
    db.session.flush()
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(sa.update(Centre).where(Centre.id == centre.id)
                           .values(code=Centre.code)
                           .execution_options(synchronize_session=False))
    else:
        db.session.execute(sa.select(Centre.id).where(Centre.id == centre.id)
                           .with_for_update(of=Centre))


def _rooms_locked(centre: Centre) -> list[CentreRoom]:
    """The centre's rooms, re-read under the centre's lock."""
    _lock_centre(centre)
    return list(db.session.scalars(
        sa.select(CentreRoom).where(CentreRoom.centre_id == centre.id).order_by(CentreRoom.name)
        .execution_options(populate_existing=True)))


def _room_state(room: CentreRoom) -> dict:
    return {"name": room.name, "capacity": room.capacity, "workstations": room.workstations}


def _in_use(usage: RoomUsage, centre: Centre, name: str) -> str | None:
    uses = {key.casefold(): why for key, why in usage(centre.id).items()}
    return uses.get(name.casefold())


def _room_form_values(name: str, capacity, workstations) -> dict:
    """Checked values of the room form; ``Invalid`` on the first wrong field."""
    name = " ".join(str(name or "").split())
    capacity_text = str(capacity if capacity is not None else "").strip()
    workstations_text = str(workstations if workstations is not None else "").strip() or "0"
    if not name:
        raise Invalid("Indiquez le nom de la salle.", field="name")
    if len(name) > 80:
        raise Invalid("Le nom de la salle a 80 caractères au plus.", field="name")
    if not capacity_text:
        raise Invalid("Indiquez la capacité de la salle (nombre de places).", field="capacity")
    if not capacity_text.lstrip("-").isdigit():
        raise Invalid(f"Capacité : « {capacity_text} » n'est pas un nombre entier de places.",
                      field="capacity")
    if int(capacity_text) <= 0:
        raise Invalid("La capacité doit être d'au moins 1 place.", field="capacity")
    if int(capacity_text) > 1000:
        raise Invalid("La capacité est de 1000 places au plus.", field="capacity")
    if not workstations_text.lstrip("-").isdigit() or not 0 <= int(workstations_text) <= 1000:
        raise Invalid(f"Postes E5 : « {workstations_text} » n'est pas un nombre entier de 0 à "
                      "1000.", field="workstations")
    return {"name": name, "capacity": int(capacity_text), "workstations": int(workstations_text)}


def save_room(*, centre: Centre, actor, usage: RoomUsage, room_id: int | None = None,
              name: str, capacity, workstations) -> CentreRoom:
    """Add a room to the centre (``room_id`` None) or change one: name, seats, E5
    workstations. Refused: a name another room of the centre has, renaming a room that
    passages or the E6 seating name. Audited with before and after."""
    values = _room_form_values(name, capacity, workstations)
    rooms = _rooms_locked(centre)
    room = None
    if room_id is not None:
        room = next((r for r in rooms if r.id == room_id), None)
        if room is None:
            raise NotFound("Cette salle n'existe plus dans ce centre : rechargez la page.")
    for other in rooms:
        if other is not room and other.name.casefold() == values["name"].casefold():
            raise Invalid(f"Le centre a déjà une salle « {other.name} ».", field="name")
    before = _room_state(room) if room else None
    if room is not None and room.name != values["name"]:
        why = _in_use(usage, centre, room.name)
        if why:
            raise Conflict(f"La salle « {room.name} » ne peut pas être renommée : {why}.",
                           field="name")
    if before == values:
        return room
    if room is None:
        room = CentreRoom(centre_id=centre.id, **values)
        db.session.add(room)
    else:
        room.name, room.capacity = values["name"], values["capacity"]
        room.workstations = values["workstations"]
    db.session.flush()
    record(actor=actor, action="centre.room.save", object_type="centre_room",
           object_id=room.id, session_id=centre.session_id,
           before=before, after={"centre": centre.code, **values})
    return room


def remove_room(*, centre: Centre, actor, usage: RoomUsage, room_id: int) -> None:
    """Remove a room of the centre, unless passages or the E6 seating use it. Audited."""
    rooms = _rooms_locked(centre)
    room = next((r for r in rooms if r.id == room_id), None)
    if room is None:
        raise NotFound("Cette salle n'existe plus dans ce centre : rechargez la page.")
    why = _in_use(usage, centre, room.name)
    if why:
        raise Conflict(f"La salle « {room.name} » ne peut pas être supprimée : {why}.")
    before = _room_state(room)
    db.session.delete(room)
    db.session.flush()
    record(actor=actor, action="centre.room.remove", object_type="centre_room",
           object_id=room_id, session_id=centre.session_id,
           before={"centre": centre.code, **before}, after=None)
