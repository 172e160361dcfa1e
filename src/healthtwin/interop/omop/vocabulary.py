"""The OMOP concepts healthtwin reads and writes: a verified subset shipped in the package.

OMOP rows hold integer ``concept_id`` values from the OHDSI Standardized Vocabularies
(downloaded from Athena under licence terms per vocabulary). healthtwin ships only the few
concepts its records use, each checked against a public reference listed, id by id, in
``healthtwin/interop/data/README.md``; codes outside the subset map to concept 0 ("No
matching concept") with the source code kept, the OMOP convention for unmapped data.

The Type Concepts (the provenance of a row) are rows of the file like any other concept, and
also constants here, because every exported row needs one whatever its codes map to.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from healthtwin.errors import InvalidInputError
from healthtwin.interop.codes import LOINC, RXNORM, SNOMED, UCUM
from healthtwin.interop.records import Coding

__all__ = [
    "GENDER_CONCEPTS",
    "NO_MATCHING_CONCEPT",
    "SYSTEM_BY_VOCABULARY",
    "TYPE_EHR",
    "TYPE_EHR_ADMINISTRATION",
    "TYPE_EHR_PRESCRIPTION",
    "UNMAPPED_SYSTEM",
    "VISIT_CONCEPTS",
    "Concept",
    "OmopVocabulary",
    "load_vocabulary",
]

#: concept_id 0, "No matching concept": the code is kept in the ``*_source_value`` column.
NO_MATCHING_CONCEPT = 0
#: Type Concept "EHR" (HL7 FHIR-to-OMOP IG maps every clinical row of an EHR to it).
TYPE_EHR = 32817
#: Type Concept "EHR administration record": a drug given (MedicationAdministration).
TYPE_EHR_ADMINISTRATION = 32818
#: Type Concept "EHR prescription": a drug ordered (MedicationRequest).
TYPE_EHR_PRESCRIPTION = 32838
#: Local Type Concepts of synthetic records (OHDSI custom concepts: ids above
#: 2,000,000,000 are reserved for locally defined concepts): record, prescription,
#: administration; written by :mod:`healthtwin.synthetic.omop_output`.
SYNTHETIC_RECORD_TYPE = 2_000_000_001
SYNTHETIC_PRESCRIPTION_TYPE = 2_000_000_002
SYNTHETIC_ADMINISTRATION_TYPE = 2_000_000_003
#: Prefix of a synthetic event row's ``*_source_value``.
SYNTHETIC_SOURCE_PREFIX = "synthetic-"
#: Our gender codes (FHIR AdministrativeGender) with a standard OMOP Gender concept.
GENDER_CONCEPTS: Mapping[str, int] = {"male": 8507, "female": 8532}
#: v3 ActCode encounter classes with a standard OMOP Visit concept (FHIR-to-OMOP IG).
VISIT_CONCEPTS: Mapping[str, int] = {"IMP": 9201, "AMB": 9202, "EMER": 9203}
#: OMOP ``vocabulary_id`` -> code-system URI used in our records.
SYSTEM_BY_VOCABULARY: Mapping[str, str] = {
    "LOINC": LOINC,
    "SNOMED": SNOMED,
    "RxNorm": RXNORM,
    "UCUM": UCUM,
    "ICD10": "http://hl7.org/fhir/sid/icd-10",
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
}
#: System given to a code read back from a ``*_source_value`` whose system is unknown.
UNMAPPED_SYSTEM = "urn:healthtwin:omop:source-value"
_VOCABULARY_BY_SYSTEM = {uri: vocabulary for vocabulary, uri in SYSTEM_BY_VOCABULARY.items()}
_FILE = "omop_vocabulary.csv"


@dataclass(frozen=True, kw_only=True)
class Concept:
    """One OMOP concept (``concept_class``/``standard`` are None where not verified)."""

    concept_id: int
    name: str
    domain: str
    vocabulary: str
    code: str
    concept_class: str | None = None
    standard: str | None = None

    @property
    def system(self) -> str:
        """The code-system URI of the concept's vocabulary (a URN for unknown ones)."""
        return SYSTEM_BY_VOCABULARY.get(self.vocabulary, f"urn:omop:vocabulary:{self.vocabulary}")


@dataclass(frozen=True)
class OmopVocabulary:
    """Concept lookups by id and by (code system, code).

    Examples
    --------
    >>> vocabulary = load_vocabulary()
    >>> vocabulary.concept_id(Coding(system="http://loinc.org", code="8867-4"))
    3027018
    >>> vocabulary.unit_concept_id("mm[Hg]"), vocabulary.unit_concept_id("furlong")
    (8876, 0)
    """

    concepts: Mapping[int, Concept]
    _by_code: Mapping[tuple[str, str], Concept] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index = {(c.vocabulary, c.code): c for c in self.concepts.values() if c.concept_id}
        object.__setattr__(self, "_by_code", index)

    def lookup(self, system: str, code: str) -> Concept | None:
        """The concept of ``code`` in the system with URI ``system``, if shipped."""
        vocabulary = _VOCABULARY_BY_SYSTEM.get(system)
        return None if vocabulary is None else self._by_code.get((vocabulary, code))

    def concept_id(self, coding: Coding) -> int:
        """The concept id of ``coding``, or 0 (no matching concept)."""
        found = self.lookup(coding.system, coding.code)
        return NO_MATCHING_CONCEPT if found is None else found.concept_id

    def unit_concept_id(self, ucum: str | None) -> int | None:
        """The UCUM unit concept of ``ucum`` (None for no unit, 0 for an unknown unit)."""
        return None if ucum is None else self.concept_id(Coding(system=UCUM, code=ucum))

    def coding(self, concept_id: int | None) -> Coding | None:
        """The code of a known, non-zero concept as a :class:`Coding` (display: its name)."""
        found = self.concepts.get(concept_id) if concept_id else None
        if found is None:
            return None
        return Coding(system=found.system, code=found.code, display=found.name)

    def with_concepts(self, extra: Iterable[Concept]) -> OmopVocabulary:
        """A vocabulary that also knows ``extra`` (shipped concepts win on a clash)."""
        merged = {c.concept_id: c for c in extra}
        merged.update(self.concepts)
        return OmopVocabulary(merged)


def parse_vocabulary(text: str) -> OmopVocabulary:
    r"""Parse the CSV subset format (header as in ``omop_vocabulary.csv``).

    Raises
    ------
    InvalidInputError
        If a row lacks a field or has a non-integer or duplicate ``concept_id``.

    Examples
    --------
    >>> text = (
    ...     "concept_id,concept_name,domain_id,vocabulary_id,concept_class_id,"
    ...     "standard_concept,concept_code\n8840,milligram per deciliter,Unit,UCUM,,,mg/dL\n"
    ... )
    >>> parse_vocabulary(text).unit_concept_id("mg/dL")
    8840
    """
    concepts: dict[int, Concept] = {}
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            concept = Concept(
                concept_id=int(row["concept_id"]),
                name=row["concept_name"],
                domain=row["domain_id"],
                vocabulary=row["vocabulary_id"],
                code=row["concept_code"],
                concept_class=row["concept_class_id"] or None,
                standard=row["standard_concept"] or None,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidInputError(
                f"vocabulary line {line} is malformed ({err!r}): {row}; every row needs "
                "concept_id (integer), concept_name, domain_id, vocabulary_id, "
                "concept_class_id, standard_concept and concept_code"
            ) from err
        if concept.concept_id in concepts:
            raise InvalidInputError(
                f"vocabulary line {line} repeats concept_id {concept.concept_id}; "
                "each concept may appear once"
            )
        concepts[concept.concept_id] = concept
    return OmopVocabulary(concepts)


@cache
def load_vocabulary() -> OmopVocabulary:
    """The concept subset shipped with healthtwin (read once, then cached).

    Examples
    --------
    >>> load_vocabulary().concepts[8532].name
    'FEMALE'
    """
    text = resources.files("healthtwin.interop").joinpath("data").joinpath(_FILE).read_text("utf-8")
    return parse_vocabulary(text)
