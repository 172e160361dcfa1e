"""Local codes to standard codes with FHIR R4 ConceptMap semantics.

A map is written in YAML or JSON with the shape of a FHIR R4 ConceptMap resource
(http://hl7.org/fhir/R4/conceptmap.html): ``group[]`` pairs a source system with a target
system, ``group[].element[]`` lists source codes, each with ``target[]`` codes and an
``equivalence``. A FHIR ConceptMap JSON file can therefore be used as it is.

What counts as a mapping follows the ``equivalence`` value set
(http://hl7.org/fhir/R4/valueset-concept-map-equivalence.html): ``unmatched`` and
``disjoint`` never map; the others map only when accepted (by default ``equal``,
``equivalent``, ``wider`` and ``subsumes``: the standard code is the same concept or a
broader one). ``narrower``, ``specializes``, ``inexact`` and ``relatedto`` must be accepted
explicitly, because they change the meaning of the data.

Source codes are compared after :func:`normalize_label` (Unicode NFC, case-folded,
whitespace collapsed), so ``"Diabetes mellitus Typ 2"`` and ``"diabetes  mellitus typ 2"``
are the same label.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from healthtwin.interop.records import Coding

__all__ = [
    "DEFAULT_ACCEPTED",
    "ConceptMap",
    "ConceptMapElement",
    "ConceptMapGroup",
    "ConceptMapTarget",
    "Equivalence",
    "Translation",
    "Translator",
    "normalize_label",
]

Equivalence = Literal[
    "relatedto",
    "equivalent",
    "equal",
    "wider",
    "subsumes",
    "narrower",
    "specializes",
    "inexact",
    "unmatched",
    "disjoint",
]
#: Equivalences that map a code unless a mapping says otherwise.
DEFAULT_ACCEPTED: frozenset[Equivalence] = frozenset({"equal", "equivalent", "wider", "subsumes"})
_NEVER: frozenset[str] = frozenset({"unmatched", "disjoint"})


class ConceptMapTarget(BaseModel):
    """One standard code a source code maps to (``equivalence`` defaults to equivalent)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str | None = None
    display: str | None = None
    equivalence: Equivalence = "equivalent"
    comment: str | None = None


class ConceptMapElement(BaseModel):
    """One source code (or local label) and its targets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(min_length=1)
    display: str | None = None
    target: tuple[ConceptMapTarget, ...] = ()


class ConceptMapGroup(BaseModel):
    """Source codes from one system mapped into one target system."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str | None = None
    sourceVersion: str | None = None  # noqa: N815 (FHIR element name)
    target: str = Field(min_length=1)
    targetVersion: str | None = None  # noqa: N815
    element: tuple[ConceptMapElement, ...] = Field(min_length=1)


class ConceptMap(BaseModel):
    """A FHIR R4 ConceptMap (metadata such as ``url`` or ``status`` is kept but unused)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    resourceType: Literal["ConceptMap"] = "ConceptMap"  # noqa: N815
    name: str | None = None
    group: tuple[ConceptMapGroup, ...] = Field(min_length=1)


def normalize_label(text: str) -> str:
    """Canonical form of a code or label for matching: NFC, case-folded, single spaces.

    Examples
    --------
    >>> normalize_label("  Diabète   de type 2 ")
    'diabète de type 2'
    >>> normalize_label("Männlich") == normalize_label("MÄNNLICH")
    True
    """
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


@dataclass(frozen=True)
class Translation:
    """The result of translating one source code: a coding, or why there is none."""

    source_code: str
    coding: Coding | None
    equivalence: str | None
    reason: str = ""


class Translator:
    """Translate local codes through a ConceptMap, accepting the given equivalences.

    Parameters
    ----------
    concept_map
        The map.
    accepted
        Equivalence values that count as a mapping (:data:`DEFAULT_ACCEPTED` by default).
    source_system
        When given, only groups whose ``source`` is this system are used.

    Examples
    --------
    >>> cm = ConceptMap.model_validate({"group": [{"target": "http://snomed.info/sct",
    ...     "element": [{"code": "HTN", "target": [{"code": "38341003"}]},
    ...                 {"code": "OBES", "target": [{"code": "414916001",
    ...                                              "equivalence": "narrower"}]}]}]})
    >>> Translator(cm).translate("htn").coding.code
    '38341003'
    >>> Translator(cm).translate("OBES").reason
    "'OBES' maps only with equivalence narrower, which this mapping does not accept"
    """

    def __init__(
        self,
        concept_map: ConceptMap,
        *,
        accepted: frozenset[str] = DEFAULT_ACCEPTED,
        source_system: str | None = None,
    ) -> None:
        index: dict[str, list[tuple[str, ConceptMapTarget]]] = {}
        for group in concept_map.group:
            if source_system is not None and group.source != source_system:
                continue
            for element in group.element:
                index.setdefault(normalize_label(element.code), []).extend(
                    (group.target, target) for target in element.target
                )
        self._index = MappingProxyType(index)
        self._accepted = accepted - _NEVER

    def translate(self, code: str) -> Translation:
        """Translate ``code``; the first accepted target wins (FHIR lists best first)."""
        candidates = self._index.get(normalize_label(code))
        if candidates is None:
            return Translation(code, None, None, f"{code!r} is not in the concept map")
        for system, target in candidates:
            if target.equivalence in self._accepted and target.code:
                coding = Coding(system=system, code=target.code, display=target.display)
                return Translation(code, coding, target.equivalence)
        found: list[str] = sorted({t.equivalence for _, t in candidates}) or ["(no target)"]
        return Translation(
            code,
            None,
            None,
            f"{code!r} maps only with equivalence {', '.join(found)}, which this mapping "
            "does not accept",
        )

    def targets(self) -> tuple[Coding, ...]:
        """Every target coding the map can produce (for validating a mapping up front)."""
        seen: dict[tuple[str, str], Coding] = {}
        for candidates in self._index.values():
            for system, target in candidates:
                if target.code and target.equivalence in self._accepted:
                    seen.setdefault(
                        (system, target.code),
                        Coding(system=system, code=target.code, display=target.display),
                    )
        return tuple(seen.values())
