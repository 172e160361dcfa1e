"""Glucose responder: Hovorka 2004 glucose-insulin dynamics plus a DKA extension.

Glucose and insulin follow :func:`healthtwin.physiology.hovorka.hovorka_rhs` (Hovorka et
al., Physiol Meas 25:905-920, 2004, Table 1 parameters), with the inputs a ward or
emergency team gives added the way the Hovorka group's intravenous variants add them
(Hovorka et al., Am J Physiol Endocrinol Metab 282:E992-E1007, 2002): IV insulin enters
plasma insulin ``I`` directly (``+ u_iv / (VI BW)``), IV dextrose enters the accessible
glucose compartment ``Q1``, subcutaneous insulin enters ``S1`` and oral glucose or a meal
the gut ``D1`` (times the bioavailability ``AG``). One factor ``insulin_sensitivity_factor``
scales ``S_IT, S_ID, S_IE`` (the insulin resistance of ketoacidosis and stress), and
``acidosis_resistance_per_ph`` ``k`` scales them further by ``exp(-k max(7.4 - pH, 0))``:
metabolic acidosis impairs insulin action (DeFronzo & Beckles, Am J Physiol 236:E328,
1979), so sensitivity recovers as the ketoacidosis resolves. A patient from a virtual
cohort (:mod:`healthtwin.education.patients`) brings two more factors drawn with the
UVA/Padova twin: ``disposal_sensitivity_factor`` (the twin's ``Vmx`` over the Dalla Man
2007 reference, insulin-dependent glucose use) scales ``S_IT, S_ID`` and
``egp_sensitivity_factor`` (``kp3`` over its reference, insulin's suppression of hepatic
glucose output) scales ``S_IE``. ``insulin_clearance_factor`` scales Hovorka's plasma
insulin elimination ``ke`` (below 1 in chronic kidney disease, see
:mod:`healthtwin.education.comorbidities`).

Extension (semi-mechanistic, for diabetic ketoacidosis and severe hypoglycaemia):

- **Glucagon** 1 mg IM/SC: depot ``A`` (mg) absorbed at ``ka_glucagon`` into an effect
  compartment ``P`` cleared at ``ke_glucagon``; extra hepatic output
  ``gmax P / (P + p50)`` mmol/min scaled by ``glucagon_response_factor`` (low glycogen).
- **Ketones** (β-hydroxybutyrate ``B``, mmol/L): ``dB/dt = kB (Bmax (1 - E) - B)`` with
  the antilipolytic effect ``E = Ie / (Ie + ec50)`` of remote insulin ``Ie = x3 / S_IE``.
- **Bicarbonate**: ketoacids titrate bicarbonate, ``HCO3 = 24 - alpha (B - 0.1) + X``,
  where ``X`` is infused bicarbonate spread over ``0.5 BW`` litres and decaying; **pH** by
  Henderson-Hasselbalch, ``pH = 6.1 + log10(HCO3 / (0.0307 pCO2))``, with the expected
  respiratory compensation of Winter's formula ``pCO2 = 1.5 HCO3 + 8`` (Albert, Dell &
  Winters, Ann Intern Med 66:312, 1967).
- **Potassium**: serum K relaxes (``tau_k``) to ``Keq = 4.3 + 3 (7.4 - pH) +
  0.03 (G - 5.5) - 2 (Ek - 0.09) - deficit / 370`` plus infused K spread over the
  extracellular volume ``0.2 BW``: acidosis and hypertonicity move K out of cells, insulin
  (``Ek = Ie / (Ie + 100)``) moves it in, and each 370 mmol of body deficit lowers serum K by
  1 mmol/L (Sterns et al., Medicine 60:339, 1981: about 0.27 mmol/L per 100 mmol).
- **Fluids**: deficit ``F`` (L) grows with osmotic diuresis (renal glucose loss at
  300 mmol/L of urine) and insensible loss, shrinks with 0.9 % saline; it lowers the
  glomerular filtration fraction ``1 - F / (0.12 BW)`` (floor 0.2), which scales Hovorka's
  renal glucose clearance. Heart rate and blood pressure follow the deficit
  (``+8 /min`` and ``-4 mmHg`` per litre per 70 kg), hypoglycaemia adds an adrenergic
  tachycardia, acidosis Kussmaul breathing and neuroglycopenia lowers the GCS below
  3 mmol/L.

Rate constants of the extension (and the DKA case's ``insulin_sensitivity_factor`` 0.39
with ``acidosis_resistance_per_ph`` 16, ketone ceiling 7 mmol/L and clearance 0.3 /h) are
calibrated, with the nominal DKA patient of the shipped case, to the expected rates of
the Joint British Diabetes Societies guideline (JBDS-IP 02, The management of diabetic
ketoacidosis in adults, 2021, updated 2023): under a fixed-rate IV insulin infusion
(FRIII) of 0.1 U/kg/h with fluids, ketones fall by at least 0.5 mmol/L/h, bicarbonate
rises and glucose falls by about 3 mmol/L/h, potassium stays at 4.0-5.5 mmol/L with
replacement (``tests/validation/test_education_physiology.py`` checks these). They are
teaching-grade, not clinical-grade.

Death (the session ends): glucose below 1.5 mmol/L for 45 cumulative minutes, pH below
6.8, or potassium outside [2.0, 7.5] mmol/L.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.hovorka import (
    GLUCOSE_MG_PER_MMOL,
    HOVORKA_2004_TABLE1,
    HovorkaParameters,
    hovorka_rhs,
)

__all__ = ["AMOUNT_INPUTS", "GLUCOSE_MEASURES", "RATE_INPUTS", "GlucoseResponder", "GlucoseState"]

#: Inputs set as a rate (the dose is the new rate; 0 stops it).
RATE_INPUTS: Final = (
    "iv_insulin_rate_u_per_h",
    "sc_insulin_rate_u_per_h",
    "dextrose_rate_g_per_h",
    "saline_rate_ml_per_h",
    "potassium_rate_mmol_per_h",
)
#: Inputs given as an amount, at once or over ``over_min``.
AMOUNT_INPUTS: Final = (
    "iv_insulin_u",
    "sc_insulin_u",
    "iv_dextrose_g",
    "oral_glucose_g",
    "glucagon_mg",
    "saline_ml",
    "potassium_mmol",
    "bicarbonate_mmol",
)
GLUCOSE_MEASURES: Final = (
    "glucose_mmol_per_l",
    "ketones_mmol_per_l",
    "bicarbonate_mmol_per_l",
    "ph",
    "potassium_mmol_per_l",
    "hr_per_min",
    "map_mmhg",
    "sbp_mmhg",
    "resp_rate_per_min",
    "spo2_percent",
    "temp_c",
    "gcs",
    "urine_ml_per_h",
)
_EVENTS: Final = ("meal", "sc_insulin", "missed_insulin_dose", "fluid_loss", "note")

#: Defaults of the extension; a case's ``patient.parameters`` overrides any of them.
DEFAULTS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "weight_kg": 70.0,
        "basal_glucose_mmol_l": 6.0,
        "insulin_sensitivity_factor": 1.0,
        "disposal_sensitivity_factor": 1.0,
        "egp_sensitivity_factor": 1.0,
        "insulin_clearance_factor": 1.0,
        "acidosis_resistance_per_ph": 0.0,
        "egp_factor": 1.0,
        "ketone_ceiling_mmol_l": 0.2,
        "ketone_clearance_per_h": 0.3,
        "antilipolysis_ec50_mu_per_l": 10.0,
        "bicarbonate_per_ketone": 3.0,
        "tau_potassium_min": 60.0,
        "glucagon_response_factor": 1.0,
        "hr_base_per_min": 78.0,
        "map_base_mmhg": 90.0,
    }
)

_MU_PER_U = 1000.0
_MMOL_PER_G = 1000.0 / GLUCOSE_MG_PER_MMOL
_KA_GLUCAGON = 1.0 / 10.0  # 1/min: IM glucagon peaks at 10-20 min
_KE_GLUCAGON = 1.0 / 12.0  # 1/min: plasma half-life of glucagon about 8-18 min
_GMAX_GLUCAGON = 4.0  # mmol/min: maximal extra hepatic glucose output
_P50_GLUCAGON = 0.15  # mg in the effect compartment for half the maximal output
_URINE_GLUCOSE_MMOL_L = 300.0
_INSENSIBLE_L_PER_MIN = 0.03 / 60.0
_SEVERE_HYPO_MMOL_L = 1.5
_SEVERE_HYPO_DEATH_MIN = 45.0
_SUBSTEP_MIN = 0.5

# Indices of the extension states after Hovorka's ten.
_B, _F, _K, _A, _P, _X = range(10, 16)
_N = 16


@dataclass(frozen=True)
class GlucoseState:
    """One patient's state (opaque to the engine).

    ``y`` has shape ``(16,)``: Hovorka's ten states (``Q1, Q2, S1, S2, I, x1, x2, x3, D1,
    D2``) then ketones (mmol/L), fluid deficit (L), serum potassium (mmol/L), glucagon
    depot and effect compartment (mg), infused bicarbonate excess (mmol/L). ``theta`` is
    the Hovorka parameter row, shape ``(1, 17)``. ``rates`` maps each rate input to its
    value; ``infusions`` holds timed amounts as ``(input, per_min, start_min, end_min)``.
    """

    y: FloatArray
    theta: FloatArray
    params: Mapping[str, float]
    t_min: float
    rates: Mapping[str, float]
    infusions: tuple[tuple[str, float, float, float], ...]
    k_deficit_mmol: float
    severe_hypo_min: float


def _param(parameters: Mapping[str, float], name: str) -> float:
    return float(parameters.get(name, DEFAULTS[name]))


def _theta(p: Mapping[str, float]) -> FloatArray:
    f = _param(p, "insulin_sensitivity_factor")
    table = dict(HOVORKA_2004_TABLE1)
    table["SIT"] *= f * _param(p, "disposal_sensitivity_factor")
    table["SID"] *= f * _param(p, "disposal_sensitivity_factor")
    table["SIE"] *= f * _param(p, "egp_sensitivity_factor")
    table["ke"] *= _param(p, "insulin_clearance_factor")
    table["EGP0"] *= _param(p, "egp_factor")
    hp = HovorkaParameters(BW=_param(p, "weight_kg"), Gb=_param(p, "basal_glucose_mmol_l"), **table)
    return np.asarray(hp.to_matrix(1), dtype=np.float64)


_NAMES = HovorkaParameters.names()
_IX = {name: i for i, name in enumerate(_NAMES)}
_SI = [_IX["SIT"], _IX["SID"], _IX["SIE"]]


class GlucoseResponder:
    """Glucose, insulin, ketones, acid-base, potassium and fluids of one patient.

    Examples
    --------
    >>> r = GlucoseResponder()
    >>> rng = np.random.default_rng(0)
    >>> s = r.initial({"weight_kg": 70.0}, {"glucose_mmol_per_l": 2.5}, rng)
    >>> s = r.apply(s, {"input": "iv_dextrose_g", "over_min": 5}, 15.0, 0.0)
    >>> s = r.advance(s, 0.0, 10.0, rng)
    >>> r.measure(s)["glucose_mmol_per_l"] > 4.0
    True
    """

    kind = "glucose"
    measures: tuple[str, ...] = GLUCOSE_MEASURES

    def initial(
        self,
        parameters: Mapping[str, float],
        initial_state: Mapping[str, Any],
        rng: np.random.Generator,
    ) -> GlucoseState:
        """The patient at the case's start.

        ``initial_state`` keys: ``glucose_mmol_per_l`` (required),
        ``plasma_insulin_mu_per_l`` (default 10), ``sc_insulin_on_board_u``,
        ``sc_insulin_rate_u_per_h``, ``carbs_on_board_g``, ``ketones_mmol_per_l``
        (default 0.1), ``potassium_mmol_per_l`` (4.2), ``potassium_deficit_mmol`` (0),
        ``fluid_deficit_l`` (0).
        """
        unknown = set(parameters) - set(DEFAULTS) - {p for p in parameters if p.endswith("_cv")}
        if unknown:
            raise InvalidParameterError(
                f"unknown glucose responder parameters {sorted(unknown)}; valid ones are "
                f"{sorted(DEFAULTS)} (and <name>_cv for their spread)"
            )
        init = dict(initial_state)
        allowed = {
            "glucose_mmol_per_l", "plasma_insulin_mu_per_l", "sc_insulin_on_board_u",
            "sc_insulin_rate_u_per_h", "carbs_on_board_g", "ketones_mmol_per_l",
            "potassium_mmol_per_l", "potassium_deficit_mmol", "fluid_deficit_l",
        }  # fmt: skip
        bad = set(init) - allowed
        if bad or "glucose_mmol_per_l" not in init:
            raise InvalidInputError(
                f"glucose initial_state needs glucose_mmol_per_l and only keys of "
                f"{sorted(allowed)}; got {sorted(init)}"
            )
        vals = {k: _number(k, v) for k, v in init.items()}
        theta = _theta(parameters)
        c = theta[0]
        bw = c[_IX["BW"]]
        g = vals["glucose_mmol_per_l"]
        ins = vals.get("plasma_insulin_mu_per_l", 10.0)
        x1, x2, x3 = c[_IX["SIT"]] * ins, c[_IX["SID"]] * ins, c[_IX["SIE"]] * ins
        q1 = g * c[_IX["VG"]] * bw
        sc_rate = vals.get("sc_insulin_rate_u_per_h", 0.0) * _MU_PER_U / 60.0
        s_basal = sc_rate * c[_IX["tmax_i"]]
        iob = vals.get("sc_insulin_on_board_u", 0.0) * _MU_PER_U / 2.0
        y = np.zeros(_N)
        y[:10] = [
            q1, x1 * q1 / (c[_IX["k12"]] + x2), s_basal + iob, s_basal + iob, ins, x1, x2, x3,
            c[_IX["AG"]] * vals.get("carbs_on_board_g", 0.0) * _MMOL_PER_G, 0.0,
        ]  # fmt: skip
        y[_B] = vals.get("ketones_mmol_per_l", 0.1)
        y[_F] = vals.get("fluid_deficit_l", 0.0)
        y[_K] = vals.get("potassium_mmol_per_l", 4.2)
        rates = dict.fromkeys(RATE_INPUTS, 0.0)
        rates["sc_insulin_rate_u_per_h"] = vals.get("sc_insulin_rate_u_per_h", 0.0)
        return GlucoseState(
            y=y, theta=theta, params=dict(parameters), t_min=0.0, rates=rates, infusions=(),
            k_deficit_mmol=vals.get("potassium_deficit_mmol", 0.0), severe_hypo_min=0.0,
        )  # fmt: skip

    def apply(
        self, state: GlucoseState, effect: Mapping[str, Any], dose: float | None, t_min: float
    ) -> GlucoseState:
        """Give an input: ``effect = {input, amount?, over_min?, scale?}``.

        The amount is ``dose * scale`` (``scale`` default 1), or ``amount`` for actions
        without a dose. Rate inputs (:data:`RATE_INPUTS`) set the rate; amount inputs
        (:data:`AMOUNT_INPUTS`) are given at once or evenly over ``over_min``.
        """
        allowed = {"input", "amount", "over_min", "scale"}
        name = effect.get("input")
        if set(effect) - allowed or name not in RATE_INPUTS + AMOUNT_INPUTS:
            raise InvalidInputError(
                f"glucose effect {dict(effect)} is not valid; give 'input' (one of "
                f"{list(RATE_INPUTS + AMOUNT_INPUTS)}) and optionally 'amount', "
                "'over_min', 'scale'"
            )
        if dose is None and "amount" not in effect:
            raise InvalidInputError(
                f"effect {dict(effect)} has neither a dose nor an 'amount'; add one"
            )
        value = _number("amount", effect["amount"]) if dose is None else float(dose)
        value *= _number("scale", effect.get("scale", 1.0))
        if value < 0:
            raise InvalidInputError(f"input {name!r} amount must be >= 0, got {value:g}")
        if name in RATE_INPUTS:
            return dataclasses.replace(state, rates={**state.rates, str(name): value})
        over = _number("over_min", effect.get("over_min", 0.0))
        if over > 0:
            infusion = (str(name), value / over, state.t_min, state.t_min + over)
            return dataclasses.replace(state, infusions=(*state.infusions, infusion))
        return _give(state, str(name), value)

    def event(self, state: GlucoseState, event: Mapping[str, Any], t_min: float) -> GlucoseState:
        """A timeline event: ``meal`` (``carbs_g``), ``sc_insulin`` (``units``),
        ``missed_insulin_dose`` (the background subcutaneous insulin, pump basal or the
        absorption of a long-acting dose, stops from now on: ``fraction``, default 1, of its
        rate is missed), ``fluid_loss`` (``ml``) or ``note`` (no physiology; for narrative)."""
        kind = event.get("event")
        needs = {"meal": "carbs_g", "sc_insulin": "units", "fluid_loss": "ml"}
        if kind not in _EVENTS:
            raise InvalidInputError(f"unknown glucose event {kind!r}; events are {list(_EVENTS)}")
        if kind == "note":
            return state
        if kind == "missed_insulin_dose":
            fraction = _number("fraction", event.get("fraction", 1.0))
            if not 0.0 <= fraction <= 1.0:
                raise InvalidInputError(
                    f"missed_insulin_dose fraction must be in [0, 1], got {fraction:g}"
                )
            rate = state.rates["sc_insulin_rate_u_per_h"] * (1.0 - fraction)
            return dataclasses.replace(
                state, rates={**state.rates, "sc_insulin_rate_u_per_h": rate}
            )
        key = needs[str(kind)]
        if key not in event:
            raise InvalidInputError(f"event {kind!r} needs {key!r}; got {dict(event)}")
        amount = _number(key, event[key])
        if kind == "meal":
            return _give(state, "oral_glucose_g", amount)
        if kind == "sc_insulin":
            return _give(state, "sc_insulin_u", amount)
        y = state.y.copy()
        y[_F] += amount / 1000.0
        return dataclasses.replace(state, y=y)

    def advance(
        self, state: GlucoseState, t0_min: float, t1_min: float, rng: np.random.Generator
    ) -> GlucoseState:
        """Integrate from ``t0_min`` to ``t1_min`` (RK4, steps of at most 0.5 min)."""
        span = t1_min - t0_min
        if span < 0:
            raise InvalidInputError(f"cannot advance backwards: t0={t0_min:g}, t1={t1_min:g}")
        if span == 0:
            return state
        n_steps = max(1, math.ceil(span / _SUBSTEP_MIN - 1e-9))
        h = span / n_steps
        y = state.y.copy()
        severe = state.severe_hypo_min
        for k in range(n_steps):
            a, b = t0_min + k * h, t0_min + (k + 1) * h
            u = _held_inputs(state, a, b)
            y = _rk4(y, u, state, h)
            if _glucose(y, state.theta) < _SEVERE_HYPO_MMOL_L:
                severe += h
        if not np.all(np.isfinite(y)):
            raise InvalidInputError(f"glucose responder state went non-finite at t={t1_min:g}")
        y[[_B, _F, _A, _P]] = np.maximum(y[[_B, _F, _A, _P]], 0.0)
        infusions = tuple(i for i in state.infusions if i[3] > t1_min + 1e-9)
        return dataclasses.replace(
            state, y=y, t_min=t1_min, infusions=infusions, severe_hypo_min=severe,
            k_deficit_mmol=max(0.0, state.k_deficit_mmol - _k_given(state, t0_min, t1_min)),
        )  # fmt: skip

    def measure(self, state: GlucoseState) -> dict[str, float]:
        """Every measure of :data:`GLUCOSE_MEASURES` in canonical units."""
        y, c = state.y, state.theta[0]
        bw = c[_IX["BW"]]
        g = _glucose(y, state.theta)
        hco3 = _bicarbonate(y, state.params)
        ph = _ph(hco3)
        deficit_70 = y[_F] * 70.0 / bw
        adrenergic = 25.0 * min(max((3.5 - g) / 1.5, 0.0), 1.0)
        acid = max(7.35 - ph, 0.0)
        mapv = _param(state.params, "map_base_mmhg") - 4.0 * deficit_70
        gfr = _gfr(y[_F], bw)
        renal = _renal_mmol_per_min(g, c) * gfr
        return {
            "glucose_mmol_per_l": g,
            "ketones_mmol_per_l": float(y[_B]),
            "bicarbonate_mmol_per_l": hco3,
            "ph": ph,
            "potassium_mmol_per_l": float(y[_K]),
            "hr_per_min": _param(state.params, "hr_base_per_min") + 8.0 * deficit_70 + adrenergic
            + 40.0 * acid,
            "map_mmhg": mapv,
            "sbp_mmhg": mapv + 30.0 - 2.0 * deficit_70,
            "resp_rate_per_min": 14.0 + 40.0 * acid,
            "spo2_percent": 98.0,
            "temp_c": 36.8,
            "gcs": _gcs(g, ph),
            "urine_ml_per_h": bw * gfr + 60000.0 * gfr * renal / _URINE_GLUCOSE_MMOL_L,
        }  # fmt: skip

    def dead(self, state: GlucoseState) -> bool:
        """Prolonged severe hypoglycaemia, pH < 6.8 or potassium outside [2.0, 7.5]."""
        k = float(state.y[_K])
        ph = _ph(_bicarbonate(state.y, state.params))
        return bool(
            state.severe_hypo_min >= _SEVERE_HYPO_DEATH_MIN or ph < 6.8 or not 2.0 <= k <= 7.5
        )

    def sample_parameters(
        self, parameters: Mapping[str, float], rng: np.random.Generator
    ) -> dict[str, float]:
        """Draw each ``<name>`` with a ``<name>_cv`` from a log-normal of that CV (mean kept).

        Examples
        --------
        >>> p = GlucoseResponder().sample_parameters(
        ...     {"insulin_sensitivity_factor": 0.1, "insulin_sensitivity_factor_cv": 0.3},
        ...     np.random.default_rng(1))
        >>> p["insulin_sensitivity_factor"] != 0.1
        True
        """
        out = {k: float(v) for k, v in parameters.items() if not k.endswith("_cv")}
        for key in sorted(parameters):
            if not key.endswith("_cv"):
                continue
            base = key.removesuffix("_cv")
            cv = float(parameters[key])
            mean = float(parameters.get(base, DEFAULTS.get(base, math.nan)))
            if not math.isfinite(mean) or cv < 0:
                raise InvalidParameterError(
                    f"{key}={cv:g} needs a finite base parameter {base!r} and cv >= 0"
                )
            sigma = math.sqrt(math.log1p(cv * cv))
            out[base] = mean * math.exp(sigma * rng.standard_normal() - sigma * sigma / 2.0)
        return out


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{key} must be a finite number, got {value!r}")
    return float(value)


def _give(state: GlucoseState, name: str, amount: float) -> GlucoseState:
    """An amount input given at once."""
    y = state.y.copy()
    c = state.theta[0]
    bw = c[_IX["BW"]]
    deficit = state.k_deficit_mmol
    if name == "iv_insulin_u":
        y[4] += amount * _MU_PER_U / (c[_IX["VI"]] * bw)
    elif name == "sc_insulin_u":
        y[2] += amount * _MU_PER_U
    elif name == "iv_dextrose_g":
        y[0] += amount * _MMOL_PER_G
    elif name == "oral_glucose_g":
        y[8] += c[_IX["AG"]] * amount * _MMOL_PER_G
    elif name == "glucagon_mg":
        y[_A] += amount
    elif name == "saline_ml":
        y[_F] -= amount / 1000.0
    elif name == "potassium_mmol":
        y[_K] += amount / (0.2 * bw)
        deficit = max(0.0, deficit - amount)
    elif name == "bicarbonate_mmol":
        y[_X] += amount / (0.5 * bw)
    return dataclasses.replace(state, y=y, k_deficit_mmol=deficit)


def _held_inputs(state: GlucoseState, a: float, b: float) -> dict[str, float]:
    """Per-minute input rates averaged over ``[a, b]`` (rates plus timed infusions)."""
    u = {
        "iv_insulin_mu": state.rates["iv_insulin_rate_u_per_h"] * _MU_PER_U / 60.0,
        "sc_insulin_mu": state.rates["sc_insulin_rate_u_per_h"] * _MU_PER_U / 60.0,
        "glucose_mmol": state.rates["dextrose_rate_g_per_h"] * _MMOL_PER_G / 60.0,
        "saline_l": state.rates["saline_rate_ml_per_h"] / 60000.0,
        "k_mmol": state.rates["potassium_rate_mmol_per_h"] / 60.0,
        "gut_mmol": 0.0, "glucagon_mg": 0.0, "bicarb_mmol": 0.0,
    }  # fmt: skip
    to_key = {
        "iv_insulin_u": ("iv_insulin_mu", _MU_PER_U), "sc_insulin_u": ("sc_insulin_mu", _MU_PER_U),
        "iv_dextrose_g": ("glucose_mmol", _MMOL_PER_G), "oral_glucose_g": ("gut_mmol", _MMOL_PER_G),
        "glucagon_mg": ("glucagon_mg", 1.0), "saline_ml": ("saline_l", 1e-3),
        "potassium_mmol": ("k_mmol", 1.0), "bicarbonate_mmol": ("bicarb_mmol", 1.0),
    }  # fmt: skip
    for name, per_min, start, end in state.infusions:
        overlap = max(0.0, min(b, end) - max(a, start))
        key, factor = to_key[name]
        u[key] += per_min * factor * overlap / (b - a)
    return u


def _k_given(state: GlucoseState, a: float, b: float) -> float:
    given = state.rates["potassium_rate_mmol_per_h"] / 60.0 * (b - a)
    for name, per_min, start, end in state.infusions:
        if name == "potassium_mmol":
            given += per_min * max(0.0, min(b, end) - max(a, start))
    return given


def _gcs(g: float, ph: float) -> float:
    """Glasgow coma scale: neuroglycopenia below 3 mmol/L, severe acidosis below pH 7.0."""
    return float(round(max(3.0, 15.0 - 5.0 * max(3.0 - g, 0.0) - (2.0 if ph < 7.0 else 0.0))))


def _glucose(y: FloatArray, theta: FloatArray) -> float:
    c = theta[0]
    return float(y[0] / (c[_IX["VG"]] * c[_IX["BW"]]))


def _gfr(deficit_l: float, bw: float) -> float:
    return float(min(1.0, max(0.2, 1.0 - deficit_l / (0.12 * bw))))


def _renal_mmol_per_min(g: float, c: FloatArray) -> float:
    return float(0.003 * max(g - 9.0, 0.0) * c[_IX["VG"]] * c[_IX["BW"]])


def _bicarbonate(y: FloatArray, params: Mapping[str, float]) -> float:
    alpha = _param(params, "bicarbonate_per_ketone")
    return float(min(max(24.0 - alpha * (y[_B] - 0.1) + y[_X], 1.0), 40.0))


def _ph(hco3: float) -> float:
    pco2 = 1.5 * hco3 + 8.0
    return float(6.1 + math.log10(hco3 / (0.0307 * pco2)))


def _rhs(y: FloatArray, u: Mapping[str, float], s: GlucoseState) -> FloatArray:
    c = s.theta[0]
    bw = c[_IX["BW"]]
    p = s.params
    dy = np.empty(_N)
    ph = _ph(_bicarbonate(y, p))
    theta = s.theta
    k_acid = _param(p, "acidosis_resistance_per_ph")
    if k_acid > 0:
        theta = theta.copy()
        theta[0, _SI] *= math.exp(-k_acid * max(7.4 - ph, 0.0))
    c = theta[0]
    dy[:10] = hovorka_rhs(y[None, :10], np.array([[u["sc_insulin_mu"]]]), theta)[0]
    g = y[0] / (c[_IX["VG"]] * bw)
    gfr = _gfr(y[_F], bw)
    renal = _renal_mmol_per_min(g, c)
    glucagon = (
        _GMAX_GLUCAGON * _param(p, "glucagon_response_factor") * y[_P] / (y[_P] + _P50_GLUCAGON)
    )
    # Hovorka's renal term assumes full filtration; dehydration removes part of it. The
    # liver does not take up glucose net in hypoglycaemia: EGP is clipped at zero.
    egp = c[_IX["EGP0"]] * bw * (1.0 - y[7])
    dy[0] += (1.0 - gfr) * renal + u["glucose_mmol"] + glucagon + max(-egp, 0.0)
    dy[4] += u["iv_insulin_mu"] / (c[_IX["VI"]] * bw)
    dy[8] += u["gut_mmol"] * c[_IX["AG"]]
    remote = max(y[7], 0.0) / c[_IX["SIE"]] if c[_IX["SIE"]] > 0 else 0.0
    e_lipo = remote / (remote + _param(p, "antilipolysis_ec50_mu_per_l"))
    kb = _param(p, "ketone_clearance_per_h") / 60.0
    dy[_B] = kb * (_param(p, "ketone_ceiling_mmol_l") * (1.0 - e_lipo) - y[_B])
    diuresis = gfr * renal / _URINE_GLUCOSE_MMOL_L
    dy[_F] = diuresis + _INSENSIBLE_L_PER_MIN * bw / 70.0 - u["saline_l"]
    e_k = remote / (remote + 100.0)
    k_eq = 4.3 + 3.0 * (7.4 - ph) + 0.03 * (g - 5.5) - 2.0 * (e_k - 0.09)
    k_eq -= s.k_deficit_mmol / 370.0
    dy[_K] = (k_eq - y[_K]) / _param(p, "tau_potassium_min") + u["k_mmol"] / (0.2 * bw)
    dy[_A] = u["glucagon_mg"] - _KA_GLUCAGON * y[_A]
    dy[_P] = _KA_GLUCAGON * y[_A] - _KE_GLUCAGON * y[_P]
    dy[_X] = u["bicarb_mmol"] / (0.5 * bw) - y[_X] / 240.0
    return dy


def _rk4(y: FloatArray, u: Mapping[str, float], s: GlucoseState, h: float) -> FloatArray:
    k1 = _rhs(y, u, s)
    k2 = _rhs(y + 0.5 * h * k1, u, s)
    k3 = _rhs(y + 0.5 * h * k2, u, s)
    k4 = _rhs(y + h * k3, u, s)
    return np.asarray(y + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4))
