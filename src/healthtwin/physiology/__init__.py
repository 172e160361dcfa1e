"""Patient physiology: mechanistic models of one patient, batched over members.

- UVA/Padova S2008 type-1 diabetes model (Dalla Man et al., IEEE TBME 2007; Kovatchev
  et al., JDST 2009), simglucose-compatible, with the papers' nominal subject and
  simglucose's 30 virtual patients.
"""

from __future__ import annotations

from healthtwin.physiology.nominal import nominal_patients, subject_at_basal
from healthtwin.physiology.patients import (
    cohort_names,
    load_patient,
    load_patients,
    patient_names,
)
from healthtwin.physiology.simulate import CohortRun, Meal, meal_plan_inputs, simulate_patients
from healthtwin.physiology.uva_padova import (
    STATE_NAMES,
    UvaPadova,
    UvaPadovaParameters,
    UvaPadovaPatient,
    UvaPadovaState,
    steady_state,
    uva_padova_rhs,
)

__all__ = [
    "STATE_NAMES",
    "CohortRun",
    "Meal",
    "UvaPadova",
    "UvaPadovaParameters",
    "UvaPadovaPatient",
    "UvaPadovaState",
    "cohort_names",
    "load_patient",
    "load_patients",
    "meal_plan_inputs",
    "nominal_patients",
    "patient_names",
    "simulate_patients",
    "steady_state",
    "subject_at_basal",
    "uva_padova_rhs",
]
