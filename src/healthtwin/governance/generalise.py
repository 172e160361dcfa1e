"""Generalisation rules of Safe Harbor: ZIP to ZIP3, ages over 89 to 90+, dates to year,
and shifting of FHIR date strings by whole days at their own precision.

FHIR dates are ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or a dateTime/instant
``YYYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm)``. A shift by whole days changes only the date part,
so times and time-zone offsets are kept as written and intervals within a patient are kept
exactly at day precision and finer. Month-precision values are shifted from the 15th of
their month; year-only values are left as they are (Safe Harbor allows the year).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection

from healthtwin.errors import InvalidInputError

__all__ = [
    "AGE_TOP_CODE",
    "DATE_PATTERN",
    "age_years",
    "date_to_year",
    "generalise_age",
    "is_fhir_date",
    "shift_date",
    "zip3",
]

#: Ages above 89 are aggregated into one category, written ``"90+"``.
AGE_TOP_CODE = 90
DATE_PATTERN = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})(?P<time>T[0-9:.]+"
    r"(?:Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")


def is_fhir_date(text: str) -> bool:
    """True when ``text`` is a FHIR date, dateTime or instant with at least a month.

    Examples
    --------
    >>> is_fhir_date("2020-02-29T10:00:00+01:00"), is_fhir_date("2020"), is_fhir_date("v2")
    (True, False, False)
    """
    match = DATE_PATTERN.match(text)
    return bool(match and match["month"])


def shift_date(text: str, days: int) -> str:
    """Shift a FHIR date string by ``days``, keeping its precision, time and offset.

    Examples
    --------
    >>> shift_date("2020-02-28T23:59:00Z", 2)
    '2020-03-01T23:59:00Z'
    >>> shift_date("2020-02", -20), shift_date("1931", 100)
    ('2020-01', '1931')
    """
    match = DATE_PATTERN.match(text)
    if match is None:
        raise InvalidInputError(
            f"not a FHIR date: {text!r}; expected YYYY, YYYY-MM, YYYY-MM-DD or a dateTime"
        )
    if not match["month"]:
        return text
    try:
        day = dt.date(int(match["year"]), int(match["month"]), int(match["day"] or 15))
    except ValueError as err:
        raise InvalidInputError(f"not a calendar date: {text!r} ({err})") from err
    shifted = day + dt.timedelta(days=days)
    if not match["day"]:
        return f"{shifted.year:04d}-{shifted.month:02d}"
    return shifted.isoformat() + (match["time"] or "")


def date_to_year(text: str) -> str:
    """Keep only the year of a FHIR date string.

    Examples
    --------
    >>> date_to_year("1931-05-17")
    '1931'
    """
    match = DATE_PATTERN.match(text)
    if match is None:
        raise InvalidInputError(f"not a FHIR date: {text!r}; expected it to start with YYYY")
    return match["year"]


def zip3(postal_code: str, restricted: Collection[str]) -> str | None:
    """The Safe Harbor form of a US ZIP code: its first three digits, or ``"000"``.

    Parameters
    ----------
    postal_code : str
        ``NNNNN`` or ``NNNNN-NNNN``.
    restricted : collection of str
        Three-digit areas of 20,000 people or fewer
        (:func:`healthtwin.governance.safe_harbor.restricted_zip3`).

    Returns
    -------
    str or None
        ``None`` when the code is not a US ZIP code (it is then removed, not generalised).

    Examples
    --------
    >>> zip3("02139-4307", {"036"}), zip3("03601", {"036"}), zip3("SW1A 1AA", {"036"})
    ('021', '000', None)
    """
    match = _ZIP.match(postal_code.strip())
    if match is None:
        return None
    prefix = match[1][:3]
    return "000" if prefix in restricted else prefix


def age_years(birth: str, on: dt.date) -> int | None:
    """Completed years between a FHIR birth date and ``on`` (``None`` if too imprecise).

    Year-only births count as born on 1 January, which over-states the age by < 1 year
    and so errs towards top-coding.

    Examples
    --------
    >>> age_years("1931-05-17", dt.date(2021, 5, 16)), age_years("1931", dt.date(2021, 5, 16))
    (89, 90)
    """
    match = DATE_PATTERN.match(birth)
    if match is None:
        return None
    born = dt.date(int(match["year"]), int(match["month"] or 1), int(match["day"] or 1))
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def generalise_age(age: float) -> float | str:
    """Ages over 89 become ``"90+"``; others are kept.

    Examples
    --------
    >>> generalise_age(89), generalise_age(93.5)
    (89, '90+')
    """
    if age > AGE_TOP_CODE - 1:
        return f"{AGE_TOP_CODE}+"
    return age
