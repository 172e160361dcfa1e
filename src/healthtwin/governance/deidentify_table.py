"""De-identification of tabular records, column by column.

Every column of a table is declared with a :class:`ColumnAction` (keep, drop, pseudonymise,
shift or cut dates, generalise ZIP codes and ages, drop free text) and, optionally, the
Safe Harbor identifier it holds, so that the report says where each identifier was. A
column without a declaration is refused: a new column in an export must be looked at by a
person before it leaves. The rules are those of :mod:`healthtwin.governance.deidentify`
(one key, one date shift per patient).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.governance.deidentify import DROP, DeidentificationConfig, DeidentificationRun
from healthtwin.governance.generalise import generalise_age, is_fhir_date, zip3
from healthtwin.governance.safe_harbor import Handling, HipaaIdentifier, SafeHarborReport

__all__ = ["Column", "ColumnAction", "deidentify_records"]

H = HipaaIdentifier


class ColumnAction(StrEnum):
    """What to do with one column of a table."""

    KEEP = "keep"
    DROP = "drop"
    PATIENT_ID = "patient_id"
    PSEUDONYMISE = "pseudonymise"
    DATE = "date"
    ZIP = "zip"
    AGE = "age"
    FREE_TEXT = "free_text"


_DEFAULT_IDENTIFIER = {
    ColumnAction.PATIENT_ID: H.R,
    ColumnAction.PSEUDONYMISE: H.R,
    ColumnAction.DATE: H.C,
    ColumnAction.ZIP: H.B,
    ColumnAction.AGE: H.C,
}


@dataclass(frozen=True)
class Column:
    """The rule for one column: an action and the Safe Harbor identifier it holds.

    Examples
    --------
    >>> Column(ColumnAction.DROP, HipaaIdentifier.D).identifier.description
    'Telephone numbers'
    """

    action: ColumnAction
    identifier: HipaaIdentifier | None = None


def deidentify_records(
    records: Iterable[Mapping[str, Any]],
    columns: Mapping[str, Column | ColumnAction],
    config: DeidentificationConfig,
) -> tuple[list[dict[str, Any]], SafeHarborReport]:
    """De-identify rows of a table, column by column; undeclared columns are refused.

    Parameters
    ----------
    records : iterable of mapping
        One mapping per row. Dates are ISO strings or ``datetime.date`` values.
    columns : mapping of str to Column or ColumnAction
        The rule of every column; exactly one column must be ``PATIENT_ID`` (its
        pseudonym also keys the date shift).
    config : DeidentificationConfig

    Raises
    ------
    InvalidInputError
        A row has a column without a rule, or a value a rule cannot handle.

    Examples
    --------
    >>> from healthtwin.governance.pseudonyms import PseudonymKey
    >>> config = DeidentificationConfig(key=PseudonymKey(b"k" * 32), dates_to_year=True)
    >>> rows, report = deidentify_records(
    ...     [{"mrn": "42", "admitted": "2020-03-04", "age": 93, "zip": "02139",
    ...       "phone": "555-0100", "ward": "ICU"}],
    ...     {"mrn": ColumnAction.PATIENT_ID, "admitted": ColumnAction.DATE,
    ...      "age": ColumnAction.AGE, "zip": ColumnAction.ZIP,
    ...      "phone": Column(ColumnAction.DROP, HipaaIdentifier.D), "ward": ColumnAction.KEEP},
    ...     config)
    >>> {k: v for k, v in rows[0].items() if k != "mrn"}
    {'admitted': '2020', 'age': '90+', 'zip': '021', 'ward': 'ICU'}
    """
    rules = {
        name: c if isinstance(c, Column) else Column(ColumnAction(c)) for name, c in columns.items()
    }
    patient_columns = [n for n, c in rules.items() if c.action is ColumnAction.PATIENT_ID]
    if len(patient_columns) != 1:
        raise InvalidParameterError(
            f"exactly one column must be PATIENT_ID, got {patient_columns}; mark the column "
            "that identifies the patient"
        )
    run = DeidentificationRun(config)
    rows = [_row(run, r, rules, patient_columns[0], i) for i, r in enumerate(records)]
    return rows, run.log.report()


def _row(
    run: DeidentificationRun,
    record: Mapping[str, Any],
    rules: Mapping[str, Column],
    patient_column: str,
    index: int,
) -> dict[str, Any]:
    unknown = sorted(set(record) - set(rules))
    if unknown:
        raise InvalidInputError(
            f"row {index} has columns without a de-identification rule: {unknown}; declare "
            f"each (ColumnAction.KEEP to keep it as is); declared: {sorted(rules)}"
        )
    patient = f"Patient/{record.get(patient_column, '')}"
    out: dict[str, Any] = {}
    for name, value in record.items():
        rule = rules[name]
        kept = _cell(run, rule, value, name, patient) if value is not None else None
        if kept is not DROP:
            out[name] = kept
    return out


def _cell(run: DeidentificationRun, rule: Column, value: Any, name: str, patient: str) -> Any:
    identifier = rule.identifier or _DEFAULT_IDENTIFIER.get(rule.action, H.R)
    action = rule.action
    if action is ColumnAction.KEEP:
        return value
    if action in {ColumnAction.DROP, ColumnAction.FREE_TEXT}:
        if action is ColumnAction.FREE_TEXT:
            run.log.free_text_removed += 1
        else:
            run.log.record(identifier, Handling.REMOVED, name)
        return DROP
    if action in {ColumnAction.PATIENT_ID, ColumnAction.PSEUDONYMISE}:
        run.log.record(identifier, Handling.PSEUDONYMISED, name)
        return run.pseudonym("Patient" if action is ColumnAction.PATIENT_ID else name, str(value))
    if action is ColumnAction.ZIP:
        run.log.record(identifier, Handling.GENERALISED, name)
        short = zip3(str(value), run.zip_areas)
        return DROP if short is None else short
    if action is ColumnAction.AGE:
        if not isinstance(value, int | float):
            raise InvalidInputError(f"column {name!r}: age must be a number, got {value!r}")
        age = generalise_age(value)
        if isinstance(age, str):
            run.log.record(identifier, Handling.GENERALISED, name)
        return age
    return _date_cell(run, value, name, patient)


def _date_cell(run: DeidentificationRun, value: Any, name: str, patient: str) -> Any:
    if isinstance(value, dt.date):
        text = value.isoformat()
        result = run.date(text[:10], name, patient)
        if run.config.dates_to_year:
            return int(result)
        shift = dt.date.fromisoformat(result) - dt.date.fromisoformat(text[:10])
        return value + shift
    if isinstance(value, str) and (is_fhir_date(value) or value[:4].isdigit()):
        return run.date(value, name, patient)
    raise InvalidInputError(
        f"column {name!r}: {value!r} is not a date; give ISO strings (2020-03-04) or "
        "datetime.date values"
    )
