"""Resource builders shared by the API tests."""

from __future__ import annotations

from typing import Any

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def patient(family: str, **extra: Any) -> dict[str, Any]:
    """A Patient with one official name."""
    return {"resourceType": "Patient", "name": [{"use": "official", "family": family}], **extra}


def heart_rate(patient_id: str, when: str, bpm: float, unit: str = "/min") -> dict[str, Any]:
    """A heart-rate Observation (LOINC 8867-4)."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": bpm, "unit": unit, "system": UCUM, "code": unit},
    }


def cgm(patient_id: str, when: str, mmol_l: float) -> dict[str, Any]:
    """A CGM glucose Observation (LOINC 105272-9, mmol/L)."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "105272-9"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": mmol_l, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"},
    }
