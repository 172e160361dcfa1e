"""Septic shock responder: a lumped haemodynamic model with fluids, vasopressor and antibiotics.

The beat-by-beat model of Smith et al. (2004) in :mod:`healthtwin.physiology.circulation`
costs seconds per simulated minute; a learner plays 60-120 minutes in steps, so this
responder uses a lumped, minute-scale circulation (Guyton's venous return meeting a
Frank-Starling cardiac function curve) whose septic state lowers resistance as Smith's
septic-shock scenario does (Revie et al., Comput Math Methods Med 2013:505417).

States (time in minutes): blood volume ``V_b`` (mL), the blood volume the interstitium is
in equilibrium with ``Q`` (mL above the start), the inflammatory drive ``I`` (1 = the
case's septic shock at the start), lactate ``L`` (mmol/L), the noradrenaline
rate-equivalent concentration ``C`` (µg/kg/min at steady state) and heart rate.

- Circulation: stressed volume ``V_s = V_b - V_u``, ``V_u`` the unstressed volume, widened
  by sepsis (venodilation) and narrowed by noradrenaline (venoconstriction recruits
  unstressed volume, Persichini et al., Crit Care Med 40:3146, 2012). Mean systemic
  filling pressure ``Pmsf = V_s / C_v``; venous return ``(Pmsf - RAP) / R_vr`` equals the
  cardiac output ``CO_max sqrt(HR/HR0) k (1 - exp(-(RAP + 1)/4))`` (solved for RAP by
  bisection); ``MAP = CO SVR + RAP``. Sepsis lowers SVR by up to 60 % (``I/(I + 0.5)``);
  noradrenaline raises it by ``Emax C^1.3 / (EC50^1.3 + C^1.3)`` (Emax 1.5, EC50 0.25
  µg/kg/min) and contractility by 10 % of the same fraction.
- Noradrenaline kinetics: one compartment with the volume (8.84 L) and clearance (2
  L/min) of Beloeil et al. (Br J Anaesth 95:782, 2005), a half-life of 3.1 min.
- Crystalloid (volume kinetics in the spirit of Hahn, Anesthesiology 113:470, 2010): an
  infusion enters the blood, which relaxes with a 15-min half-time to the equilibrium
  ``V0 + Q``; ``Q`` gains a quarter of every millilitre infused (plasma is about a quarter
  of the extracellular fluid) and loses the capillary leak ``10 I / (I + 1)`` mL/min, so in
  sepsis most of a bolus leaves the circulation within an hour and untreated patients
  slowly lose blood volume.
- Infection: ``dI/dt = 0.006 I (1 - I/3) - k_abx(t) I``; effective antibiotics kill at
  ``0.015 (1 - exp(-(t - t_abx)/30))`` per minute, so the drive falls with a half-life of
  about 1.5 hours once they act; delaying them lets it grow.
- Lactate: ``dL/dt = k (1 + 2.0 I + 20 max(0, 65 - MAP)/65 + 10 max(0, 1 - DO2/DO2crit))
  - k h L``, ``k = ln 2 / 60 min`` (clearance half-life of an hour), ``h = CO/CO0`` (hepatic
  flow, 0.3-1.2); the sepsis term is adrenergic (aerobic) lactate, the others are
  hypoperfusion. ``DO2 = CO (1.34 Hb SaO2 + 0.003 PaO2)``, critical 8 mL/kg/min (Shibutani
  et al., Crit Care Med 11:640, 1983); ``DO2crit`` in the lactate term is 1.5 times that
  (heterogeneous microcirculation: some beds run short first), so haemoglobin diluted by
  crystalloid costs lactate before the whole-body critical value is reached. Anaemia below
  the patient's own haemoglobin raises heart rate by 3.5 /min per g/dL (Weiskopf et al.,
  JAMA 279:217, 1998).
- Oxygen: ``PaO2 = FiO2 713 - 40/0.8 - AaDO2``, with the A-a gradient 15 + 45 I/(I + 0.5)
  mmHg (lung injury), SaO2 by Severinghaus (1979).

- Haemorrhage (timeline event ``{event: haemorrhage, volume_ml, over_min}``, or
  ``rate_ml_per_min`` with ``over_min``, or with ``until: haemostasis``): blood leaves at a
  constant rate, or, for an uncontrolled bleed (``until: haemostasis``), at its rate times
  ``MAP / 80 mmHg`` (capped at 1.5) until a ``haemostasis`` effect stops it; the
  equilibrium volume falls with it less a quarter that the
  interstitium refills (transcapillary refill), and haemoglobin mass leaves with the blood,
  so haemoglobin concentration falls only as crystalloid or refill dilutes it. The lost
  share ``f`` of blood volume (bled, not yet restored; capped at 0.4) drives a sympathetic
  response standing in for the baroreceptor and volume-receptor reflexes: unstressed
  volume falls by ``0.7 f`` of itself (venoconstriction), SVR rises by ``0.9 f``, heart
  rate by ``150 f`` /min and lactate production by ``10 f`` (splanchnic hypoperfusion).
  Calibrated to the classes of the ATLS manual (10th ed., 2018, table 3-1): for a 70-kg
  adult, 10 % lost leaves heart rate below 100 /min; 20 % gives about 105 /min with a
  systolic pressure near 100 mmHg and a narrowed pulse pressure; 35 % about 125 /min and a
  systolic pressure below 90 mmHg; 45 % above 140 /min. Only bleeding drives it: a septic
  patient's capillary leak keeps its vasoplegic course.
- Blood (effect ``blood_transfusion``, mL over ``over_min``): packed red cells with 20 g/dL
  haemoglobin that stay in the vessels and undo the loss. Measures include
  ``haemoglobin_g_per_dl`` and the running totals ``crystalloid_given_ml`` and
  ``blood_given_ml`` (what a rubric scores restrictive crystalloid and blood by).
- Comorbidity factors (:mod:`healthtwin.education.comorbidities`):
  ``cardiac_reserve_factor`` scales the maximal cardiac output (heart failure) and
  ``hr_response_factor`` every reflex rise of heart rate (beta-blockers).

The coefficients not cited are a teaching calibration: an untreated patient of the
shipped case (MAP about 58 mmHg, lactate 4 mmol/L) slides to MAP below 50 and lactate
above 6 within two hours; 30 mL/kg of crystalloid raises MAP by 10-15 mmHg for a while;
noradrenaline 0.1-0.3 µg/kg/min raises it by about 10-25 mmHg; the Surviving Sepsis
Campaign bundle (Evans et al., Intensive Care Med 47:1181, 2021: antibiotics within an
hour, 30 mL/kg crystalloid, noradrenaline for MAP >= 65 mmHg, lactate remeasured)
restores MAP >= 65 mmHg with lactate falling. Respiratory rate, temperature, heart rate and
urine output follow simple documented relations in :func:`_vitals`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Final

import numpy as np

from healthtwin.education.responders.anaesthesia import (
    draw_parameters,
    oxygen_saturation_percent,
    resolve_parameters,
)
from healthtwin.errors import InvalidInputError

__all__ = ["SEPSIS_DEFAULTS", "SepsisResponder", "SepsisState"]

#: Responder parameters and their defaults (a 70-kg adult).
SEPSIS_DEFAULTS: Mapping[str, float] = MappingProxyType(
    {
        "weight_kg": 70.0,
        "blood_volume_ml_per_kg": 70.0,
        "unstressed_fraction": 0.7,
        "venous_compliance_ml_per_mmhg": 120.0,
        "venous_resistance_mmhg_min_per_l": 1.5,
        "cardiac_output_max_l_per_min": 7.7,
        "baseline_hr_per_min": 80.0,
        "baseline_svr_mmhg_min_per_l": 15.6,
        "haemoglobin_g_per_dl": 12.0,
        "infection_growth_per_min": 0.006,
        "antibiotic_kill_per_min": 0.015,
        "capillary_leak_ml_per_min": 4.0,
        "noradrenaline_ec50_ug_per_kg_per_min": 0.3,
        # Appended (draws follow this order): comorbidity factors, neutral at 1.
        "cardiac_reserve_factor": 1.0,
        "hr_response_factor": 1.0,
    }
)

_DEFAULT_CV: Final[Mapping[str, float]] = MappingProxyType(
    {
        "venous_compliance_ml_per_mmhg": 0.1,
        "cardiac_output_max_l_per_min": 0.1,
        "infection_growth_per_min": 0.3,
        "antibiotic_kill_per_min": 0.2,
        "capillary_leak_ml_per_min": 0.3,
        "noradrenaline_ec50_ug_per_kg_per_min": 0.3,
    }
)

_INITIAL_KEYS = (
    "volume_deficit_ml",
    "inflammation",
    "lactate_mmol_per_l",
    "hr_per_min",
    "blood_loss_ml",
)
_EFFECTS = (
    "fluid_bolus",
    "noradrenaline_rate",
    "antibiotic",
    "oxygen",
    "urinary_catheter",
    "blood_transfusion",
    "haemostasis",
    "none",
)
_EVENTS = ("infection_worsens", "sepsis_onset", "haemorrhage")
_STEP_MIN = 0.25
_NE_K_PER_MIN = 2.0 / 8.84  # Beloeil 2005: CL 2 L/min, V 8.84 L
_NE_EMAX_SVR, _NE_GAMMA = 0.8, 1.0
_FLUID_HALF_TIME_MIN = 15.0
_PLASMA_SHARE_OF_ECF = 0.25
_INFECTION_MAX = 3.0
_ABX_ONSET_MIN = 30.0
_LACTATE_K_PER_MIN = math.log(2.0) / 60.0
_DO2_CRIT_ML_PER_KG_PER_MIN = 8.0
_DO2_KNEE = 1.5
#: Heart-rate rise per g/dL of haemoglobin below the patient's own (compensation of
#: anaemia: Weiskopf et al., JAMA 279:217, 1998, about 30 /min from 13 to 5 g/dL).
_ANAEMIA_HR_PER_G_PER_DL = 3.5
#: Haemoglobin of packed red cells (g/dL; haematocrit about 0.6).
_PRBC_HB_G_PER_DL = 20.0
#: Share of a haemorrhage the interstitium refills (transcapillary refill).
_REFILL_SHARE = 0.25
#: The sympathetic response to blood loss, per unit of the lost fraction of blood volume
#: (capped at 40 %): unstressed volume recruited, resistance raised, heart rate added.
_LOSS_VENOUS, _LOSS_SVR, _LOSS_HR_PER_MIN, _LOSS_CAP = 0.7, 0.9, 150.0, 0.4
#: Lactate production per unit of lost fraction (splanchnic vasoconstriction).
_LOSS_LACTATE = 10.0
#: An uncontrolled bleed (``until: haemostasis``) flows at its rate at this MAP and in
#: proportion to MAP otherwise (capped at 1.5 times), so it slows as the pressure falls.
_BLEED_REF_MAP_MMHG = 80.0


@dataclass(frozen=True)
class SepsisState:
    """One patient in septic shock (opaque to the engine; every step returns a new one).

    ``infusions``, ``bleeds`` and ``transfusions`` hold running crystalloid infusions,
    haemorrhages and transfusions as ``(end_min, ml_per_min)``; ``antibiotic_min`` is when
    effective antibiotics were given (``inf`` if not yet); ``haemoglobin_g`` is the
    haemoglobin mass in the blood and ``bled_ml`` the blood lost and not yet transfused.
    """

    t_min: float
    blood_volume_ml: float
    equilibrium_shift_ml: float
    inflammation: float
    lactate_mmol_per_l: float
    noradrenaline_level: float
    hr_per_min: float
    noradrenaline_rate: float
    infusions: tuple[tuple[float, float], ...]
    antibiotic_min: float
    fio2: float
    catheter: bool
    fluid_given_ml: float
    params: Mapping[str, float]
    start_volume_ml: float
    haemoglobin_g: float = math.nan
    bled_ml: float = 0.0
    bleeds: tuple[tuple[float, float], ...] = ()
    transfusions: tuple[tuple[float, float], ...] = ()
    blood_given_ml: float = 0.0


@dataclass(frozen=True)
class _Circulation:
    cardiac_output_l_per_min: float
    rap_mmhg: float
    map_mmhg: float
    stroke_volume_ml: float


class SepsisResponder:
    """A patient in septic shock or bleeding (``patient.model: sepsis``, alias ``circulation``).

    Effects (the case's ``effect: {type: ...}``; doses in the action's canonical unit):
    ``fluid_bolus`` (mL of crystalloid over ``over_min``, default 15), ``noradrenaline_rate``
    (µg/kg/min; 0 stops), ``antibiotic`` (``effective: false`` for a drug the organism
    resists), ``oxygen`` (``fio2``, default 0.4), ``urinary_catheter``,
    ``blood_transfusion`` (mL of packed red cells over ``over_min``, default 15),
    ``haemostasis`` (pressure, a tourniquet or surgery: running haemorrhages stop), ``none``
    (blood cultures and other acts without a physiological effect). Timeline events:
    ``infection_worsens`` (``factor``, default 1.5, multiplies the inflammatory drive) and
    ``haemorrhage`` (``volume_ml`` lost over ``over_min``, default 10).
    ``initial_state`` may set ``volume_deficit_ml`` (default 0), ``inflammation`` (1),
    ``lactate_mmol_per_l`` (4), ``hr_per_min`` (115) and ``blood_loss_ml`` (0: blood lost
    just before the start, which drives the response to bleeding).

    Examples
    --------
    >>> r = SepsisResponder()
    >>> rng = np.random.default_rng(0)
    >>> s = r.initial({}, {}, rng)
    >>> before = r.measure(s)["map_mmhg"]
    >>> s = r.apply(s, {"type": "noradrenaline_rate"}, 0.2, 0.0)
    >>> r.measure(r.advance(s, 0.0, 15.0, rng))["map_mmhg"] > before + 10
    True
    """

    kind = "sepsis"
    measures: tuple[str, ...] = (
        "map_mmhg",
        "sbp_mmhg",
        "dbp_mmhg",
        "hr_per_min",
        "resp_rate_per_min",
        "spo2_percent",
        "temp_c",
        "lactate_mmol_per_l",
        "urine_ml_per_h",
        "cvp_mmhg",
        "haemoglobin_g_per_dl",
        "crystalloid_given_ml",
        "blood_given_ml",
    )

    def initial(
        self,
        parameters: Mapping[str, float],
        initial_state: Mapping[str, Any],
        rng: np.random.Generator,
    ) -> SepsisState:
        """The patient at the case's start, breathing room air."""
        p = resolve_parameters(parameters, SEPSIS_DEFAULTS, self.kind)
        unknown = set(initial_state) - set(_INITIAL_KEYS)
        if unknown:
            raise InvalidInputError(
                f"unknown sepsis initial_state keys {sorted(unknown)}; valid: {list(_INITIAL_KEYS)}"
            )
        init = {k: float(v) for k, v in initial_state.items()}
        volume = p["blood_volume_ml_per_kg"] * p["weight_kg"] - init.get("volume_deficit_ml", 0.0)
        inflammation = init.get("inflammation", 1.0)
        lactate = init.get("lactate_mmol_per_l", 4.0)
        # Blood lost just before the start: gone from the vessels, not yet refilled.
        lost = init.get("blood_loss_ml", 0.0)
        if volume - lost <= 0 or inflammation < 0 or lactate <= 0 or lost < 0:
            raise InvalidInputError(
                f"sepsis initial_state gives blood volume {volume - lost} mL, inflammation "
                f"{inflammation}, lactate {lactate}, blood loss {lost} mL: each must be "
                "positive (inflammation and blood loss >= 0)"
            )
        return SepsisState(
            t_min=0.0,
            blood_volume_ml=volume - lost,
            equilibrium_shift_ml=-(1.0 - _REFILL_SHARE) * lost,
            inflammation=inflammation,
            lactate_mmol_per_l=lactate,
            noradrenaline_level=0.0,
            hr_per_min=init.get("hr_per_min", 115.0),
            noradrenaline_rate=0.0,
            infusions=(),
            antibiotic_min=math.inf,
            fio2=0.21,
            catheter=False,
            fluid_given_ml=0.0,
            params=MappingProxyType(p),
            start_volume_ml=volume,
            haemoglobin_g=p["haemoglobin_g_per_dl"] * (volume - lost) / 100.0,
            bled_ml=lost,
        )

    def apply(
        self, state: SepsisState, effect: Mapping[str, Any], dose: float | None, t_min: float
    ) -> SepsisState:
        """The state right after a learner action at ``t_min``."""
        kind = str(effect.get("type", ""))
        if kind == "fluid_bolus":
            volume, infusion = _flow(kind, effect, dose, t_min)
            return replace(
                state,
                infusions=(*state.infusions, infusion),
                fluid_given_ml=state.fluid_given_ml + volume,
            )
        if kind == "noradrenaline_rate":
            return replace(state, noradrenaline_rate=_dose(dose, kind, 0.0, 3.0))
        if kind == "antibiotic":
            if not bool(effect.get("effective", True)):
                return state
            return replace(state, antibiotic_min=min(state.antibiotic_min, t_min))
        if kind == "oxygen":
            fio2 = float(effect.get("fio2", 0.4))
            if not 0.21 <= fio2 <= 1.0:
                raise InvalidInputError(f"oxygen fio2 must be in [0.21, 1], got {fio2!r}")
            return replace(state, fio2=fio2)
        if kind == "urinary_catheter":
            return replace(state, catheter=True)
        if kind == "blood_transfusion":
            volume, flow = _flow(kind, effect, dose, t_min)
            return replace(
                state,
                transfusions=(*state.transfusions, flow),
                blood_given_ml=state.blood_given_ml + volume,
            )
        if kind == "haemostasis":
            return replace(state, bleeds=())
        if kind == "none":
            return state
        raise InvalidInputError(
            f"unknown sepsis effect type {kind!r}; valid types: {', '.join(_EFFECTS)}"
        )

    def event(self, state: SepsisState, event: Mapping[str, Any], t_min: float) -> SepsisState:
        """A timeline event: ``infection_worsens`` (``factor`` multiplies the drive),
        ``sepsis_onset`` (an infection takes hold now: the drive rises to ``drive``, default
        1, the septic-shock reference) or ``haemorrhage`` (``volume_ml`` of blood lost
        evenly over ``over_min``, default 10)."""
        name = str(event.get("event", ""))
        if name not in _EVENTS:
            raise InvalidInputError(
                f"unknown sepsis event {name!r}; valid events: {', '.join(_EVENTS)}"
            )
        if name == "haemorrhage":
            return _haemorrhage(state, event, t_min)
        if name == "sepsis_onset":
            drive = float(event.get("drive", 1.0))
            if not 0.0 < drive <= _INFECTION_MAX:
                raise InvalidInputError(
                    f"sepsis_onset drive must be in (0, {_INFECTION_MAX:g}], got {drive!r}"
                )
            return replace(state, inflammation=max(state.inflammation, drive))
        factor = float(event.get("factor", 1.5))
        if not factor > 0:
            raise InvalidInputError(f"infection_worsens factor must be > 0, got {factor!r}")
        return replace(state, inflammation=min(state.inflammation * factor, _INFECTION_MAX))

    def advance(
        self, state: SepsisState, t0_min: float, t1_min: float, rng: np.random.Generator
    ) -> SepsisState:
        """Step from ``t0_min`` to ``t1_min`` by RK4 in steps of at most 15 s."""
        if t1_min < t0_min:
            raise InvalidInputError(f"cannot advance backwards from {t0_min} to {t1_min} min")
        t, y = t0_min, _vector(state)
        while t1_min - t > 1e-9:
            h = min(_STEP_MIN, t1_min - t)
            y = _rk4(state, y, t, h)
            t += h
        return replace(
            _from_vector(state, y),
            t_min=t1_min,
            infusions=_running(state.infusions, t1_min),
            bleeds=_running(state.bleeds, t1_min),
            transfusions=_running(state.transfusions, t1_min),
        )

    def measure(self, state: SepsisState) -> dict[str, float]:
        """Vital signs, lactate, urine output and central venous pressure."""
        return _vitals(state)

    @staticmethod
    def cardiac_output_l_per_min(state: SepsisState) -> float:
        """Cardiac output (L/min; not a measure: the engine's unit table lacks L/min)."""
        return _state_circulation(state).cardiac_output_l_per_min

    @staticmethod
    def haemoglobin_g_per_dl(state: SepsisState) -> float:
        """Haemoglobin concentration (g/dL): lost with blood, diluted by crystalloid."""
        return _haemoglobin(state.haemoglobin_g, state.blood_volume_ml)

    def dead(self, state: SepsisState) -> bool:
        """Circulatory collapse (MAP < 30 mmHg) or lactate above 15 mmol/L."""
        circ = _state_circulation(state)
        return circ.map_mmhg < 30.0 or state.lactate_mmol_per_l > 15.0

    def sample_parameters(
        self, parameters: Mapping[str, float], rng: np.random.Generator
    ) -> dict[str, float]:
        """One patient: circulation, infection and drug response drawn log-normally."""
        return draw_parameters(parameters, SEPSIS_DEFAULTS, _DEFAULT_CV, self.kind, rng)


# -- kernels ------------------------------------------------------------------------------
def _flow(
    kind: str, effect: Mapping[str, Any], dose: float | None, t_min: float
) -> tuple[float, tuple[float, float]]:
    """A volume (mL) run in over the effect's ``over_min`` (default 15): the volume and its
    ``(end_min, mL/min)`` flow."""
    volume = _dose(dose, kind, 0.0, 5000.0)
    over = float(effect.get("over_min", 15.0))
    if not over > 0:
        raise InvalidInputError(f"{kind} over_min must be > 0, got {over!r}")
    return volume, (t_min + over, volume / over)


def _haemorrhage(state: SepsisState, event: Mapping[str, Any], t_min: float) -> SepsisState:
    """A bleed: ``volume_ml`` over ``over_min`` (default 10), or ``rate_ml_per_min`` for
    ``over_min``; with ``until: haemostasis`` it goes on at that rate until stopped."""
    until = event.get("until")
    if until is not None and until != "haemostasis":
        raise InvalidInputError(
            f"haemorrhage until must be 'haemostasis' (or absent), got {until!r}"
        )
    raw_volume, raw_over = event.get("volume_ml"), event.get("over_min", 10.0)
    raw_rate = event.get("rate_ml_per_min")
    over = _number_or_nan(raw_over)
    if raw_rate is not None:
        rate = _number_or_nan(raw_rate)
        if not 0.0 < rate <= 500.0 or raw_volume is not None:
            raise InvalidInputError(
                f"haemorrhage rate_ml_per_min must be in (0, 500] and not given with "
                f"volume_ml, got rate_ml_per_min={raw_rate!r}, volume_ml={raw_volume!r}"
            )
    else:
        volume = _number_or_nan(raw_volume)
        if not 0.0 < volume <= 5000.0 or not over > 0.0:
            raise InvalidInputError(
                f"haemorrhage needs volume_ml in (0, 5000] and over_min > 0 (default 10), or "
                f"rate_ml_per_min; got volume_ml={raw_volume!r}, over_min={raw_over!r}"
            )
        rate = volume / over
    if not over > 0.0:
        raise InvalidInputError(f"haemorrhage over_min must be > 0, got {raw_over!r}")
    end = math.inf if until == "haemostasis" else t_min + over
    return replace(state, bleeds=(*state.bleeds, (end, rate)))


def _number_or_nan(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _running(
    flows: tuple[tuple[float, float], ...], t_min: float
) -> tuple[tuple[float, float], ...]:
    return tuple(f for f in flows if f[0] > t_min + 1e-9)


def _dose(dose: float | None, kind: str, lo: float, hi: float) -> float:
    if dose is None:
        raise InvalidInputError(f"effect {kind!r} needs a dose; give one in the action")
    value = float(dose)
    if not lo <= value <= hi:
        raise InvalidInputError(f"dose of {kind} must be in [{lo}, {hi}], got {value!r}")
    return value


def _sepsis_share(inflammation: float) -> float:
    i = max(inflammation, 0.0)
    return i / (i + 0.5)


def _noradrenaline_share(p: Mapping[str, float], level: float) -> float:
    if level <= 0:
        return 0.0
    r = (level / p["noradrenaline_ec50_ug_per_kg_per_min"]) ** _NE_GAMMA
    return float(r / (1.0 + r))


def _circulation(
    p: Mapping[str, float],
    volume_ml: float,
    inflammation: float,
    ne_level: float,
    hr: float,
    loss: float = 0.0,
) -> _Circulation:
    s_i, f_ne = _sepsis_share(inflammation), _noradrenaline_share(p, ne_level)
    unstressed = (
        p["unstressed_fraction"]
        * p["blood_volume_ml_per_kg"]
        * p["weight_kg"]
        * (1.0 + 0.06 * s_i - 0.10 * f_ne - _LOSS_VENOUS * loss)
    )
    pmsf = max(volume_ml - unstressed, 0.0) / p["venous_compliance_ml_per_mmhg"]
    r_vr = p["venous_resistance_mmhg_min_per_l"]
    co_max = (
        p["cardiac_output_max_l_per_min"]
        * p["cardiac_reserve_factor"]
        * math.sqrt(max(hr, 1.0) / p["baseline_hr_per_min"])
        * (1.0 + 0.1 * f_ne)
    )
    lo, hi = -1.0, max(pmsf, -1.0)
    for _ in range(40):
        rap = 0.5 * (lo + hi)
        heart = co_max * (1.0 - math.exp(-(rap + 1.0) / 4.0))
        if heart > (pmsf - rap) / r_vr:
            hi = rap
        else:
            lo = rap
    rap = 0.5 * (lo + hi)
    co = max((pmsf - rap) / r_vr, 0.0)
    svr = (
        p["baseline_svr_mmhg_min_per_l"]
        * (1.0 - 0.63 * s_i)
        * (1.0 + _NE_EMAX_SVR * f_ne)
        * (1.0 + _LOSS_SVR * loss)
    )
    return _Circulation(co, rap, co * svr + rap, 1000.0 * co / max(hr, 1.0))


def _arterial_oxygen(state: SepsisState, inflammation: float | None = None) -> tuple[float, float]:
    """PaO2 (mmHg) and SaO2 (%) (at ``inflammation``, default the state's)."""
    infl = state.inflammation if inflammation is None else inflammation
    pao2 = state.fio2 * 713.0 - 40.0 / 0.8 - (15.0 + 45.0 * _sepsis_share(infl))
    pao2 = max(pao2, 20.0)
    return pao2, oxygen_saturation_percent(pao2)


def _vector(state: SepsisState) -> list[float]:
    return [
        state.blood_volume_ml,
        state.equilibrium_shift_ml,
        state.inflammation,
        state.lactate_mmol_per_l,
        state.noradrenaline_level,
        state.hr_per_min,
        state.haemoglobin_g,
        state.bled_ml,
    ]


def _from_vector(state: SepsisState, y: list[float]) -> SepsisState:
    return replace(
        state,
        blood_volume_ml=y[0],
        equilibrium_shift_ml=y[1],
        inflammation=max(y[2], 0.0),
        lactate_mmol_per_l=max(y[3], 0.0),
        noradrenaline_level=max(y[4], 0.0),
        hr_per_min=y[5],
        haemoglobin_g=max(y[6], 0.0),
        bled_ml=max(y[7], 0.0),
    )


def _infusion_ml_per_min(infusions: tuple[tuple[float, float], ...], t0: float, h: float) -> float:
    """Mean rate of ``(end_min, ml_per_min)`` flows over ``[t0, t0 + h]`` (exact volumes)."""
    total = 0.0
    for end, rate in infusions:
        total += rate * max(0.0, min(end, t0 + h) - t0)
    return total / h


def _rk4(state: SepsisState, y: list[float], t: float, h: float) -> list[float]:
    timed = tuple(b for b in state.bleeds if math.isfinite(b[0]))
    flows = (
        _infusion_ml_per_min(state.infusions, t, h),
        _infusion_ml_per_min(timed, t, h),
        _infusion_ml_per_min(state.transfusions, t, h),
        sum(rate for end, rate in state.bleeds if not math.isfinite(end)),
    )
    k1 = _rhs(state, y, t, flows)
    k2 = _rhs(state, [a + 0.5 * h * b for a, b in zip(y, k1, strict=True)], t + 0.5 * h, flows)
    k3 = _rhs(state, [a + 0.5 * h * b for a, b in zip(y, k2, strict=True)], t + 0.5 * h, flows)
    k4 = _rhs(state, [a + h * b for a, b in zip(y, k3, strict=True)], t + h, flows)
    return [
        a + h * (b1 + 2.0 * b2 + 2.0 * b3 + b4) / 6.0
        for a, b1, b2, b3, b4 in zip(y, k1, k2, k3, k4, strict=True)
    ]


def _rhs(
    state: SepsisState, y: list[float], t: float, flows: tuple[float, float, float, float]
) -> list[float]:
    p = state.params
    fluid_ml_per_min, bleed, blood, open_bleed = flows
    volume, shift, infl, lactate, ne, hr, hb_g, bled = y
    infl = max(infl, 0.0)
    loss = _loss_fraction(state, volume, bled)
    circ = _circulation(p, volume, infl, ne, hr, loss)
    # An uncontrolled bleed flows with the arterial pressure that drives it.
    bleed += open_bleed * min(max(circ.map_mmhg / _BLEED_REF_MAP_MMHG, 0.0), 1.5)
    s_i = _sepsis_share(infl)
    leak = p["capillary_leak_ml_per_min"] * infl / (infl + 1.0)
    # Sepsis speeds the fluid's escape and lowers the share the plasma keeps.
    k_fluid = (1.0 + infl) * math.log(2.0) / _FLUID_HALF_TIME_MIN
    d_volume = fluid_ml_per_min - bleed + blood
    d_volume -= k_fluid * (volume - state.start_volume_ml - shift)
    # Blood lost moves the equilibrium down, less the share the interstitium refills;
    # transfused blood stays in the vessels.
    d_shift = _PLASMA_SHARE_OF_ECF / (1.0 + infl) * fluid_ml_per_min - leak
    d_shift += blood - (1.0 - _REFILL_SHARE) * bleed
    hb = _haemoglobin(hb_g, volume)
    d_hb = (blood * _PRBC_HB_G_PER_DL - bleed * hb) / 100.0
    kill = 0.0
    if t >= state.antibiotic_min:
        since = t - state.antibiotic_min
        kill = p["antibiotic_kill_per_min"] * (1.0 - math.exp(-since / _ABX_ONSET_MIN))
    d_infl = p["infection_growth_per_min"] * infl * (1.0 - infl / _INFECTION_MAX) - kill * infl
    co0 = _healthy_cardiac_output(p)
    weight = p["weight_kg"]
    pao2, sao2 = _arterial_oxygen(state, infl)
    do2 = circ.cardiac_output_l_per_min * 10.0 * (1.34 * hb * sao2 / 100.0 + 0.003 * pao2)
    # Microvascular heterogeneity: some beds run short of oxygen before the whole-body
    # delivery reaches the critical value, so anaerobic lactate starts at 1.5 times it.
    hypoxia = max(0.0, 1.0 - do2 / (_DO2_KNEE * _DO2_CRIT_ML_PER_KG_PER_MIN * weight))
    production = 1.0 + 2.0 * infl + 20.0 * max(0.0, 65.0 - circ.map_mmhg) / 65.0 + 10.0 * hypoxia
    production += _LOSS_LACTATE * loss
    hepatic = min(max(circ.cardiac_output_l_per_min / co0, 0.3), 1.2)
    d_lactate = _LACTATE_K_PER_MIN * (production - hepatic * lactate)
    d_ne = _NE_K_PER_MIN * (state.noradrenaline_rate - ne)
    f_ne = _noradrenaline_share(p, ne)
    reflex = 30.0 * s_i + 1.0 * max(0.0, 75.0 - circ.map_mmhg) + 8.0 * f_ne
    reflex += _LOSS_HR_PER_MIN * loss
    reflex += _ANAEMIA_HR_PER_G_PER_DL * max(0.0, p["haemoglobin_g_per_dl"] - hb)
    target_hr = p["baseline_hr_per_min"] + p["hr_response_factor"] * reflex
    d_hr = (min(target_hr, 170.0) - hr) / 2.0
    return [d_volume, d_shift, d_infl, d_lactate, d_ne, d_hr, d_hb, bleed - blood]


def _healthy_cardiac_output(p: Mapping[str, float]) -> float:
    volume = p["blood_volume_ml_per_kg"] * p["weight_kg"]
    return _circulation(p, volume, 0.0, 0.0, p["baseline_hr_per_min"]).cardiac_output_l_per_min


def _state_circulation(state: SepsisState) -> _Circulation:
    return _circulation(
        state.params,
        state.blood_volume_ml,
        state.inflammation,
        state.noradrenaline_level,
        state.hr_per_min,
        _loss_fraction(state, state.blood_volume_ml, state.bled_ml),
    )


def _loss_fraction(state: SepsisState, volume_ml: float, bled_ml: float) -> float:
    """The share of blood volume lost to bleeding and not yet restored (capped).

    Only volume lost to haemorrhage drives the sympathetic response: a septic patient's
    capillary leak does not (its vasoplegia is modelled by the inflammatory terms).
    """
    p = state.params
    lost = min(max(bled_ml, 0.0), max(state.start_volume_ml - volume_ml, 0.0))
    return min(lost / (p["blood_volume_ml_per_kg"] * p["weight_kg"]), _LOSS_CAP)


def _haemoglobin(haemoglobin_g: float, volume_ml: float) -> float:
    return 100.0 * haemoglobin_g / max(volume_ml, 1.0)


def _vitals(state: SepsisState) -> dict[str, float]:
    p = state.params
    circ = _state_circulation(state)
    s_i = _sepsis_share(state.inflammation)
    # Pulse pressure = stroke volume / arterial compliance (1.6 mL/mmHg).
    pulse = circ.stroke_volume_ml / 1.6
    _, sao2 = _arterial_oxygen(state)
    urine = p["weight_kg"] * min(max((circ.map_mmhg - 55.0) / 20.0, 0.0), 1.2) * (1.0 - 0.4 * s_i)
    return {
        "map_mmhg": circ.map_mmhg,
        "sbp_mmhg": circ.map_mmhg + 2.0 * pulse / 3.0,
        "dbp_mmhg": circ.map_mmhg - pulse / 3.0,
        "hr_per_min": state.hr_per_min,
        "resp_rate_per_min": min(
            14.0 + 10.0 * s_i + 1.5 * max(0.0, state.lactate_mmol_per_l - 2.0), 45.0
        ),
        "spo2_percent": sao2,
        "temp_c": 37.0 + 1.8 * s_i,
        "lactate_mmol_per_l": state.lactate_mmol_per_l,
        "urine_ml_per_h": urine,
        "cvp_mmhg": circ.rap_mmhg,
        "haemoglobin_g_per_dl": _haemoglobin(state.haemoglobin_g, state.blood_volume_ml),
        "crystalloid_given_ml": state.fluid_given_ml,
        "blood_given_ml": state.blood_given_ml,
    }
