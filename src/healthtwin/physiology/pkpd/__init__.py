"""Pharmacokinetics and pharmacodynamics: compartment models, dosing records, drug presets.

Idea
----
A drug's disposition is a linear mammillary system of amounts ``x`` (an optional oral
depot, a central compartment of volume ``V1`` and up to two peripherals) with an effect
site whose concentration lags plasma by ``ke0`` (Sheiner et al., Clin Pharmacol Ther
25:358, 1979)::

    d depot/dt = -ka depot                       (oral doses: F x AMT into the depot)
    d A1/dt    = ka depot - (k10 + k12 + k13) A1 + k21 A2 + k31 A3 + R(t)
    d A2/dt    = k12 A1 - k21 A2,   d A3/dt = k13 A1 - k31 A3
    d Ce/dt    = ke0 (A1 / V1 - Ce)

Boluses jump ``A1``; infusions ``R(t)`` are held constant between input changes, so
over each segment the solution is exact: ``x(t+h) = e^{Ah} x + (int_0^h e^{As} ds) b``,
both from one matrix exponential of an augmented matrix (Van Loan 1978), batched over
members. An ODE path (the core RK4 / Dormand-Prince solvers) is kept as a check. The
effect is a sigmoid Emax of ``Ce``; for propofol and remifentanil it is the BIS response
surface of Bouillon et al. (Anesthesiology 100:1353, 2004). The four indirect-response
models of Dayneka, Garg & Jusko (J Pharmacokinet Biopharm 21:457, 1993) are provided
for drugs that act on the turnover of a response.

Units: time in minutes; doses in mg (propofol) or µg (remifentanil); volumes in L;
concentrations in dose unit per litre (mg/L = µg/mL, µg/L = ng/mL).

Presets: propofol Schnider et al. (Anesthesiology 88:1170, 1998; 90:1502, 1999), Marsh et
al. (Br J Anaesth 67:41, 1991; ke0 0.26 or 1.2 per Struys et al., Anesthesiology 92:399,
2000), remifentanil Minto et al. (Anesthesiology 86:10, 1997); lean body mass by James
(1976). Dosing follows NONMEM's event records (TIME, AMT, RATE, CMT, EVID, II, ADDL).
"""

from __future__ import annotations

from healthtwin.physiology.pkpd.compartments import (
    CompartmentLayout,
    propagate_ode,
    propagators,
    system_matrix,
)
from healthtwin.physiology.pkpd.covariates import (
    Covariates,
    james_lbm_kg,
    parse_covariates,
)
from healthtwin.physiology.pkpd.dosing import (
    DoseRecord,
    Route,
    expand_doses,
    observation_times,
    parse_dosing_csv,
    read_dosing_csv,
    records_to_inputs,
    split_at_resets,
)
from healthtwin.physiology.pkpd.model import (
    NOMINAL_ADULT,
    PKPD_MODELS,
    PkPdModel,
    PkPdState,
    make_pkpd_model,
)
from healthtwin.physiology.pkpd.parameters import PkPdParameters
from healthtwin.physiology.pkpd.pd import (
    BOUILLON_2004_BIS,
    BisSurface,
    IndirectResponse,
    IndirectResponseParameters,
    bis_response_surface,
    idr_baseline,
    idr_rate,
    integrate_pk_idr,
    sigmoid_emax,
)
from healthtwin.physiology.pkpd.presets import PRESETS, Preset, preset, preset_names

__all__ = [
    "BOUILLON_2004_BIS",
    "NOMINAL_ADULT",
    "PKPD_MODELS",
    "PRESETS",
    "BisSurface",
    "CompartmentLayout",
    "Covariates",
    "DoseRecord",
    "IndirectResponse",
    "IndirectResponseParameters",
    "PkPdModel",
    "PkPdParameters",
    "PkPdState",
    "Preset",
    "Route",
    "bis_response_surface",
    "expand_doses",
    "idr_baseline",
    "idr_rate",
    "integrate_pk_idr",
    "james_lbm_kg",
    "make_pkpd_model",
    "observation_times",
    "parse_covariates",
    "parse_dosing_csv",
    "preset",
    "preset_names",
    "propagate_ode",
    "propagators",
    "read_dosing_csv",
    "records_to_inputs",
    "sigmoid_emax",
    "split_at_resets",
    "system_matrix",
]
