"""Imputed values as FHIR: an Observation flagged as estimated, with its uncertainty.

A value estimated to fill a gap (a CGM reading the twin's smoother filled, for example)
is written as an ordinary Observation whose ``valueQuantity`` is the estimate, plus:

- ``meta.tag``: :data:`~healthtwin.interop.fhir_export.FORECAST_TAG` (so that a reader
  that knows nothing of imputation, as the forecast rule goes, never takes it for a
  measurement) and :data:`IMPUTED_TAG` (healthtwin's output-kind code system, code
  ``imputed``);
- the complex extension :data:`IMPUTATION_URL` with ``variance`` (the predictive
  variance of a measurement at that time, in the unit squared), ``low`` and ``high``
  (its band), ``level`` (the band's coverage), all ``valueDecimal``, and ``method``
  (``valueString``, what made the estimate; left out when empty).

:func:`imputation_extension` writes the extension and :func:`read_imputation` reads it
back into an :class:`~healthtwin.interop.records.Imputation`; the Observation writer and
reader of :mod:`healthtwin.interop.fhir_records` call them, so a record with an
imputation round-trips through FHIR with its flag and variance, and the Bundle reader
keeps imputed records apart from measurements
(:attr:`~healthtwin.interop.records.PatientData.imputed_observations`).
"""

from __future__ import annotations

from typing import Any, NoReturn

from healthtwin.errors import ResourceValidationError, ValidationIssue
from healthtwin.interop.fhir_export import FHIR_BASE, FORECAST_TAG
from healthtwin.interop.records import Coding, Imputation

__all__ = [
    "IMPUTATION_URL",
    "IMPUTED_TAG",
    "imputation_extension",
    "imputed_tags",
    "is_imputed",
    "read_imputation",
]

#: Tag of a value estimated to fill a gap (healthtwin's output-kind code system).
IMPUTED_TAG = Coding(system=FORECAST_TAG.system, code="imputed")
#: Complex extension carrying an imputed value's variance, band and method.
IMPUTATION_URL = f"{FHIR_BASE}/StructureDefinition/imputation"
_DECIMALS = ("variance", "low", "high", "level")


def imputed_tags() -> list[dict[str, str]]:
    """The ``meta.tag`` codings of an imputed Observation (forecast, then imputed).

    Examples
    --------
    >>> [t["code"] for t in imputed_tags()]
    ['forecast', 'imputed']
    """
    return [{"system": t.system, "code": t.code} for t in (FORECAST_TAG, IMPUTED_TAG)]


def imputation_extension(imputation: Imputation) -> dict[str, Any]:
    """The :data:`IMPUTATION_URL` extension of an imputed value (JSON).

    Examples
    --------
    >>> ext = imputation_extension(Imputation(variance=64.0, lower=97.0, upper=123.0,
    ...     level=0.9))
    >>> [(e["url"], e["valueDecimal"]) for e in ext["extension"]][:2]
    [('variance', 64.0), ('low', 97.0)]
    """
    values = (imputation.variance, imputation.lower, imputation.upper, imputation.level)
    parts: list[dict[str, Any]] = [
        {"url": name, "valueDecimal": value} for name, value in zip(_DECIMALS, values, strict=True)
    ]
    if imputation.method:
        parts.append({"url": "method", "valueString": imputation.method})
    return {"url": IMPUTATION_URL, "extension": parts}


def is_imputed(resource: Any) -> bool:
    """Whether a resource (R4B model) carries :data:`IMPUTED_TAG` in ``meta.tag``."""
    tags = resource.meta.tag if getattr(resource, "meta", None) is not None else None
    return any(t.system == IMPUTED_TAG.system and t.code == IMPUTED_TAG.code for t in tags or ())


def read_imputation(resource: Any, path: str) -> Imputation:
    """The imputation of a resource tagged imputed (R4B model); ``path`` names it in errors.

    Raises
    ------
    ResourceValidationError
        When the :data:`IMPUTATION_URL` extension is missing or lacks a part (code
        ``required``), or its values are not a valid imputation (code ``value``).
    """
    found = [e for e in resource.extension or () if e.url == IMPUTATION_URL]
    if len(found) != 1:
        _fail(
            f"{path}.extension",
            f"an Observation tagged imputed needs one {IMPUTATION_URL} extension, found "
            f"{len(found)}; write it with healthtwin.interop.fhir_imputed.imputation_extension",
            "required",
        )
    parts = {e.url: e for e in found[0].extension or ()}
    missing = [name for name in _DECIMALS if getattr(parts.get(name), "valueDecimal", None) is None]
    if missing:
        _fail(
            f"{path}.extension",
            f"the imputation extension lacks {missing} (valueDecimal each); it needs "
            f"{', '.join(_DECIMALS)}",
            "required",
        )
    method = getattr(parts.get("method"), "valueString", None) or ""
    try:
        return Imputation(
            variance=float(parts["variance"].valueDecimal),
            lower=float(parts["low"].valueDecimal),
            upper=float(parts["high"].valueDecimal),
            level=float(parts["level"].valueDecimal),
            method=str(method),
        )
    except ValueError as err:
        _fail(f"{path}.extension", str(err), "value", err)


def _fail(path: str, message: str, code: str, cause: Exception | None = None) -> NoReturn:
    issue = ValidationIssue(path=path, message=message, code=code)
    raise ResourceValidationError(message, (issue,)) from cause
