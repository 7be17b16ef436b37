"""French formatting filters: long dates, decimal commas, Europe/Paris times."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from exam_app.formatting import decimal_fr, local_datetime, long_date, short_date, thousands


def test_long_date_names_the_weekday_and_month_in_french():
    assert long_date(date(2027, 5, 10)) == "lundi 10 mai 2027"
    assert long_date(date(2027, 5, 12)) == "mercredi 12 mai 2027"
    assert long_date(date(2027, 8, 15)) == "dimanche 15 août 2027"
    assert long_date(date(2027, 2, 20)) == "samedi 20 février 2027"


def test_long_date_writes_the_first_of_the_month_as_1er():
    assert long_date(date(2027, 6, 1)) == "mardi 1er juin 2027"
    assert long_date(date(2027, 6, 2)) == "mercredi 2 juin 2027"
    assert long_date(date(2027, 6, 11)) == "vendredi 11 juin 2027"


def test_long_date_of_a_utc_datetime_uses_the_paris_day():
    # 22:30 UTC on 11 May is 00:30 on 12 May in Paris (summer time).
    assert long_date(datetime(2027, 5, 11, 22, 30, tzinfo=UTC)) == "mercredi 12 mai 2027"


def test_long_date_of_none_is_empty():
    assert long_date(None) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("14.5"), "14,5"),
        (Decimal("14.50"), "14,5"),
        (Decimal("15"), "15"),
        (Decimal("15.00"), "15"),
        (Decimal("0.25"), "0,25"),
        (Decimal("0"), "0"),
        (Decimal("20"), "20"),
        (Decimal("10"), "10"),
        (Decimal("1E+1"), "10"),
        (Decimal("0.10"), "0,1"),
        (14.5, "14,5"),
        (15, "15"),
        (None, ""),
    ],
)
def test_decimal_fr_uses_a_comma_without_trailing_zeros(value, expected):
    assert decimal_fr(value) == expected


def test_decimal_fr_rounds_half_up_to_the_given_places():
    assert decimal_fr(Decimal("14.456"), 2) == "14,46"
    assert decimal_fr(Decimal("0.125"), 2) == "0,13"
    assert decimal_fr(Decimal("14.5"), 0) == "15"
    assert decimal_fr(Decimal("14.40"), 2) == "14,4"
    assert decimal_fr(Decimal("12.333333"), 1) == "12,3"


def test_local_datetime_is_in_paris_winter_time():
    assert local_datetime(datetime(2027, 1, 15, 12, 0, tzinfo=UTC)) == "15/01/2027 à 13 h 00"


def test_local_datetime_is_in_paris_summer_time():
    assert local_datetime(datetime(2027, 6, 15, 12, 5, tzinfo=UTC)) == "15/06/2027 à 14 h 05"


def test_local_datetime_across_the_spring_change():
    # 28 March 2027, 01:00 UTC: Paris goes from UTC+1 to UTC+2 (02:00 -> 03:00).
    assert local_datetime(datetime(2027, 3, 28, 0, 30, tzinfo=UTC)) == "28/03/2027 à 01 h 30"
    assert local_datetime(datetime(2027, 3, 28, 1, 30, tzinfo=UTC)) == "28/03/2027 à 03 h 30"


def test_local_datetime_across_the_autumn_change():
    # 31 October 2027, 01:00 UTC: Paris goes back from UTC+2 to UTC+1; 02:30 happens twice.
    assert local_datetime(datetime(2027, 10, 31, 0, 30, tzinfo=UTC)) == "31/10/2027 à 02 h 30"
    assert local_datetime(datetime(2027, 10, 31, 1, 30, tzinfo=UTC)) == "31/10/2027 à 02 h 30"
    assert local_datetime(datetime(2027, 10, 31, 2, 30, tzinfo=UTC)) == "31/10/2027 à 03 h 30"


def test_local_datetime_reads_a_naive_datetime_as_utc():
    assert local_datetime(datetime(2027, 1, 15, 12, 0)) == "15/01/2027 à 13 h 00"  # noqa: DTZ001


def test_local_datetime_of_none_is_empty():
    assert local_datetime(None) == ""


def test_short_date_and_thousands():
    assert short_date(date(2027, 6, 1)) == "01/06/2027"
    assert short_date(datetime(2027, 5, 11, 22, 30, tzinfo=UTC)) == "12/05/2027"
    assert thousands(10000) == "10\u202f000"
    assert thousands(999) == "999"


def test_filters_are_registered_in_templates(app):
    env = app.jinja_env
    for name in ("long_date", "short_date", "local_datetime", "decimal_fr", "thousands"):
        assert name in env.filters
    rendered = env.from_string("{{ d|long_date }} — {{ n|decimal_fr }}").render(
        d=date(2027, 6, 1), n=Decimal("12.5"))
    assert rendered == "mardi 1er juin 2027 — 12,5"


def test_french_sort_key_puts_accented_names_where_a_reader_looks():
    from exam_app.formatting import french_sort_key

    names = [("BENALI", "Tom"), ("BENALI", "Élodie"), ("Faure", "Léa"), ("Émile", "Zoé"),
             ("Dupont", "Éva"), ("dupont", "Anna")]
    assert sorted(names, key=lambda n: french_sort_key(*n)) == [
        ("BENALI", "Élodie"), ("BENALI", "Tom"), ("dupont", "Anna"), ("Dupont", "Éva"),
        ("Émile", "Zoé"), ("Faure", "Léa")]
