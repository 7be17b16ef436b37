"""Column types shared by the models: enum columns typed as their enums.

Every enum column is stored as VARCHAR (``native_enum=False``) holding the
enum's *values* (not its member names), so the stored text stays readable and
portable between SQLite and PostgreSQL. The allowed values are also checked by
an explicit, named ``CheckConstraint`` on the table (``<column>_known``), which
keeps migrations explicit; the type itself creates no constraint.
"""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from werkzeug.routing import IntegerConverter


def enum_type(enum: type[StrEnum], length: int) -> sa.Enum:
    """A VARCHAR(length) column type whose Python values are members of ``enum``."""
    return sa.Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )



# ---- integers from the URL and the query string -----------------------------------------
# Ids are INTEGER columns: PostgreSQL refuses a bound value from 2^31 on ("integer out of
# range") and SQLite one from 2^63 on (OverflowError), each a 500. Values beyond the range
# are refused before any query: no row can have such an id.

INT_MAX = 2**31 - 1


class DatabaseIntConverter(IntegerConverter):
    """The ``int`` URL converter, bounded by the database's INTEGER: a larger id does not
    match the route, so it is a 404 like any unknown id."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = None, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min,
                         max=INT_MAX if max is None else max, signed=signed)


def database_int(value: str) -> int:
    """``type=`` for integer query arguments: a ValueError (so the argument is ignored)
    beyond the database's INTEGER range."""
    number = int(value)
    if not -INT_MAX - 1 <= number <= INT_MAX:
        raise ValueError(f"{value!r} is beyond the database's integer range")
    return number
