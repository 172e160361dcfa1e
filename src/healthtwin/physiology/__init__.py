"""Patient physiology: mechanistic models of one patient, batched over members.

Every model advances an ensemble of members (patients, or ensemble members of one patient's
twin) over minutes, with parameters that travel with each member:

- UVA/Padova S2008 type-1 diabetes model (Dalla Man, Rizza & Cobelli, IEEE TBME
  54:1740, 2007; Kovatchev et al., JDST 3:44, 2009), simglucose-compatible, with the
  papers' nominal subject and simglucose's 30 virtual patients.
- Hovorka et al. 2004 (Physiol Meas 25:905) glucose-insulin model with its Table 1.
- Bergman minimal model (Am J Physiol 236:E667, 1979) in Fisher's type-1 form (IEEE TBME
  38:57, 1991).
- CGM sensor error (Breton & Kovatchev, JDST 2:853, 2008), insulin pump quantization and
  limits, and glycaemic metrics (TIR/TBR/TAR, GMI, LBGI/HBGI, GRI).
- The acute inflammatory response of Reynolds et al. (J Theor Biol 242:220, 2006).
- Pharmacokinetics and pharmacodynamics (:mod:`healthtwin.physiology.pkpd`): linear
  mammillary models solved exactly, effect site, sigmoid Emax and indirect responses
  (Dayneka, Garg & Jusko 1993), NONMEM-style dosing, Schnider, Marsh and Minto presets.
- Circulation (:mod:`healthtwin.physiology.circulation`): Windkessel models (Westerhof et
  al. 2009) and the closed-loop model of Smith et al. (Med Eng Phys 26:131, 2004).
- Vital signs as observations of a model (bedside sensors with the error their standards
  allow: ISO 81060-2 blood pressure, AAMI EC13 heart rate) and early-warning scores:
  NEWS2 (Royal College of Physicians 2017), qSOFA (Seymour et al., JAMA 2016; Singer et
  al., JAMA 2016) and MEWS (Subbe et al., QJM 2001).
"""

from __future__ import annotations

from healthtwin.physiology.bergman import BergmanMinimal, BergmanParameters, BergmanState
from healthtwin.physiology.cgm import CGM_PRESETS, CGMParams, CGMSensor, cgm_params
from healthtwin.physiology.hovorka import Hovorka, HovorkaParameters, HovorkaState
from healthtwin.physiology.inflammation import (
    Inflammation,
    InflammationParameters,
    InflammationState,
    Outcome,
    classify_outcome,
)
from healthtwin.physiology.metrics import GlycaemicMetrics, glycaemic_metrics
from healthtwin.physiology.nominal import nominal_patients, subject_at_basal
from healthtwin.physiology.patients import (
    cohort_names,
    load_patient,
    load_patients,
    patient_names,
)
from healthtwin.physiology.pump import PUMP_PRESETS, InsulinPump, PumpParams, pump_params
from healthtwin.physiology.registry import MODELS, make_model, model_names
from healthtwin.physiology.scores import (
    SUBBE_2001_MEWS,
    MewsTable,
    News2Band,
    mews,
    news2,
    qsofa,
    score_vitals,
    write_scores_csv,
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
from healthtwin.physiology.vital_signs import (
    VitalSensor,
    VitalSignsObservation,
    vital_signs_for,
    vitals_for_news2,
)
from healthtwin.physiology.vitals import Consciousness, Vitals, read_vitals_csv

__all__ = [
    "CGM_PRESETS",
    "MODELS",
    "PUMP_PRESETS",
    "STATE_NAMES",
    "SUBBE_2001_MEWS",
    "BergmanMinimal",
    "BergmanParameters",
    "BergmanState",
    "CGMParams",
    "CGMSensor",
    "CohortRun",
    "Consciousness",
    "GlycaemicMetrics",
    "Hovorka",
    "HovorkaParameters",
    "HovorkaState",
    "Inflammation",
    "InflammationParameters",
    "InflammationState",
    "InsulinPump",
    "Meal",
    "MewsTable",
    "News2Band",
    "Outcome",
    "PumpParams",
    "UvaPadova",
    "UvaPadovaParameters",
    "UvaPadovaPatient",
    "UvaPadovaState",
    "VitalSensor",
    "VitalSignsObservation",
    "Vitals",
    "cgm_params",
    "classify_outcome",
    "cohort_names",
    "glycaemic_metrics",
    "load_patient",
    "load_patients",
    "make_model",
    "meal_plan_inputs",
    "mews",
    "model_names",
    "news2",
    "nominal_patients",
    "patient_names",
    "pump_params",
    "qsofa",
    "read_vitals_csv",
    "score_vitals",
    "simulate_patients",
    "steady_state",
    "subject_at_basal",
    "uva_padova_rhs",
    "vital_signs_for",
    "vitals_for_news2",
    "write_scores_csv",
]
