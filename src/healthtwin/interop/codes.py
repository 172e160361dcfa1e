"""Code systems and the standard codes healthtwin reads and writes.

The LOINC codes of the vital signs and glucose measurements that the patient twins use,
each with its UCUM unit, following the FHIR R4 vital-signs profile
(http://hl7.org/fhir/R4/observation-vitalsigns.html) and LOINC's own names:

=====================  =========  ==========================================  ==========
name                   LOINC      LOINC long name (abridged)                  UCUM unit
=====================  =========  ==========================================  ==========
heart_rate             8867-4     Heart rate                                  /min
systolic_bp            8480-6     Systolic blood pressure (in panel 85354-9)  mm[Hg]
diastolic_bp           8462-4     Diastolic blood pressure (in 85354-9)       mm[Hg]
mean_arterial_pressure 8478-0     Mean blood pressure                         mm[Hg]
spo2                   59408-5    SpO2 by pulse oximetry (or 2708-6 SaO2)     %
respiratory_rate       9279-1     Respiratory rate                            /min
body_temperature       8310-5     Body temperature                            Cel
glucose_plasma         2345-7     Glucose [Mass/volume] in Serum or Plasma    mg/dL
glucose_blood_molar    15074-8    Glucose [Moles/volume] in Blood             mmol/L
cgm_glucose            105272-9   Glucose [Moles/volume] in Interstitial fl.  mmol/L
cgm_glucose_mass       99504-3    Glucose [Mass/volume] in Interstitial fl.   mg/dL
carbohydrate_intake    9059-7     Carbohydrate intake Estimated (or 9060-5)   g
=====================  =========  ==========================================  ==========
"""

from __future__ import annotations

from dataclasses import dataclass

from healthtwin.errors import UnknownModelError

__all__ = [
    "ACT_CODE",
    "BP_PANEL",
    "ICD10",
    "LOINC",
    "OBSERVATION_CATEGORY",
    "RXNORM",
    "SNOMED",
    "UCUM",
    "VITALS",
    "VITALS_BY_CODE",
    "Vital",
    "vital",
]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
#: The LOINC blood-pressure panel whose components are systolic and diastolic pressure.
BP_PANEL = "85354-9"


@dataclass(frozen=True)
class Vital:
    """One vital sign or glucose measurement: its LOINC code(s), unit and category.

    ``alternative_codes`` are other LOINC codes accepted on input for the same quantity
    (``2708-6`` arterial oxygen saturation for SpO2); output always uses ``code``.
    ``plausible`` is the range outside which a value is physiologically impossible (a
    data-quality error, not an alarm).
    """

    name: str
    code: str
    display: str
    unit: str
    category: str
    plausible: tuple[float, float]
    alternative_codes: tuple[str, ...] = ()


VITALS: dict[str, Vital] = {
    v.name: v
    for v in (
        Vital("heart_rate", "8867-4", "Heart rate", "/min", "vital-signs", (0.0, 350.0)),
        Vital(
            "systolic_bp", "8480-6", "Systolic blood pressure", "mm[Hg]", "vital-signs", (0, 350)
        ),
        Vital(
            "diastolic_bp", "8462-4", "Diastolic blood pressure", "mm[Hg]", "vital-signs", (0, 300)
        ),
        Vital(
            "mean_arterial_pressure",
            "8478-0",
            "Mean blood pressure",
            "mm[Hg]",
            "vital-signs",
            (0.0, 300.0),
        ),
        Vital(
            "spo2",
            "59408-5",
            "Oxygen saturation in Arterial blood by Pulse oximetry",
            "%",
            "vital-signs",
            (0.0, 100.0),
            ("2708-6",),
        ),
        Vital("respiratory_rate", "9279-1", "Respiratory rate", "/min", "vital-signs", (0, 120)),
        Vital("body_temperature", "8310-5", "Body temperature", "Cel", "vital-signs", (10, 47)),
        Vital(
            "glucose_plasma",
            "2345-7",
            "Glucose [Mass/volume] in Serum or Plasma",
            "mg/dL",
            "laboratory",
            (0.0, 3000.0),
        ),
        Vital(
            "glucose_blood_molar",
            "15074-8",
            "Glucose [Moles/volume] in Blood",
            "mmol/L",
            "laboratory",
            (0.0, 170.0),
        ),
        Vital(
            "cgm_glucose",
            "105272-9",
            "Glucose [Moles/volume] in Interstitial fluid",
            "mmol/L",
            "laboratory",
            (0.0, 170.0),
        ),
        Vital(
            "carbohydrate_intake",
            "9059-7",
            "Carbohydrate intake Estimated",
            "g",
            "survey",
            (0.0, 1000.0),
            ("9060-5",),
        ),
        Vital(
            "cgm_glucose_mass",
            "99504-3",
            "Glucose [Mass/volume] in Interstitial fluid",
            "mg/dL",
            "laboratory",
            (0.0, 3000.0),
        ),
    )
}
VITALS_BY_CODE: dict[str, Vital] = {
    code: v for v in VITALS.values() for code in (v.code, *v.alternative_codes)
}


def vital(name_or_code: str) -> Vital:
    """Look a vital up by our name (``"heart_rate"``) or by a LOINC code (``"8867-4"``).

    Raises
    ------
    UnknownModelError
        If neither matches (the message lists the names).
    """
    found = VITALS.get(name_or_code) or VITALS_BY_CODE.get(name_or_code)
    if found is None:
        raise UnknownModelError(
            f"unknown vital sign {name_or_code!r}; use one of {', '.join(VITALS)} or their "
            "LOINC codes"
        )
    return found
