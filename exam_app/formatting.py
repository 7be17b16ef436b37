"""French formatting for templates and printed documents."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from flask import Flask

from exam_app.clock import display_zone_name, to_local

DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet",
    "août", "septembre", "octobre", "novembre", "décembre",
)


def french_sort_key(*parts: str | None) -> tuple:
    """A sort key that orders names as a French reader expects: accents and case are
    secondary (« BENALI Élodie » before « BENALI Tom », « Émile » between « Dupont » and
    « Faure »), the exact text breaks ties."""
    import unicodedata

    def base(text: str | None) -> str:
        decomposed = unicodedata.normalize("NFKD", text or "")
        return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()

    return tuple(base(p) for p in parts) + tuple(p or "" for p in parts)


def long_date(value: date | datetime | None) -> str:
    """'lundi 12 mai 2027'."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_local(value)
    day = "1er" if value.day == 1 else str(value.day)
    return f"{DAYS[value.weekday()]} {day} {MONTHS[value.month - 1]} {value.year}"


def short_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_local(value)
    return value.strftime("%d/%m/%Y")


def local_datetime(value: datetime | None) -> str:
    """'12/05/2027 à 14 h 05' in the display zone (the session's time zone)."""
    if value is None:
        return ""
    local = to_local(value)
    return f"{local:%d/%m/%Y} à {local:%H} h {local:%M}"


ZONE_PLACES = {
    "Europe/Paris": "Paris", "America/Cayenne": "Cayenne", "America/Martinique": "la Martinique",
    "America/Guadeloupe": "la Guadeloupe", "Indian/Reunion": "La Réunion",
    "Indian/Mayotte": "Mayotte", "Pacific/Noumea": "Nouméa", "Pacific/Tahiti": "Tahiti",
    "America/Miquelon": "Saint-Pierre", "Pacific/Wallis": "Wallis",
}


def zone_label(name: str | None = None) -> str:
    """'heure de Paris': the zone dates are shown in (default: the display zone)."""
    name = name or display_zone_name()
    place = ZONE_PLACES.get(name) or name.rsplit("/", 1)[-1].replace("_", " ")
    return f"heure de {place}"


def decimal_fr(value: Decimal | float | int | None, places: int | None = None) -> str:
    """'14,5' — French decimal comma, no trailing zeros."""
    if value is None:
        return ""
    number = Decimal(str(value))
    if places is not None:
        # Half up, as people round by hand (round() would give 14,5 -> 14).
        number = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = format(number.normalize(), "f") if number == number.to_integral() else str(number)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")


def thousands(value: int | None) -> str:
    """'10 000' with a narrow no-break space."""
    if value is None:
        return ""
    return f"{value:,}".replace(",", "\u202f")


def local_time(value: datetime | None) -> str:
    """'14 h 05' in the display zone: the hour alone, where the date is printed apart."""
    if value is None:
        return ""
    local = to_local(value)
    return f"{local:%H} h {local:%M}"


def register(app: Flask) -> None:
    app.add_template_filter(local_time)
    app.add_template_filter(long_date)
    app.add_template_filter(short_date)
    app.add_template_filter(local_datetime)
    app.add_template_filter(decimal_fr)
    app.add_template_filter(thousands)
    app.add_template_global(zone_label)
