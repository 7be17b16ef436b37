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

