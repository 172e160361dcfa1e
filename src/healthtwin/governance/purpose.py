"""Purpose of use: the HL7 v3 ``PurposeOfUse`` codes and their hierarchy.

Every request for data says why it is made. The codes are those of the HL7 v3 code system
``ActReason`` (``http://terminology.hl7.org/CodeSystem/v3-ActReason``) under its abstract
concept ``PurposeOfUse``, with the hierarchy of that code system as published with FHIR R4
(THO release 2018-08-12, file ``CodeSystem-v3-ActReason.json`` of the CC0 package
``hl7.fhir.r4.examples`` 4.0.1). A code *specialises* its parent: a permit for ``HRESCH``
covers ``CLINTRCH`` and ``BIORCH``; a permit for ``TREAT`` covers ``ETREAT`` and ``BTG``.
``HRESCH`` is a top-level purpose in that hierarchy (not a child of ``HMARKT``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from healthtwin.errors import InvalidInputError

__all__ = [
    "PURPOSES",
    "PURPOSE_OF_USE_SYSTEM",
    "SECONDARY_USE_PURPOSES",
    "ancestors",
    "is_specialisation",
    "parse_purpose",
    "purpose_coding",
]

PURPOSE_OF_USE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
# FHIR R4 (STU3-era) canonical of the same code system, still found in older resources.
_LEGACY_SYSTEMS = frozenset({"http://hl7.org/fhir/v3/ActReason", "urn:oid:2.16.840.1.113883.5.8"})

# (code, parent or None, display), depth-first as in the published code system.
_HIERARCHY: tuple[tuple[str, str | None, str], ...] = (
    ("HMARKT", None, "healthcare marketing"),
    ("HOPERAT", None, "healthcare operations"),
    ("CAREMGT", "HOPERAT", "care management"),
    ("DONAT", "HOPERAT", "donation"),
    ("FRAUD", "HOPERAT", "fraud"),
    ("GOV", "HOPERAT", "government"),
    ("HACCRED", "HOPERAT", "health accreditation"),
    ("HCOMPL", "HOPERAT", "health compliance"),
    ("HDECD", "HOPERAT", "decedent"),
    ("HDIRECT", "HOPERAT", "directory"),
    ("HDM", "HOPERAT", "healthcare delivery management"),
    ("HLEGAL", "HOPERAT", "legal"),
    ("HOUTCOMS", "HOPERAT", "health outcome measure"),
    ("HPRGRP", "HOPERAT", "health program reporting"),
    ("HQUALIMP", "HOPERAT", "health quality improvement"),
    ("HSYSADMIN", "HOPERAT", "health system administration"),
    ("LABELING", "HSYSADMIN", "labeling"),
    ("METAMGT", "HSYSADMIN", "metadata management"),
    ("MEMADMIN", "HOPERAT", "member administration"),
    ("MILCDM", "HOPERAT", "military command"),
    ("PATADMIN", "HOPERAT", "patient administration"),
    ("PATSFTY", "HOPERAT", "patient safety"),
    ("PERFMSR", "HOPERAT", "performance measure"),
    ("RECORDMGT", "HOPERAT", "records management"),
    ("SYSDEV", "HOPERAT", "system development"),
    ("HTEST", "SYSDEV", "test health data"),
    ("TRAIN", "HOPERAT", "training"),
    ("HPAYMT", None, "healthcare payment"),
    ("CLMATTCH", "HPAYMT", "claim attachment"),
    ("COVAUTH", "HPAYMT", "coverage authorization"),
    ("COVERAGE", "HPAYMT", "coverage under policy or program"),
    ("ELIGDTRM", "COVERAGE", "eligibility determination"),
    ("ELIGVER", "COVERAGE", "eligibility verification"),
    ("ENROLLM", "COVERAGE", "enrollment"),
    ("MILDCRG", "COVERAGE", "military discharge"),
    ("REMITADV", "HPAYMT", "remittance advice"),
    ("HRESCH", None, "healthcare research"),
    ("BIORCH", "HRESCH", "biomedical research"),
    ("CLINTRCH", "HRESCH", "clinical trial research"),
    ("CLINTRCHNPC", "CLINTRCH", "clinical trial research without patient care"),
    ("CLINTRCHPC", "CLINTRCH", "clinical trial research with patient care"),
    ("PRECLINTRCH", "CLINTRCH", "preclinical trial research"),
    ("DSRCH", "HRESCH", "disease specific healthcare research"),
    ("POARCH", "HRESCH", "population origins or ancestry healthcare research"),
    ("TRANSRCH", "HRESCH", "translational healthcare research"),
    ("PATRQT", None, "patient requested"),
    ("FAMRQT", "PATRQT", "family requested"),
    ("PWATRNY", "PATRQT", "power of attorney"),
    ("SUPNWK", "PATRQT", "support network"),
    ("PUBHLTH", None, "public health"),
    ("DISASTER", "PUBHLTH", "disaster"),
    ("THREAT", "PUBHLTH", "threat"),
    ("TREAT", None, "treatment"),
    ("CLINTRL", "TREAT", "clinical trial"),
    ("COC", "TREAT", "coordination of care"),
    ("ETREAT", "TREAT", "Emergency Treatment"),
    ("BTG", "ETREAT", "break the glass"),
    ("ERTREAT", "ETREAT", "emergency room treatment"),
    ("POPHLTH", "TREAT", "population health"),
)

#: Display text of every purpose-of-use code, by code.
PURPOSES: Mapping[str, str] = MappingProxyType({code: text for code, _, text in _HIERARCHY})
_PARENT: Mapping[str, str | None] = MappingProxyType({code: up for code, up, _ in _HIERARCHY})


def _chain(code: str) -> tuple[str, ...]:
    chain = [code]
    while (parent := _PARENT[chain[-1]]) is not None:
        chain.append(parent)
    return tuple(chain)


_ANCESTORS: Mapping[str, tuple[str, ...]] = MappingProxyType({c: _chain(c) for c in _PARENT})

#: Secondary uses (EHDS chapter IV): research, public health, marketing, and the operations
#: that reuse data beyond the patient's care (training, system development and testing).
SECONDARY_USE_PURPOSES = frozenset({"HRESCH", "PUBHLTH", "HMARKT", "TRAIN", "SYSDEV"})


def _unknown(code: object) -> InvalidInputError:
    roots = sorted(code for code, parent in _PARENT.items() if parent is None)
    return InvalidInputError(
        f"unknown purpose of use {code!r}; give an HL7 v3 PurposeOfUse code such as "
        f"{', '.join(roots)} (or one of their {len(_PARENT) - len(roots)} specialisations)"
    )


def parse_purpose(value: str | Mapping[str, Any]) -> str:
    """Return the purpose-of-use code of a code, a token, a Coding or a CodeableConcept.

    Parameters
    ----------
    value : str or mapping
        ``"HRESCH"``, a search token ``"<system>|HRESCH"``, a Coding dict
        (``{"system": ..., "code": "HRESCH"}``) or a CodeableConcept dict (the first coding
        of the v3 system is used).

    Returns
    -------
    str
        The code, upper case as published.

    Raises
    ------
    InvalidInputError
        If the code is not a PurposeOfUse code or its system is not v3 ActReason.

    Examples
    --------
    >>> parse_purpose("hresch")
    'HRESCH'
    >>> parse_purpose({"system": PURPOSE_OF_USE_SYSTEM, "code": "ETREAT"})
    'ETREAT'
    >>> parse_purpose("http://terminology.hl7.org/CodeSystem/v3-ActReason|TREAT")
    'TREAT'
    """
    if isinstance(value, str):
        system, _, code = value.rpartition("|")
        return _checked(system or None, code)
    if isinstance(value, Mapping):
        if "coding" in value:
            codings = value.get("coding") or []
            for coding in codings:
                if isinstance(coding, Mapping) and coding.get("system") in _all_systems():
                    return _checked(coding.get("system"), coding.get("code"))
            raise InvalidInputError(
                f"CodeableConcept {dict(value)!r} has no coding of {PURPOSE_OF_USE_SYSTEM}; "
                "add one with a PurposeOfUse code"
            )
        return _checked(value.get("system"), value.get("code"))
    raise _unknown(value)


def _all_systems() -> frozenset[str]:
    return _LEGACY_SYSTEMS | {PURPOSE_OF_USE_SYSTEM}


def _checked(system: object, code: object) -> str:
    if system is not None and system not in _all_systems():
        raise InvalidInputError(
            f"purpose of use {code!r} comes from code system {system!r}; use "
            f"{PURPOSE_OF_USE_SYSTEM}"
        )
    if not isinstance(code, str) or code.strip().upper() not in _PARENT:
        raise _unknown(code)
    return code.strip().upper()


def ancestors(code: str) -> tuple[str, ...]:
    """Return ``code`` followed by its parents up to its top-level purpose.

    Examples
    --------
    >>> ancestors("BTG")
    ('BTG', 'ETREAT', 'TREAT')
    """
    try:
        return _ANCESTORS[code]
    except KeyError as err:
        raise _unknown(code) from err


def is_specialisation(code: str, of: str) -> bool:
    """Whether ``code`` equals ``of`` or specialises it (a permit for ``of`` covers it).

    Examples
    --------
    >>> is_specialisation("CLINTRCH", "HRESCH"), is_specialisation("HRESCH", "CLINTRCH")
    (True, False)
    """
    return of in ancestors(code)


def purpose_coding(code: str) -> dict[str, str]:
    """Return the FHIR Coding of a purpose-of-use code (system, code, display).

    Examples
    --------
    >>> purpose_coding("PUBHLTH")["display"]
    'public health'
    """
    code = parse_purpose(code)
    return {"system": PURPOSE_OF_USE_SYSTEM, "code": code, "display": PURPOSES[code]}
