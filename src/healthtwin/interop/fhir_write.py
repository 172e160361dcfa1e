"""Small builders of FHIR JSON elements shared by the writers of records and twin outputs."""

from __future__ import annotations

import math
from typing import Any

from healthtwin.errors import InvalidInputError
from healthtwin.interop.codes import UCUM
from healthtwin.interop.fhir_refs import parse_reference
from healthtwin.interop.records import Coding

__all__ = ["concept", "drop_none", "reference", "reference_to", "ucum_quantity"]


def reference(resource_type: str, logical_id: str) -> dict[str, str]:
    """A relative Reference.

    Examples
    --------
    >>> reference("Patient", "p1")
    {'reference': 'Patient/p1'}
    """
    return {"reference": f"{resource_type}/{logical_id}"}


def concept(coding: Coding) -> dict[str, Any]:
    """A CodeableConcept holding one coding.

    Examples
    --------
    >>> concept(Coding(system="http://loinc.org", code="8867-4"))
    {'coding': [{'system': 'http://loinc.org', 'code': '8867-4'}]}
    """
    return {
        "coding": [
            drop_none({"system": coding.system, "code": coding.code, "display": coding.display})
        ]
    }


def ucum_quantity(value: float | None, unit: str | None) -> dict[str, Any]:
    """A Quantity in UCUM (``unit`` is both the code and the human-readable unit).

    Raises
    ------
    InvalidInputError
        If the value is not finite (FHIR decimals cannot hold NaN or infinity).

    Examples
    --------
    >>> ucum_quantity(5.4, "mmol/L")
    {'value': 5.4, 'unit': 'mmol/L', 'system': 'http://unitsofmeasure.org', 'code': 'mmol/L'}
    """
    if value is not None and not math.isfinite(value):
        raise InvalidInputError(
            f"a FHIR quantity needs a finite value, got {value!r} {unit or ''}; leave the "
            "value out (None) when it is missing"
        )
    quantity: dict[str, Any] = {} if value is None else {"value": value}
    if unit is not None:
        quantity.update(unit=unit, system=UCUM, code=unit)
    return quantity


def drop_none(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the keys whose value is None.

    Examples
    --------
    >>> drop_none({"a": 1, "b": None})
    {'a': 1}
    """
    return {key: value for key, value in data.items() if value is not None}


def reference_to(text: str) -> dict[str, str]:
    """A Reference to ``text``, which must be a valid reference (``Type/id``...).

    Examples
    --------
    >>> reference_to("Observation/o1")
    {'reference': 'Observation/o1'}
    """
    if parse_reference(text) is None:
        raise InvalidInputError(
            f"{text!r} is not a FHIR reference; write Type/id, for example 'Observation/o1'"
        )
    return {"reference": text}
