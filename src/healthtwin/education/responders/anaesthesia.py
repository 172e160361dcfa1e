"""Anaesthesia induction responder: propofol and remifentanil PK/PD, blood pressure, oxygen.

Drug disposition reuses :mod:`healthtwin.physiology.pkpd` unchanged: propofol by Schnider
et al. (Anesthesiology 88:1170, 1998; 90:1502, 1999) and remifentanil by Minto et al.
(Anesthesiology 86:10, 1997) for the patient's age, weight, height and sex, and BIS by the
propofol-remifentanil response surface of Bouillon et al. (Anesthesiology 100:1353, 2004).
All linear parts (both drugs, their effect sites, the blood-pressure effect sites and the
vasopressors) form one block-diagonal system ``dx/dt = A x + b`` stepped exactly with the
package's propagators (:func:`~healthtwin.physiology.pkpd.propagators`), so propofol
concentrations equal :class:`~healthtwin.physiology.pkpd.PkPdModel`'s to round-off.

Blood pressure (mmHg)::

    MAP = MAP0 - s * 30.3 * U / (1 + U)                      propofol (Jeleazcov 2015)
              + MAP0 * (-1) * f(Ce_r,map; 17.1, 4.56)         remifentanil (Standing 2010)
              + 35 E_phe / (E_phe + 100) + 25 E_eph / (E_eph + 8) + stimulus

``U = (C1/1.96)^4.77 + (C2/2.20)^8.49`` with two hemodynamic effect sites of propofol
(ke 0.054 and 0.0695 /min): the published maximal falls of systolic (54.8) and diastolic
(18.1 mmHg) pressure give ``18.1 + (54.8 - 18.1)/3 = 30.3`` mmHg of MAP (MAP = DAP + PP/3);
``s`` (``map_drop_scale``) makes older, hypertensive patients more sensitive. Values of
Jeleazcov et al. (Br J Anaesth 115:213, 2015) and Standing et al. (Paediatr Anaesth 20:7,
2010) as tabulated by python-anesthesia-simulator 1.0.0 (Aubouin-Pairault et al., 2023).
Phenylephrine (µg) and ephedrine (mg) act through an amount with a 5-min and 15-min
half-life and an effect site of 0.7 and 0.5 /min: a teaching calibration so that 100 µg
of phenylephrine raises MAP by about 10-15 mmHg for 5-10 minutes and 6 mg of ephedrine
by about 8-10 mmHg with a rise in heart rate, the usual clinical response.

Laryngoscopy and intubation add a pressor stimulus of 30 mmHg (half-life 3 min) times the
probability of *not* tolerating laryngoscopy from Bouillon's hierarchical model
(propofol C50 8.04 µg/mL, gamma 5.1; remifentanil C50 1.07 ng/mL, gamma 0.97, pre-opioid
intensity 1.05; PAS 1.0.0's tabulation).

Oxygen: one lumped store, the alveolar gas in the functional residual capacity plus the
oxygen bound to haemoglobin in the blood volume, in equilibrium with each other::

    S(P_A) = FRC P_A / 713 + BV * 1.34 Hb * SaO2(P_A - AaDO2)
    dS/dt  = v V_A (FiO2 - P_A / 713) - VO2

``SaO2`` by Severinghaus (J Appl Physiol 46:599, 1979); ``v`` is the fraction of normal
alveolar ventilation ``V_A``: spontaneous breathing falls with propofol and remifentanil
(``1 / (1 + U_resp^4)``, ``U_resp = Ce_p/3.0 + Ce_r/2.0``, a teaching calibration that gives
apnoea after a usual induction dose) and with neuromuscular block; bag-mask ventilation and
intubation give ``v = 1`` at FiO2 1. A healthy 70-kg adult with FRC 2.4 L, VO2 3.5
mL/kg/min and alveolar FO2 0.87 after pre-oxygenation reaches SaO2 90 % after about 8 min
of apnoea, the value of Benumof, Dagg & Benumof (Anesthesiology 87:979, 1997) from the
model of Farmery & Roe (Br J Anaesth 76:284, 1996); breathing room air it takes about
1 min. Simplifications: no CO2, no apnoeic mass-flow oxygenation, no shunt change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Final

import numpy as np
from scipy.linalg import block_diag

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.pkpd import (
    BOUILLON_2004_BIS,
    CompartmentLayout,
    Covariates,
    PkPdParameters,
    bis_response_surface,
    preset,
    propagators,
    system_matrix,
)
from healthtwin.physiology.pkpd.compartments import RATE_NAMES

__all__ = [
    "ANAESTHESIA_DEFAULTS",
    "AnaesthesiaResponder",
    "AnaesthesiaState",
    "draw_parameters",
    "oxygen_saturation_percent",
    "resolve_parameters",
]

#: Responder parameters and their defaults (the Schnider reference adult, healthy lungs).
ANAESTHESIA_DEFAULTS: Mapping[str, float] = MappingProxyType(
    {
        "age_years": 53.0,
        "weight_kg": 77.0,
        "height_cm": 177.0,
        "male": 1.0,  # 1 male, 0 female (covariate of Schnider and Minto)
        "baseline_map_mmhg": 90.0,
        "baseline_hr_per_min": 75.0,
        "pulse_pressure_mmhg": 45.0,
        "propofol_c50_scale": 1.0,  # multiplies Bouillon's propofol C50 for BIS
        "map_drop_scale": 1.0,  # multiplies Jeleazcov's propofol MAP fall
        "frc_ml_per_kg": 31.0,  # supine functional residual capacity
        "vo2_ml_per_kg_per_min": 3.5,
        "alveolar_ventilation_ml_per_kg_per_min": 60.0,
        "haemoglobin_g_per_dl": 14.0,
        "blood_volume_ml_per_kg": 70.0,
        "aa_gradient_mmhg": 10.0,
    }
)

#: Coefficients of variation (log-normal) used by :meth:`sample_parameters` unless the case
#: gives ``<name>_cv``.
_DEFAULT_CV: Final[Mapping[str, float]] = MappingProxyType(
    {
        "propofol_c50_scale": 0.2,
        "map_drop_scale": 0.3,
        "frc_ml_per_kg": 0.15,
        "vo2_ml_per_kg_per_min": 0.1,
        "baseline_map_mmhg": 0.05,
    }
)

_STEP_MIN = 0.1  # nonlinear (oxygen) sub-step; the linear part is exact
_P_ATM_DRY_MMHG = 713.0  # 760 - 47 mmHg water vapour at 37 degC
_HB_O2_ML_PER_G = 1.34

# Columns of the block-diagonal linear state.
_PROP = slice(0, 4)  # propofol central, peripheral1, peripheral2 (mg), effect site (mg/L)
_PROP_MAP = (4, 5)  # propofol hemodynamic effect sites (mg/L)
_REMI = slice(6, 10)  # remifentanil (ug, ug/L)
_REMI_MAP = 10
_PHE, _PHE_E, _EPH, _EPH_E, _STIM = 11, 12, 13, 14, 15
_SIZE = 16

_JELEAZCOV_KE_PER_MIN = (0.054, 0.0695)
_JELEAZCOV_C50_UG_ML = (1.96, 2.20)
_JELEAZCOV_GAMMA = (4.77, 8.49)
_JELEAZCOV_MAP_FALL_MMHG = 18.1 + (54.8 - 18.1) / 3.0
_STANDING_KE_PER_MIN, _STANDING_C50_NG_ML, _STANDING_GAMMA = 0.81, 17.1, 4.56
_TOL = {"c50p": 8.04, "c50r": 1.07, "gamma_r": 0.97, "gamma_p": 5.1, "pre": 1.05}
_STIMULUS_MMHG = {"laryngoscopy": 30.0, "surgical_incision": 20.0}

_EFFECTS = (
    "preoxygenate",
    "room_air",
    "propofol_bolus",
    "propofol_infusion",
    "remifentanil_bolus",
    "remifentanil_infusion",
    "bag_mask_ventilation",
    "intubate",
    "neuromuscular_blocker",
    "phenylephrine_bolus",
    "ephedrine_bolus",
    "none",
)
_NMB_ONSET_MIN = {"rocuronium": 0.6, "suxamethonium": 0.35}
_SUX_RECOVERY_START_MIN, _SUX_RECOVERY_TAU_MIN = 7.0, 1.5


def oxygen_saturation_percent(po2_mmhg: float) -> float:
    """Haemoglobin saturation (%) at an oxygen tension by Severinghaus (1979).

    Examples
    --------
    >>> round(oxygen_saturation_percent(100.0), 1), round(oxygen_saturation_percent(27.0), 1)
    (97.7, 50.4)
    """
    p = max(po2_mmhg, 1e-3)
    return 100.0 / (23400.0 / (p**3 + 150.0 * p) + 1.0)


def resolve_parameters(
    parameters: Mapping[str, float], defaults: Mapping[str, float], kind: str
) -> dict[str, float]:
    """``defaults`` overridden by ``parameters``; ``<name>_cv`` keys are allowed and kept.

    Raises
    ------
    InvalidParameterError
        For an unknown name or a value that is not a finite number.

    Examples
    --------
    >>> resolve_parameters({"a": 2}, {"a": 1.0, "b": 3.0}, "demo")
    {'a': 2.0, 'b': 3.0}
    >>> resolve_parameters({"c": 1}, {"a": 1.0}, "demo")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidParameterError: unknown demo parameter 'c'; valid names: a ...
    """
    out = dict(defaults)
    for name, value in parameters.items():
        base = name.removesuffix("_cv")
        if base not in defaults:
            raise InvalidParameterError(
                f"unknown {kind} parameter {name!r}; valid names: {', '.join(defaults)} "
                "(each may also carry '<name>_cv', a coefficient of variation)"
            )
        try:
            number = float(value)
        except (TypeError, ValueError) as err:
            raise InvalidParameterError(
                f"{kind} parameter {name!r} must be a number, got {value!r}"
            ) from err
        if not math.isfinite(number) or (name.endswith("_cv") and number < 0):
            raise InvalidParameterError(
                f"{kind} parameter {name!r} must be finite (and >= 0 for a _cv), got {value!r}"
            )
        out[name] = number
    return out


def draw_parameters(
    parameters: Mapping[str, float],
    defaults: Mapping[str, float],
    default_cv: Mapping[str, float],
    kind: str,
    rng: np.random.Generator,
) -> dict[str, float]:
    """One patient: each parameter with a CV drawn log-normally with the given value as mean.

    The CV is ``<name>_cv`` from the case, else ``default_cv``; draws are made in the fixed
    order of ``defaults`` so that the same generator gives the same patient.

    Examples
    --------
    >>> p = draw_parameters({"a_cv": 0.0}, {"a": 2.0}, {}, "demo", np.random.default_rng(0))
    >>> p["a"]
    2.0
    """
    resolved = resolve_parameters(parameters, defaults, kind)
    out = dict(resolved)
    for name in defaults:
        cv = resolved.get(f"{name}_cv", default_cv.get(name, 0.0))
        z = float(rng.standard_normal())
        if cv > 0:
            sigma = math.sqrt(math.log1p(cv * cv))
            out[name] = resolved[name] * math.exp(sigma * z - 0.5 * sigma * sigma)
    return out


@dataclass(frozen=True)
class AnaesthesiaState:
    """One patient during induction (opaque to the engine; every step returns a new one).

    Attributes
    ----------
    t_min
        Time of this state (min).
    x
        Linear state, shape ``(16,)``: propofol amounts (mg) and effect site (mg/L), two
        propofol hemodynamic effect sites, remifentanil amounts (µg) and effect site (µg/L),
        its hemodynamic effect site, phenylephrine (µg) and ephedrine (mg) amounts and
        effect sites, pressor stimulus (mmHg).
    o2_store_ml
        Oxygen in the lungs plus haemoglobin (mL).
    propofol_mg_per_min, remifentanil_ug_per_min
        Infusion rates held until changed.
    airway
        ``"spontaneous"``, ``"mask"`` (bag-mask ventilation) or ``"intubated"``.
    fio2
        Inspired oxygen fraction while breathing spontaneously (0.21 room air, 1 on a mask).
    nmb_agent, nmb_start_min
        Neuromuscular blocker given (``""`` if none) and when.
    potassium_mmol_per_l, potassium_target_mmol_per_l
        Serum potassium and the value it is moving to.
    params
        Resolved parameters.
    a, phi, gamma
        System matrix ``(16, 16)`` and its propagators over one sub-step.
    store_grid_ml, pa_grid_mmhg
        The oxygen store as a function of alveolar PO2, shape ``(k,)`` each.
    """

    t_min: float
    x: FloatArray
    o2_store_ml: float
    propofol_mg_per_min: float
    remifentanil_ug_per_min: float
    airway: str
    fio2: float
    nmb_agent: str
    nmb_start_min: float
    potassium_mmol_per_l: float
    potassium_target_mmol_per_l: float
    params: Mapping[str, float]
    a: FloatArray
    phi: FloatArray
    gamma: FloatArray
    store_grid_ml: FloatArray
    pa_grid_mmhg: FloatArray


def _covariates(p: Mapping[str, float]) -> Covariates:
    return Covariates(
        age_yr=p["age_years"],
        weight_kg=p["weight_kg"],
        height_cm=p["height_cm"],
        sex="male" if p["male"] >= 0.5 else "female",
    )


def _rates(name: str, cov: Covariates) -> FloatArray:
    theta = preset(name).build(cov).to_matrix(1)
    names = PkPdParameters.names()
    return np.asarray(theta[:, [names.index(r) for r in RATE_NAMES]], dtype=np.float64)


def _system(p: Mapping[str, float]) -> tuple[FloatArray, float, float]:
    """The block-diagonal ``A`` (16, 16) and the propofol and remifentanil V1 (L)."""
    cov = _covariates(p)
    layout = CompartmentLayout(3)
    prop_rates, remi_rates = _rates("schnider", cov), _rates("minto", cov)
    prop = np.zeros((6, 6))
    prop[:4, :4] = system_matrix(layout, prop_rates)[0]
    remi = np.zeros((5, 5))
    remi[:4, :4] = system_matrix(layout, remi_rates)[0]
    v1_prop, v1_remi = float(prop_rates[0, 0]), float(remi_rates[0, 0])
    for row, ke in zip((4, 5), _JELEAZCOV_KE_PER_MIN, strict=True):
        prop[row, 0], prop[row, row] = ke / v1_prop, -ke
    remi[4, 0], remi[4, 4] = _STANDING_KE_PER_MIN / v1_remi, -_STANDING_KE_PER_MIN
    vaso = []
    for half_life_min, ke in ((5.0, 0.7), (15.0, 0.5)):
        k = math.log(2.0) / half_life_min
        # The effect amount follows the central amount with rate ke (an effect site in
        # amount units), so E = A at equilibrium.
        vaso.append(np.array([[-k, 0.0], [ke, -ke]]))
    stim = np.array([[-math.log(2.0) / 3.0]])
    a = np.asarray(block_diag(prop, remi, *vaso, stim), dtype=np.float64)
    return a, v1_prop, v1_remi


def _store_table(p: Mapping[str, float]) -> tuple[FloatArray, FloatArray]:
    weight = p["weight_kg"]
    frc_ml = p["frc_ml_per_kg"] * weight
    blood_ml = p["blood_volume_ml_per_kg"] * weight
    hb_capacity_ml = blood_ml / 100.0 * _HB_O2_ML_PER_G * p["haemoglobin_g_per_dl"]
    pa = np.linspace(0.0, 760.0, 3041)
    pao2 = np.maximum(pa - p["aa_gradient_mmhg"], 1e-3)
    sat = 1.0 / (23400.0 / (pao2**3 + 150.0 * pao2) + 1.0)
    store = frc_ml * pa / _P_ATM_DRY_MMHG + hb_capacity_ml * sat
    return np.asarray(store, dtype=np.float64), np.asarray(pa, dtype=np.float64)


def _fraction(value: float, name: str, lo: float, hi: float) -> float:
    if not lo <= value <= hi:
        raise InvalidInputError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return value


class AnaesthesiaResponder:
    """Induction of general anaesthesia in one patient (``patient.model: anaesthesia``).

    Effects (the case's ``effect: {type: ...}``; doses in the action's canonical unit):
    ``preoxygenate`` (face mask, FiO2 1), ``room_air``, ``propofol_bolus`` (mg),
    ``propofol_infusion`` (µg/kg/min; 0 stops), ``remifentanil_bolus`` (µg),
    ``remifentanil_infusion`` (µg/kg/min), ``bag_mask_ventilation``, ``intubate``
    (laryngoscopy stimulus, then ventilation at FiO2 1), ``neuromuscular_blocker``
    (``agent: rocuronium | suxamethonium``; suxamethonium raises potassium by 0.5 mmol/L),
    ``phenylephrine_bolus`` (µg), ``ephedrine_bolus`` (mg), ``none``. Timeline events:
    ``laryngoscopy``, ``surgical_incision`` (pressor stimuli attenuated by the drugs).

    Examples
    --------
    >>> r = AnaesthesiaResponder()
    >>> rng = np.random.default_rng(0)
    >>> s = r.initial({"age_years": 70, "weight_kg": 70, "height_cm": 170}, {}, rng)
    >>> s = r.apply(s, {"type": "propofol_bolus"}, 100.0, 0.0)
    >>> m = r.measure(r.advance(s, 0.0, 2.0, rng))
    >>> m["bis"] < 60, m["resp_rate_per_min"] < 5
    (True, True)
    """

    kind = "anaesthesia"
    measures: tuple[str, ...] = (
        "bis",
        "map_mmhg",
        "sbp_mmhg",
        "dbp_mmhg",
        "hr_per_min",
        "spo2_percent",
        "resp_rate_per_min",
        "potassium_mmol_per_l",
        "neuromuscular_block_percent",
    )

    # -- protocol -----------------------------------------------------------------------
    def initial(
        self,
        parameters: Mapping[str, float],
        initial_state: Mapping[str, Any],
        rng: np.random.Generator,
    ) -> AnaesthesiaState:
        """An awake patient breathing room air (or ``fio2`` from ``initial_state``)."""
        p = resolve_parameters(parameters, ANAESTHESIA_DEFAULTS, self.kind)
        known = {"fio2", "potassium_mmol_per_l"}
        unknown = set(initial_state) - known
        if unknown:
            raise InvalidInputError(
                f"unknown anaesthesia initial_state keys {sorted(unknown)}; valid: {sorted(known)}"
            )
        a, _, _ = _system(p)
        phi, gamma = propagators(a[None], _STEP_MIN)
        store, pa = _store_table(p)
        fio2 = _fraction(float(initial_state.get("fio2", 0.21)), "fio2", 0.21, 1.0)
        potassium = float(initial_state.get("potassium_mmol_per_l", 4.2))
        state = AnaesthesiaState(
            t_min=0.0,
            x=np.zeros(_SIZE),
            o2_store_ml=0.0,
            propofol_mg_per_min=0.0,
            remifentanil_ug_per_min=0.0,
            airway="spontaneous",
            fio2=fio2,
            nmb_agent="",
            nmb_start_min=math.inf,
            potassium_mmol_per_l=potassium,
            potassium_target_mmol_per_l=potassium,
            params=MappingProxyType(p),
            a=a,
            phi=phi[0],
            gamma=gamma[0],
            store_grid_ml=store,
            pa_grid_mmhg=pa,
        )
        # Start at the breathing steady state: V_A (FiO2 - F_A) = VO2.
        va = p["alveolar_ventilation_ml_per_kg_per_min"] * p["weight_kg"]
        vo2 = p["vo2_ml_per_kg_per_min"] * p["weight_kg"]
        fa = max(fio2 - vo2 / va, 0.0)
        return replace(state, o2_store_ml=float(np.interp(fa * _P_ATM_DRY_MMHG, pa, store)))

    def apply(
        self, state: AnaesthesiaState, effect: Mapping[str, Any], dose: float | None, t_min: float
    ) -> AnaesthesiaState:
        """The state right after a learner action at ``t_min``."""
        kind = str(effect.get("type", ""))
        weight = state.params["weight_kg"]
        x = state.x.copy()
        if kind == "preoxygenate":
            return replace(state, fio2=1.0)
        if kind == "room_air":
            return replace(state, fio2=0.21)
        if kind == "propofol_bolus":
            x[_PROP.start] += _dose(dose, kind, 0.0, 1000.0)
            return replace(state, x=x)
        if kind == "propofol_infusion":
            rate = _dose(dose, kind, 0.0, 300.0) * weight / 1000.0
            return replace(state, propofol_mg_per_min=rate)
        if kind == "remifentanil_bolus":
            x[_REMI.start] += _dose(dose, kind, 0.0, 1000.0)
            return replace(state, x=x)
        if kind == "remifentanil_infusion":
            rate = _dose(dose, kind, 0.0, 2.0) * weight
            return replace(state, remifentanil_ug_per_min=rate)
        if kind == "bag_mask_ventilation":
            return replace(state, airway="intubated" if state.airway == "intubated" else "mask")
        if kind == "intubate":
            return replace(_stimulate(state, "laryngoscopy"), airway="intubated")
        if kind == "neuromuscular_blocker":
            return _block(state, str(effect.get("agent", "rocuronium")), t_min)
        if kind == "phenylephrine_bolus":
            x[_PHE] += _dose(dose, kind, 0.0, 2000.0)
            return replace(state, x=x)
        if kind == "ephedrine_bolus":
            x[_EPH] += _dose(dose, kind, 0.0, 100.0)
            return replace(state, x=x)
        if kind == "none":
            return state
        raise InvalidInputError(
            f"unknown anaesthesia effect type {kind!r}; valid types: {', '.join(_EFFECTS)}"
        )

    def event(
        self, state: AnaesthesiaState, event: Mapping[str, Any], t_min: float
    ) -> AnaesthesiaState:
        """A timeline event: ``laryngoscopy`` or ``surgical_incision`` (pressor stimuli)."""
        name = str(event.get("event", ""))
        if name not in _STIMULUS_MMHG:
            raise InvalidInputError(
                f"unknown anaesthesia event {name!r}; valid events: {', '.join(_STIMULUS_MMHG)}"
            )
        return _stimulate(state, name)

    def advance(
        self, state: AnaesthesiaState, t0_min: float, t1_min: float, rng: np.random.Generator
    ) -> AnaesthesiaState:
        """Step from ``t0_min`` to ``t1_min`` (linear part exact, oxygen by RK4 per 6 s)."""
        if t1_min < t0_min:
            raise InvalidInputError(f"cannot advance backwards from {t0_min} to {t1_min} min")
        t, s = t0_min, state
        while t1_min - t > 1e-9:
            h = min(_STEP_MIN, t1_min - t)
            s = _step(s, t, h)
            t += h
        return replace(s, t_min=t1_min)

    def measure(self, state: AnaesthesiaState) -> dict[str, float]:
        """BIS, pressures, heart rate, SpO2, respiratory rate, potassium and the
        neuromuscular block (percent of twitch suppression, for "awareness under paralysis")."""
        p, x = state.params, state.x
        ce_p, ce_r = float(x[3]), float(x[9])
        surface = replace(
            BOUILLON_2004_BIS,
            c50_propofol_mg_l=BOUILLON_2004_BIS.c50_propofol_mg_l * p["propofol_c50_scale"],
        )
        bis = float(bis_response_surface(ce_p, ce_r, surface)[()])
        spo2 = _spo2(state)
        mean = _map(state, spo2)
        pulse = p["pulse_pressure_mmhg"] * mean / p["baseline_map_mmhg"]
        return {
            "bis": bis,
            "map_mmhg": mean,
            "sbp_mmhg": mean + 2.0 * pulse / 3.0,
            "dbp_mmhg": mean - pulse / 3.0,
            "hr_per_min": _heart_rate(state, spo2),
            "spo2_percent": spo2,
            "resp_rate_per_min": _resp_rate(state),
            "potassium_mmol_per_l": state.potassium_mmol_per_l,
            "neuromuscular_block_percent": 100.0 * _paralysis(state, state.t_min),
        }

    @staticmethod
    def concentrations(state: AnaesthesiaState) -> dict[str, float]:
        """Drug concentrations (not measures: the engine's unit table lacks their units).

        Returns ``propofol_cp_ug_per_ml``, ``propofol_ce_ug_per_ml`` (plasma and effect
        site, µg/mL = mg/L) and ``remifentanil_cp_ng_per_ml``, ``remifentanil_ce_ng_per_ml``.
        """
        x = state.x
        return {
            "propofol_cp_ug_per_ml": float(x[0]) / _v1(state.a, 3, 0),
            "propofol_ce_ug_per_ml": float(x[3]),
            "remifentanil_cp_ng_per_ml": float(x[6]) / _v1(state.a, 9, 6),
            "remifentanil_ce_ng_per_ml": float(x[9]),
        }

    def dead(self, state: AnaesthesiaState) -> bool:
        """Severe hypoxaemia (SpO2 < 40 %) or circulatory collapse (MAP < 30 mmHg)."""
        spo2 = _spo2(state)
        return spo2 < 40.0 or _map(state, spo2) < 30.0

    def sample_parameters(
        self, parameters: Mapping[str, float], rng: np.random.Generator
    ) -> dict[str, float]:
        """One patient: drug sensitivity, lung volume, VO2 and baseline MAP drawn log-normally."""
        return draw_parameters(parameters, ANAESTHESIA_DEFAULTS, _DEFAULT_CV, self.kind, rng)


# -- kernels ------------------------------------------------------------------------------
def _dose(dose: float | None, kind: str, lo: float, hi: float) -> float:
    if dose is None:
        raise InvalidInputError(f"effect {kind!r} needs a dose; give one in the action")
    return _fraction(float(dose), f"dose of {kind}", lo, hi)


def _v1(a: FloatArray, effect_row: int, central: int) -> float:
    # The effect-site row holds ke0 / V1 in the central column and -ke0 on the diagonal.
    return float(-a[effect_row, effect_row] / a[effect_row, central])


def _tolerance(state: AnaesthesiaState) -> float:
    """Probability of tolerating laryngoscopy (Bouillon 2004 hierarchical model)."""
    ce_p, ce_r = max(float(state.x[3]), 0.0), max(float(state.x[9]), 0.0)
    t = _TOL
    post_opioid = t["pre"] * (1.0 - _hill(ce_r, t["c50r"] * t["pre"], t["gamma_r"]))
    return _hill(ce_p, t["c50p"] * post_opioid, t["gamma_p"])


def _hill(c: float, c50: float, gamma: float) -> float:
    if c <= 0.0:
        return 0.0
    r = (c / c50) ** gamma
    return float(r / (1.0 + r))


def _stimulate(state: AnaesthesiaState, name: str) -> AnaesthesiaState:
    x = state.x.copy()
    x[_STIM] += _STIMULUS_MMHG[name] * (1.0 - _tolerance(state))
    return replace(state, x=x)


def _block(state: AnaesthesiaState, agent: str, t_min: float) -> AnaesthesiaState:
    if agent not in _NMB_ONSET_MIN:
        raise InvalidInputError(
            f"unknown neuromuscular blocker {agent!r}; valid agents: {', '.join(_NMB_ONSET_MIN)}"
        )
    target = state.potassium_target_mmol_per_l + (0.5 if agent == "suxamethonium" else 0.0)
    return replace(state, nmb_agent=agent, nmb_start_min=t_min, potassium_target_mmol_per_l=target)


def _paralysis(state: AnaesthesiaState, t_min: float) -> float:
    if not state.nmb_agent or t_min < state.nmb_start_min:
        return 0.0
    since = t_min - state.nmb_start_min
    level = 1.0 - math.exp(-since / _NMB_ONSET_MIN[state.nmb_agent])
    if state.nmb_agent == "suxamethonium" and since > _SUX_RECOVERY_START_MIN:
        level *= math.exp(-(since - _SUX_RECOVERY_START_MIN) / _SUX_RECOVERY_TAU_MIN)
    return level


def _ventilation(state: AnaesthesiaState, t_min: float) -> tuple[float, float]:
    """Fraction of normal alveolar ventilation and the inspired O2 fraction."""
    if state.airway in ("mask", "intubated"):
        return 1.0, 1.0
    u = max(float(state.x[3]), 0.0) / 3.0 + max(float(state.x[9]), 0.0) / 2.0
    drive = 1.0 / (1.0 + u**4)
    return drive * (1.0 - _paralysis(state, t_min)), state.fio2


def _alveolar_po2(state: AnaesthesiaState, store_ml: float) -> float:
    return float(np.interp(store_ml, state.store_grid_ml, state.pa_grid_mmhg))


def _spo2(state: AnaesthesiaState) -> float:
    pa = _alveolar_po2(state, state.o2_store_ml)
    return oxygen_saturation_percent(pa - state.params["aa_gradient_mmhg"])


def _step(state: AnaesthesiaState, t_min: float, h: float) -> AnaesthesiaState:
    p = state.params
    v, fio2 = _ventilation(state, t_min)
    va = v * p["alveolar_ventilation_ml_per_kg_per_min"] * p["weight_kg"]
    vo2 = p["vo2_ml_per_kg_per_min"] * p["weight_kg"]
    floor = float(state.store_grid_ml[4])

    def rate(store: float) -> float:
        return va * (fio2 - _alveolar_po2(state, store) / _P_ATM_DRY_MMHG) - vo2

    s0 = state.o2_store_ml
    k1 = rate(s0)
    k2 = rate(s0 + 0.5 * h * k1)
    k3 = rate(s0 + 0.5 * h * k2)
    k4 = rate(s0 + h * k3)
    store = max(s0 + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0, floor)
    b = np.zeros(_SIZE)
    b[_PROP.start] = state.propofol_mg_per_min
    b[_REMI.start] = state.remifentanil_ug_per_min
    if abs(h - _STEP_MIN) < 1e-12:
        phi, gamma = state.phi, state.gamma
    else:
        phis, gammas = propagators(state.a[None], h)
        phi, gamma = phis[0], gammas[0]
    x = phi @ state.x + gamma @ b
    k_target = state.potassium_target_mmol_per_l
    potassium = k_target + (state.potassium_mmol_per_l - k_target) * math.exp(-h / 2.0)
    return replace(state, x=x, o2_store_ml=store, potassium_mmol_per_l=potassium)


def _map(state: AnaesthesiaState, spo2: float) -> float:
    p, x = state.params, state.x
    u = sum(
        (max(float(x[i]), 0.0) / c50) ** g
        for i, c50, g in zip(_PROP_MAP, _JELEAZCOV_C50_UG_ML, _JELEAZCOV_GAMMA, strict=True)
    )
    propofol = -p["map_drop_scale"] * _JELEAZCOV_MAP_FALL_MMHG * u / (1.0 + u)
    remi = -p["baseline_map_mmhg"] * _hill(
        float(x[_REMI_MAP]), _STANDING_C50_NG_ML, _STANDING_GAMMA
    )
    phe, eph = max(float(x[_PHE_E]), 0.0), max(float(x[_EPH_E]), 0.0)
    pressors = 35.0 * phe / (phe + 100.0) + 25.0 * eph / (eph + 8.0)
    hypoxia = -1.0 * max(0.0, 70.0 - spo2)
    mean = p["baseline_map_mmhg"] + propofol + remi + pressors + float(x[_STIM]) + hypoxia
    return float(max(mean, 0.0))


def _heart_rate(state: AnaesthesiaState, spo2: float) -> float:
    p, x = state.params, state.x
    eph = max(float(x[_EPH_E]), 0.0)
    bis_fall = 1.0 - float(bis_response_surface(float(x[3]), float(x[9]))[()]) / 97.4
    rate = (
        p["baseline_hr_per_min"] * (1.0 - 0.1 * bis_fall)
        + 15.0 * eph / (eph + 8.0)
        + 0.6 * float(x[_STIM])
        - 2.0 * max(0.0, 80.0 - spo2)
    )
    return max(rate, 0.0)


def _resp_rate(state: AnaesthesiaState) -> float:
    if state.airway in ("mask", "intubated"):
        return 12.0
    v, _ = _ventilation(state, state.t_min)
    return 14.0 * v
