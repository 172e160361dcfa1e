"""Parameters of the Smith et al. (2004) minimal cardiovascular system, and scenarios.

The nominal set is the table of Smith, Chase, Nokes, Shaw & Wake, "Minimal haemodynamic
system model including ventricular interaction and valve dynamics", Med Eng Phys
26(2):131-139 (2004), Tables 1-2 (ventricle, septum, pericardium and vessel elastances;
valve resistances and inertances), with the heart rate, driver and circulating (stressed)
volume of the authors' code. Every value was cross-checked against two independent public
re-implementations: B. Carlson's ``Smith_Script.m`` (University of Michigan, 2016-2018,
"SMITH ET AL. MODEL PARAMETERS") and the Physiolibrary ``HemodynamicsSmith`` Modelica
model (Kulhanek et al., MEFANET J 2(2):56-63, 2014, "parametrized to the implementation of
Brian Carlson"); Paeme et al. (Med Eng Phys 33:444, 2011, Table 1-2) reuse the same heart
values. Units: mL, mmHg, s.

The septic-shock scenario follows Revie et al., "Evaluation of a model-based hemodynamic
monitoring method in a porcine study of septic shock", Comput Math Methods Med
2013:505417 (abstract and sec. 3): the identified systemic resistance fell by 42% on
average 120 min after endotoxin infusion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

from healthtwin.core.params import Parameters
from healthtwin.core.types import FloatArray

__all__ = [
    "SMITH_2004",
    "SMITH_2004_INITIAL_VOLUMES_ML",
    "SMITH_2004_UNITS",
    "SmithParameters",
    "septic_shock_parameters",
    "smith_nominal_parameters",
]

#: Nominal values (Smith et al. 2004, Tables 1-2; driver and volume from the authors' code).
SMITH_2004: Mapping[str, float] = MappingProxyType(
    {
        # Left ventricle free wall (Table 1)
        "E_es_lvf": 2.8798,
        "V_d_lvf": 0.0,
        "V_0_lvf": 0.0,
        "lambda_lvf": 0.033,
        "P_0_lvf": 0.1203,
        # Right ventricle free wall (Table 1)
        "E_es_rvf": 0.585,
        "V_d_rvf": 0.0,
        "V_0_rvf": 0.0,
        "lambda_rvf": 0.023,
        "P_0_rvf": 0.2157,
        # Septum free wall (Table 1)
        "E_es_spt": 48.754,
        "V_d_spt": 2.0,
        "V_0_spt": 2.0,
        "lambda_spt": 0.435,
        "P_0_spt": 1.1101,
        # Pericardium (Table 1)
        "V_0_pcd": 200.0,
        "lambda_pcd": 0.030,
        "P_0_pcd": 0.5003,
        # Vessels (Table 1): aorta, vena cava, pulmonary artery, pulmonary vein
        "E_es_ao": 0.6913,
        "V_d_ao": 0.0,
        "E_es_vc": 0.0059,
        "V_d_vc": 0.0,
        "E_es_pa": 0.369,
        "V_d_pa": 0.0,
        "E_es_pu": 0.0073,
        "V_d_pu": 0.0,
        # Valves and circulations (Table 2)
        "R_mt": 0.0158,
        "L_mt": 7.6968e-5,
        "R_av": 0.018,
        "L_av": 1.2189e-4,
        "R_tc": 0.0237,
        "L_tc": 8.0093e-5,
        "R_pv": 0.0055,
        "L_pv": 1.4868e-4,
        "R_pul": 0.1552,
        "R_sys": 1.0889,
        "P_th": -4.0,
        # Driver e(t) = exp(-B (t - C)^2), C = c_fraction * period; 80 bpm.
        "heart_rate_bpm": 80.0,
        "driver_b_per_s2": 80.0,
        "driver_c_fraction": 0.5,
        # Circulating (stressed) blood volume of the model's initial condition.
        "stressed_volume_ml": 1500.0,
    }
)

SMITH_2004_UNITS: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(("E_es_lvf", "E_es_rvf", "E_es_spt"), "mmHg/mL"),
        **dict.fromkeys(("E_es_ao", "E_es_vc", "E_es_pa", "E_es_pu"), "mmHg/mL"),
        **dict.fromkeys(("V_d_lvf", "V_0_lvf", "V_d_rvf", "V_0_rvf", "V_d_spt"), "mL"),
        **dict.fromkeys(("V_0_spt", "V_0_pcd", "V_d_ao", "V_d_vc", "V_d_pa", "V_d_pu"), "mL"),
        **dict.fromkeys(("lambda_lvf", "lambda_rvf", "lambda_spt", "lambda_pcd"), "1/mL"),
        **dict.fromkeys(("P_0_lvf", "P_0_rvf", "P_0_spt", "P_0_pcd", "P_th"), "mmHg"),
        **dict.fromkeys(("R_mt", "R_av", "R_tc", "R_pv", "R_pul", "R_sys"), "mmHg*s/mL"),
        **dict.fromkeys(("L_mt", "L_av", "L_tc", "L_pv"), "mmHg*s^2/mL"),
        "heart_rate_bpm": "1/min",
        "driver_b_per_s2": "1/s^2",
        "driver_c_fraction": "-",
        "stressed_volume_ml": "mL",
    }
)

#: Initial distribution of the 1500 mL circulating volume in the authors' code (as in the
#: CellML model of the Physiome repository and Carlson's script), order LV, AO, VC, RV,
#: PA, PU; scaled to ``stressed_volume_ml``.
SMITH_2004_INITIAL_VOLUMES_ML: tuple[float, ...] = (
    94.6812,
    133.338,
    329.78,
    90.7302,
    43.0123,
    808.458,
)

#: Fractional fall of systemic resistance 120 min after endotoxin (Revie et al. 2013).
REVIE_2013_R_SYS_DROP = 0.42


@dataclass(frozen=True, kw_only=True)
class SmithParameters(Parameters):
    """Parameters of the minimal closed-loop model (units in ``SMITH_2004_UNITS``).

    Free walls follow ``P = e(t) E_es (V - V_d) + (1 - e(t)) P_0 (exp(lambda (V - V_0)) - 1)``;
    vessels ``P = E_es (V - V_d)`` (plus ``P_th`` inside the thorax); valves are diodes with
    resistance ``R`` and inertance ``L``.
    """

    E_es_lvf: float | FloatArray
    V_d_lvf: float | FloatArray
    V_0_lvf: float | FloatArray
    lambda_lvf: float | FloatArray
    P_0_lvf: float | FloatArray
    E_es_rvf: float | FloatArray
    V_d_rvf: float | FloatArray
    V_0_rvf: float | FloatArray
    lambda_rvf: float | FloatArray
    P_0_rvf: float | FloatArray
    E_es_spt: float | FloatArray
    V_d_spt: float | FloatArray
    V_0_spt: float | FloatArray
    lambda_spt: float | FloatArray
    P_0_spt: float | FloatArray
    V_0_pcd: float | FloatArray
    lambda_pcd: float | FloatArray
    P_0_pcd: float | FloatArray
    E_es_ao: float | FloatArray
    V_d_ao: float | FloatArray
    E_es_vc: float | FloatArray
    V_d_vc: float | FloatArray
    E_es_pa: float | FloatArray
    V_d_pa: float | FloatArray
    E_es_pu: float | FloatArray
    V_d_pu: float | FloatArray
    R_mt: float | FloatArray
    L_mt: float | FloatArray
    R_av: float | FloatArray
    L_av: float | FloatArray
    R_tc: float | FloatArray
    L_tc: float | FloatArray
    R_pv: float | FloatArray
    L_pv: float | FloatArray
    R_pul: float | FloatArray
    R_sys: float | FloatArray
    P_th: float | FloatArray
    heart_rate_bpm: float | FloatArray
    driver_b_per_s2: float | FloatArray
    driver_c_fraction: float | FloatArray
    stressed_volume_ml: float | FloatArray

    positive: ClassVar[frozenset[str]] = frozenset(
        {"E_es_lvf", "E_es_rvf", "E_es_spt", "E_es_ao", "E_es_vc", "E_es_pa", "E_es_pu"}
        | {"lambda_lvf", "lambda_rvf", "lambda_spt", "lambda_pcd"}
        | {"P_0_lvf", "P_0_rvf", "P_0_spt", "P_0_pcd"}
        | {"R_mt", "R_av", "R_tc", "R_pv", "R_pul", "R_sys"}
        | {"L_mt", "L_av", "L_tc", "L_pv"}
        | {"heart_rate_bpm", "driver_b_per_s2", "stressed_volume_ml"}
    )
    nonnegative: ClassVar[frozenset[str]] = frozenset(
        {"V_0_pcd", "V_d_ao", "V_d_vc", "V_d_pa", "V_d_pu"}
    )
    fractions: ClassVar[frozenset[str]] = frozenset({"driver_c_fraction"})
    #: Where the nominal values come from.
    citation: ClassVar[str] = "Smith et al., Med Eng Phys 26:131-139 (2004), Tables 1-2"


def smith_nominal_parameters(**changes: float | FloatArray) -> SmithParameters:
    """The published nominal subject, with optional changes.

    Examples
    --------
    >>> p = smith_nominal_parameters(heart_rate_bpm=70.0)
    >>> float(p.R_sys[0]), float(p.heart_rate_bpm[0])
    (1.0889, 70.0)
    """
    return SmithParameters(**{**dict(SMITH_2004), **changes})


def septic_shock_parameters(
    base: SmithParameters | None = None, *, r_sys_drop: float = REVIE_2013_R_SYS_DROP
) -> SmithParameters:
    """``base`` (nominal when omitted) with the systemic resistance of septic shock.

    Revie et al. (Comput Math Methods Med 2013:505417) identified an average 42% fall of
    ``R_sys`` 120 min after endotoxin in four pigs; the other identified changes varied in
    sign between animals and are left to the caller.

    Examples
    --------
    >>> round(float(septic_shock_parameters().R_sys[0]), 4)
    0.6316
    """
    base = smith_nominal_parameters() if base is None else base
    return base.replace(R_sys=base.R_sys * (1.0 - r_sys_drop))
