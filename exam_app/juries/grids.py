"""Grids: their fields from the unit definition, value cleaning, reveal, what a juror sees.

Same contract as every service: keyword-only arguments, flush and audit,
never commit, never read ``request``; refusals raise ``JuryError``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from exam_app.audit.services import record
from exam_app.clock import utcnow
from exam_app.extensions import db
from exam_app.juries.errors import JuryInvalid, JuryNotFound
from exam_app.juries.locking import lock_passage
from exam_app.juries.models import AGREED, Grid, GridField, Passage
from exam_app.units import get_unit

# ---- grid fields from the unit definition ----------------------------------


def carries_mark(unit_code: str, variant_code: str) -> bool:
    """Whether this situation's passage sets the unit's mark.

    A form with several situations (E5 CCF: A then B) gets one global mark,
    agreed at the last situation in definition order with every situation's
    grid shown (DOMAIN.md default); earlier situations record their grid only.
    """
    unit = get_unit(unit_code)
    variant = unit.variant(variant_code)
    return unit.variants_for(variant.form)[-1].code == variant.code


def earlier_situations(unit_code: str, variant_code: str) -> list[str]:
    """Codes of the situations before this one in the same form (definition order)."""
    unit = get_unit(unit_code)
    variant = unit.variant(variant_code)
    codes = [v.code for v in unit.variants_for(variant.form)]
    return codes[:codes.index(variant.code)]


def field_names(unit_code: str, variant_code: str) -> list[str]:
    """The fields of a grid, from the unit definition: levels, comments, appreciation, mark."""
    unit = get_unit(unit_code)
    wanted = unit.variant(variant_code).grid_sections
    names = []
    for section in unit.grid.sections:
        if wanted and section.code not in wanted:
            continue
        names.extend(f"c:{c.code}" for c in section.criteria)
        names.extend(f"r:{r.code}" for r in unit.grid.records_of(section.code))
        names.append(f"s:{section.code}")
    return [*names, "appreciation", *(["mark"] if carries_mark(unit_code, variant_code) else [])]


def grid_key_for(user_id: int) -> str:
    """The key of a juror's independent grid."""
    return f"juror:{user_id}"


# ---- field values ------------------------------------------------------------


def clean_value(*, name: str, value, unit_code: str, mark_step: Decimal) -> str:
    """The stored text of a field value, or JuryInvalid (400) with the reason."""
    if not isinstance(value, str):
        raise JuryInvalid("Valeur invalide : texte attendu.", field=name)
    value = value.strip() if name.startswith("c:") or name == "mark" else value
    if name.startswith("c:"):
        if value and value not in get_unit(unit_code).grid.level_codes():
            raise JuryInvalid(f"Niveau inconnu : {value[:10]!r}.", field=name)
        return value
    if name == "mark":
        return clean_mark(value, mark_step) if value else ""
    limit = 4000 if name == "appreciation" else 2000
    if len(value) > limit:
        raise JuryInvalid(f"Texte trop long ({len(value)} caractères, {limit} au plus).",
                          field=name)
    return value


def clean_mark(value: str, step: Decimal) -> str:
    """'14.5', '15': a mark between 0 and 20 on the session's step, without trailing zeros."""
    try:
        mark = Decimal(value.replace(",", "."))
    except InvalidOperation:
        raise JuryInvalid(f"Note invalide : « {value[:10]} » n'est pas un nombre.",
                          field="mark") from None
    if not mark.is_finite() or mark < 0 or mark > 20:
        raise JuryInvalid("La note doit être comprise entre 0 et 20.", field="mark")
    if mark % step != 0:
        raise JuryInvalid(
            f"La note doit être un multiple de {str(step.normalize()).replace('.', ',')}.",
            field="mark")
    return str(mark.normalize()) if mark % 1 else str(int(mark))


# ---- independent grids -------------------------------------------------------


def reveal(*, passage: Passage, actor, now: datetime | None = None) -> None:
    """Reveal one's independent grid; the other's shows once both have."""
    now = now or utcnow()
    passage = lock_passage(passage)
    grid = db.session.scalar(sa.select(Grid).where(Grid.passage_id == passage.id,
                                                   Grid.key == grid_key_for(actor.id)))
    if grid is None:
        raise JuryNotFound("Vous n'avez pas de grille individuelle pour ce passage.")
    if grid.revealed_at is None:
        grid.revealed_at = now
        db.session.flush()
        record(actor=actor, action="grid.reveal", object_type="passage", object_id=passage.id,
               session_id=passage.commission.session_id, now=now)


def grids_view(passage: Passage, user_id: int) -> dict:
    """The grids a juror may see: the agreed one, their own, the other's once both revealed.

    Read on every state poll: the grids and their fields as plain rows in one statement
    (no ORM objects: three grids of a few dozen fields each, every poll)."""
    rows = db.session.execute(
        sa.select(Grid.id, Grid.key, Grid.revealed_at, GridField.name, GridField.value,
                  GridField.version)
        .outerjoin(GridField, GridField.grid_id == Grid.id)
        .where(Grid.passage_id == passage.id).order_by(Grid.id, GridField.id))
    grids: dict[str, dict] = {}  # key -> {"revealed": bool, "fields": {...}}, by grid id
    for row in rows:
        grid = grids.setdefault(row.key, {"revealed": row.revealed_at is not None,
                                          "fields": {}})
        if row.name is not None:
            grid["fields"][row.name] = {"value": row.value, "version": row.version}
    mine = grid_key_for(user_id)
    own = grids.get(mine)
    others = [g for key, g in grids.items() if key not in (AGREED, mine)]
    both_revealed = own is not None and own["revealed"] and bool(others) and all(
        g["revealed"] for g in others)
    return {
        "agreed": grids[AGREED]["fields"],
        "own": own["fields"] if own else None,
        "own_revealed": own is not None and own["revealed"],
        "other": others[0]["fields"] if both_revealed else None,
        "other_revealed": bool(others) and others[0]["revealed"],
    }
