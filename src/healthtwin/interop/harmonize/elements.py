"""The vocabulary of a mapping: the FHIR elements a column can fill, and YAML paths.

Columns name the FHIR R4 element they fill (``Patient.birthDate``); the record field each
lands in is given beside it. Record-field names are accepted as aliases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

__all__ = [
    "ALIASES",
    "CODE",
    "CODED_ELEMENTS",
    "CONDITION",
    "DATE_ELEMENTS",
    "DOSE",
    "ELEMENTS",
    "GENDERS",
    "GLUCOSE_CODES",
    "GLUCOSE_MOLAR_MASS",
    "MEDICATION",
    "ONSET",
    "PATIENT_ID",
    "TIME",
    "TRANSLATED_ELEMENTS",
    "UNIT",
    "VALUE",
    "yaml_path",
]

PATIENT_ID = "Patient.id"
TIME = "Observation.effectiveDateTime"
VALUE = "Observation.valueQuantity.value"
UNIT = "Observation.valueQuantity.unit"
CODE = "Observation.code"
CONDITION = "Condition.code"
ONSET = "Condition.onsetDateTime"
MEDICATION = "MedicationAdministration.medicationCodeableConcept"
DOSE = "MedicationAdministration.dosage.dose.value"

#: The FHIR elements a column can fill, with the record field each lands in.
ELEMENTS: Mapping[str, str] = MappingProxyType(
    {
        PATIENT_ID: "PatientRecord.id (required; rows are grouped by it)",
        "Patient.identifier.value": "PatientRecord.identifiers (system from 'system')",
        "Patient.name.family": "PatientRecord.family",
        "Patient.name.given": "PatientRecord.given (split on spaces)",
        "Patient.birthDate": "PatientRecord.birth_date",
        "Patient.gender": "PatientRecord.gender (translated by 'values')",
        "Patient.address.country": "PatientRecord.country (ISO 3166-1 alpha-2, via 'values')",
        "Encounter.id": "encounter_id of the row's records",
        TIME: "time of the row's observations and medications",
        CODE: "long layout: the local code of the row's observation",
        VALUE: "an observation value (wide layout: one column per vital)",
        UNIT: "long layout: the unit of the row's value",
        CONDITION: "ConditionRecord.code (through a concept map)",
        ONSET: "ConditionRecord.onset",
        MEDICATION: "MedicationRecord.medication (through a concept map)",
        DOSE: "MedicationRecord.dose ('unit' needed)",
    }
)
#: Record-field names accepted in place of the FHIR paths.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "patient_id": PATIENT_ID,
        "identifier": "Patient.identifier.value",
        "family": "Patient.name.family",
        "given": "Patient.name.given",
        "birth_date": "Patient.birthDate",
        "gender": "Patient.gender",
        "country": "Patient.address.country",
        "encounter_id": "Encounter.id",
        "effective": TIME,
        "code": CODE,
        "value": VALUE,
        "unit": UNIT,
        "condition": CONDITION,
        "onset": ONSET,
        "medication": MEDICATION,
        "dose": DOSE,
    }
)
GENDERS: frozenset[str] = frozenset({"male", "female", "other", "unknown"})
DATE_ELEMENTS: frozenset[str] = frozenset({"Patient.birthDate", TIME, ONSET})
CODED_ELEMENTS: frozenset[str] = frozenset({CODE, CONDITION, MEDICATION})
#: Elements with values translated by a column's ``values``.
TRANSLATED_ELEMENTS: frozenset[str] = frozenset({"Patient.gender", "Patient.address.country"})
#: Glucose is the analyte exports report both as mass and as substance concentration
#: (mg/dL in the US, mmol/L in most of Europe); its molar mass is 180.156 g/mol.
GLUCOSE_MOLAR_MASS = 180.156
GLUCOSE_CODES: frozenset[str] = frozenset(
    {"2345-7", "15074-8", "105272-9", "99504-3", "14749-6", "2339-0"}
)


def yaml_path(location: Sequence[str | int]) -> str:
    """Write a location in a YAML document as a dotted path.

    Examples
    --------
    >>> yaml_path(("columns", "temp", "unit"))
    'columns.temp.unit'
    >>> yaml_path(("columns", "Glukose (mmol/l)", "unit"))
    "columns['Glukose (mmol/l)'].unit"
    >>> yaml_path(("concept_maps", "dx", "group", 0, "element", 2))
    'concept_maps.dx.group[0].element[2]'
    """
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.replace("_", "a").isalnum():
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text
