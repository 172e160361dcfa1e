"""Cell readers: numbers with a decimal comma, local dates and times, translated labels.

Each reader returns the value, or a :class:`Failure` saying what kind of problem the cell
has and why, so that the caller can report it against the row and column.

Local times are read in the source's IANA time zone and converted to UTC. A local time
that does not exist (inside a daylight-saving gap, 02:30 on the night clocks jump from
02:00 to 03:00) is refused; an ambiguous one (the repeated hour in autumn) is read as its
first occurrence (``fold=0``), the only choice a table without offsets allows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from healthtwin.interop.harmonize.concept_map import normalize_label
from healthtwin.interop.harmonize.quality import ProblemKind

__all__ = [
    "Failure",
    "cell_text",
    "parse_date",
    "parse_datetime",
    "parse_number",
    "translate_label",
]

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Failure:
    """Why a cell could not be read."""

    kind: ProblemKind
    message: str


def cell_text(value: object) -> str:
    """The cell as text, for problem listings (``1.0`` from a data frame stays ``1.0``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_number(
    value: object, *, decimal: str = ".", thousands: str | None = None
) -> float | Failure:
    """Read a number written with the given decimal mark and thousands separator.

    Examples
    --------
    >>> parse_number("37,2", decimal=",")
    37.2
    >>> parse_number("1.234,5", decimal=",", thousands=".")
    1234.5
    >>> parse_number("37.2", decimal=",").kind
    'unparseable_number'
    """
    if isinstance(value, bool):
        return Failure("unparseable_number", f"expected a number, got the boolean {value}")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        if thousands:
            text = text.replace(thousands, "")
        if decimal == ",":
            if "." in text:
                return Failure(
                    "unparseable_number",
                    f"{value!r} has a '.', but this source writes decimals with ','",
                )
            text = text.replace(",", ".")
        if not _NUMBER.match(text):
            return Failure(
                "unparseable_number",
                f"{value!r} is not a number (decimal mark {decimal!r})",
            )
        number = float(text)
    if number != number or number in (float("inf"), float("-inf")):
        return Failure("unparseable_number", f"{value!r} is not a finite number")
    return number


def _parse_with(text: str, formats: Sequence[str]) -> datetime | None:
    for pattern in formats:
        try:
            if pattern == "iso":
                return datetime.fromisoformat(text)
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def parse_datetime(value: object, formats: Sequence[str], zone: tzinfo) -> datetime | Failure:
    """Read a time with the first matching pattern; local times are in ``zone``; UTC out.

    ``formats`` are :func:`datetime.strptime` patterns or ``"iso"`` (ISO 8601, with or
    without an offset); a time that carries its own offset keeps it.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> parse_datetime("12.03.2024 15:00", ["%d.%m.%Y %H:%M"], ZoneInfo("Europe/Berlin"))
    datetime.datetime(2024, 3, 12, 14, 0, tzinfo=datetime.timezone.utc)
    >>> parse_datetime("2024-03-31 02:30", ["iso"], ZoneInfo("Europe/Berlin")).kind
    'nonexistent_time'
    """
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        parsed = _parse_with(str(value).strip(), formats)
    if parsed is None:
        return Failure(
            "unparseable_date",
            f"{value!r} matches none of the date formats {list(formats)}",
        )
    try:
        if parsed.tzinfo is not None and parsed.utcoffset() is not None:
            return parsed.astimezone(UTC)
        naive = parsed.replace(tzinfo=None)
        local = naive.replace(tzinfo=zone)
        utc = local.astimezone(UTC)
        if utc.astimezone(zone).replace(tzinfo=None) != naive:
            return Failure(
                "nonexistent_time",
                f"{value!r} does not exist in {zone} (a daylight-saving gap); check the time "
                "or the source's time zone",
            )
    except OverflowError:
        return Failure("unparseable_date", f"{value!r} is outside the range of dates in UTC")
    return utc


def parse_date(value: object, formats: Sequence[str]) -> date | Failure:
    """Read a calendar date (a birth date) with the first matching pattern.

    Examples
    --------
    >>> parse_date("03/04/1970", ["%m/%d/%Y"]), parse_date("03.04.1970", ["%d.%m.%Y"])
    (datetime.date(1970, 3, 4), datetime.date(1970, 4, 3))
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    parsed = _parse_with(str(value).strip(), formats)
    if parsed is None:
        return Failure(
            "unparseable_date",
            f"{value!r} matches none of the date formats {list(formats)}",
        )
    return parsed.date()


def translate_label(value: object, values: Mapping[str, str], what: str) -> str | Failure:
    """Translate a local label through a value map whose keys are normalised labels.

    Keys must be :func:`~healthtwin.interop.harmonize.concept_map.normalize_label` forms;
    the cell is normalised the same way, so case and extra spaces do not matter.

    Examples
    --------
    >>> translate_label("Weiblich ", {"männlich": "male", "weiblich": "female"}, "gender")
    'female'
    >>> translate_label("divers", {"männlich": "male"}, "gender").message
    "'divers' is not a known gender label; known: männlich"
    """
    found = values.get(normalize_label(cell_text(value)))
    if found is not None:
        return found
    return Failure(
        "unmapped_code",
        f"{cell_text(value)!r} is not a known {what} label; known: {', '.join(values)}",
    )
