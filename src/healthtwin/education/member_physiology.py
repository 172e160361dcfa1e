"""What a virtual-cohort member's covariates mean for each responder's physiology.

A cohort draws demographics (age, sex, weight, height), comorbidities and, for members
with diabetes, a UVA/Padova glucose twin. These functions turn them into the parameters of
a responder, so that two members given the same actions run different courses:

**Circulation** (the ``sepsis`` responder, alias ``circulation``; calibrated for a 70-kg
adult with 70 mL/kg, i.e. 4.9 L, of blood):

- blood volume by Nadler's formula (Nadler, Hidalgo & Bloch, Surgery 51:224, 1962),
  ``BV = k1 h^3 + k2 w + k3`` litres (height ``h`` in m, weight ``w`` in kg; men
  0.3669, 0.03219, 0.6041; women 0.3561, 0.03308, 0.1833), as ``blood_volume_ml_per_kg``;
- body size: the responder's capacities scale with the blood volume ``s = BV / 4.9 L``
  (venous compliance and maximal cardiac output times ``s``, venous-return and systemic
  resistances divided by ``s``), so a larger adult has a larger output at the same
  pressures, and the same haemorrhage is a smaller share of the circulation;
- cardiac reserve declining with age: the maximal cardiac output falls with the maximal
  heart rate at an unchanged stroke volume (Fleg et al., J Appl Physiol 78:890, 1995), by
  Tanaka's age-predicted maximum ``208 - 0.7 age`` (Tanaka, Monahan & Seals, J Am Coll
  Cardiol 37:153, 2001) relative to a 40-year-old, as ``cardiac_reserve_factor``
  (comorbidities such as heart failure then multiply it).

**Anaesthesia** (:mod:`~healthtwin.education.responders.anaesthesia`):

- age, height and sex are the Schnider (propofol) and Minto (remifentanil) covariates
  (weight reaches the responder as ``weight_kg``, with lean body mass computed there);
- ``propofol_c50_scale = exp(-0.00635 (age - 35))``: the fall of the propofol BIS C50
  with age of Eleveld et al. (Br J Anaesth 120:942, 2018), relative to the young adults
  of Bouillon's response surface;
- ``map_drop_scale = (1 + 0.3 hypertension) (1 + 0.01 max(0, age - 50))``: older and
  hypertensive patients fall further after induction (Reich et al., Anesth Analg
  101:622, 2005, for the direction); a teaching calibration that gives the 1.6 the
  shipped case once set by hand for a hypertensive 72-year-old (1.59).

**Glucose**: the member's twin's ``Vmx`` and ``kp3`` over the Dalla Man 2007 reference
(computed when the cohort is generated, :mod:`healthtwin.education.patients`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from healthtwin.education.responders import canonical_kind
from healthtwin.errors import InvalidParameterError

__all__ = [
    "anaesthesia_covariates",
    "circulation_covariates",
    "covariate_parameters",
    "nadler_blood_volume_ml",
]

#: Nadler 1962 coefficients (L per m^3 of height cubed, L per kg, L) by sex.
_NADLER: Mapping[str, tuple[float, float, float]] = {
    "male": (0.3669, 0.03219, 0.6041),
    "female": (0.3561, 0.03308, 0.1833),
}
#: The circulation responder's reference: 70 kg at 70 mL/kg (its defaults).
_REFERENCE_BLOOD_VOLUME_ML = 4900.0
#: Tanaka 2001 age-predicted maximal heart rate, and the age its factor is 1 at.
_HR_MAX_INTERCEPT, _HR_MAX_SLOPE, _RESERVE_REFERENCE_AGE = 208.0, 0.7, 40.0
#: Eleveld 2018: propofol C50 falls by exp(-0.00635 (age - 35)).
_ELEVELD_C50_AGE_SLOPE, _ELEVELD_REFERENCE_AGE = 0.00635, 35.0
#: Teaching calibration of the post-induction fall (see the module docstring).
_MAP_DROP_HYPERTENSION, _MAP_DROP_PER_YEAR, _MAP_DROP_FROM_AGE = 0.3, 0.01, 50.0


def nadler_blood_volume_ml(
    height_cm: float, weight_kg: float, sex: Literal["female", "male"]
) -> float:
    """Total blood volume (mL) of an adult by Nadler's formula.

    Parameters
    ----------
    height_cm, weight_kg
        Height (cm) and body weight (kg), both positive.
    sex
        ``"female"`` or ``"male"`` (the formula's coefficients differ).

    Returns
    -------
    float
        Blood volume in mL.

    Raises
    ------
    InvalidParameterError
        For a height or weight that is not positive and finite.

    Examples
    --------
    >>> round(nadler_blood_volume_ml(175.0, 70.0, "male"))
    4824
    >>> round(nadler_blood_volume_ml(164.0, 60.0, "female"))
    3739
    """
    if not (
        math.isfinite(height_cm) and height_cm > 0 and math.isfinite(weight_kg) and weight_kg > 0
    ):
        raise InvalidParameterError(
            f"height_cm and weight_kg must be positive and finite, got {height_cm!r} and "
            f"{weight_kg!r}"
        )
    k_height, k_weight, k_const = _NADLER[sex]
    height_m = height_cm / 100.0
    return 1000.0 * (k_height * height_m**3 + k_weight * weight_kg + k_const)


def circulation_covariates(
    age_years: float, sex: Literal["female", "male"], weight_kg: float, height_cm: float
) -> dict[str, float]:
    """Circulation-responder parameters for an adult of this age, sex and size.

    Returns
    -------
    dict
        ``blood_volume_ml_per_kg``, the size-scaled ``venous_compliance_ml_per_mmhg``,
        ``cardiac_output_max_l_per_min``, ``venous_resistance_mmhg_min_per_l`` and
        ``baseline_svr_mmhg_min_per_l``, and the age's ``cardiac_reserve_factor``.

    Examples
    --------
    >>> p = circulation_covariates(40.0, "male", 70.0, 175.0)
    >>> round(p["blood_volume_ml_per_kg"], 1), p["cardiac_reserve_factor"]
    (68.9, 1.0)
    >>> round(circulation_covariates(80.0, "male", 70.0, 175.0)["cardiac_reserve_factor"], 3)
    0.844
    """
    from healthtwin.education.responders.sepsis import SEPSIS_DEFAULTS

    volume_ml = nadler_blood_volume_ml(height_cm, weight_kg, sex)
    size = volume_ml / _REFERENCE_BLOOD_VOLUME_ML
    hr_max = _HR_MAX_INTERCEPT - _HR_MAX_SLOPE * age_years
    hr_max_reference = _HR_MAX_INTERCEPT - _HR_MAX_SLOPE * _RESERVE_REFERENCE_AGE
    return {
        "blood_volume_ml_per_kg": volume_ml / weight_kg,
        "venous_compliance_ml_per_mmhg": SEPSIS_DEFAULTS["venous_compliance_ml_per_mmhg"] * size,
        "cardiac_output_max_l_per_min": SEPSIS_DEFAULTS["cardiac_output_max_l_per_min"] * size,
        "venous_resistance_mmhg_min_per_l": SEPSIS_DEFAULTS["venous_resistance_mmhg_min_per_l"]
        / size,
        "baseline_svr_mmhg_min_per_l": SEPSIS_DEFAULTS["baseline_svr_mmhg_min_per_l"] / size,
        "cardiac_reserve_factor": hr_max / hr_max_reference,
    }


def anaesthesia_covariates(
    age_years: float, sex: Literal["female", "male"], height_cm: float, hypertension: bool
) -> dict[str, float]:
    """Anaesthesia-responder parameters for a patient of this age, sex, height and history.

    Returns
    -------
    dict
        ``age_years``, ``height_cm`` and ``male`` (Schnider/Minto covariates),
        ``propofol_c50_scale`` (Eleveld's age effect) and ``map_drop_scale``.

    Examples
    --------
    >>> p = anaesthesia_covariates(72.0, "male", 172.0, hypertension=True)
    >>> round(p["propofol_c50_scale"], 2), round(p["map_drop_scale"], 2), p["male"]
    (0.79, 1.59, 1.0)
    >>> anaesthesia_covariates(35.0, "female", 165.0, hypertension=False)["map_drop_scale"]
    1.0
    """
    older = max(0.0, age_years - _MAP_DROP_FROM_AGE)
    return {
        "age_years": age_years,
        "height_cm": height_cm,
        "male": 1.0 if sex == "male" else 0.0,
        "propofol_c50_scale": math.exp(
            -_ELEVELD_C50_AGE_SLOPE * (age_years - _ELEVELD_REFERENCE_AGE)
        ),
        "map_drop_scale": (1.0 + _MAP_DROP_HYPERTENSION * float(hypertension))
        * (1.0 + _MAP_DROP_PER_YEAR * older),
    }


def covariate_parameters(
    kind: str,
    age_years: float,
    sex: Literal["female", "male"],
    weight_kg: float,
    height_cm: float,
    hypertension: bool,
) -> dict[str, float]:
    """The covariate-derived parameters of responder ``kind`` (an alias counts as its kind);
    empty for a responder without covariates here (glucose: its twin factors come with the
    member).

    Examples
    --------
    >>> sorted(covariate_parameters("circulation", 50.0, "female", 60.0, 165.0, False))[:2]
    ['baseline_svr_mmhg_min_per_l', 'blood_volume_ml_per_kg']
    >>> covariate_parameters("glucose", 50.0, "female", 60.0, 165.0, False)
    {}
    """
    canonical = canonical_kind(kind)
    if canonical == "sepsis":
        return circulation_covariates(age_years, sex, weight_kg, height_cm)
    if canonical == "anaesthesia":
        return anaesthesia_covariates(age_years, sex, height_cm, hypertension)
    return {}
