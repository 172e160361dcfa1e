"""Coverage of the API glucose twin's 90 % forecast band on other virtual patients (issue 14).

The twin (:class:`~healthtwin.scenarios.patient_session.PatientTwinSession`, prior centred
on the nominal adult, 16 members) follows a *different* virtual patient: simglucose's
adult#001-#006, each with its own UVA/Padova parameters and basal rate, eating three meals
(40-80 g, announced to the twin with their boluses) and three snacks (10-30 g) the twin is
not told about. A CGM (SD 8 mg/dL) reads every 10 min. Every hour from 2 h on, the twin
forecasts 120 min ahead; the 90 % band is scored against the patient's noise-free sensed
glucose at 30, 60 and 120 min lead (9 origins x 6 patients = 54 per lead).

Tolerance: with 54 forecasts and true coverage 0.90, the 99 % binomial interval is
0.90 +- 0.105; origins one hour apart within a patient are correlated, so the lower bound
is widened to 0.75. The upper bound, 0.99, fails a band that covers everything (54/54),
i.e. bands too wide to be informative. Without model error (the deterministic ensemble,
what the API served before) the 120-min coverage is far below 0.75 (checked too).
Measured: 0.89, 0.83 and 0.85 at 30, 60 and 120 min; without model error 0.24, 0.22, 0.22.
"""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.core import Events, Inputs, Rate
from healthtwin.core.trajectory import simulate
from healthtwin.physiology import UvaPadova, load_patient
from healthtwin.scenarios.forecast_noise import GlucoseModelError, forecast_quantiles
from healthtwin.scenarios.patient_session import MODEL_ERROR, GlucoseReading, PatientTwinSession

PATIENTS = tuple(f"adult#{i:03d}" for i in range(1, 7))
HOURS, EVERY_MIN, SENSOR_SD, MEMBERS = 12, 10.0, 8.0, 16
LEADS_MIN = (30, 60, 120)

pytestmark = pytest.mark.slow


def _follow(name: str, seed: int) -> dict[str, dict[int, list[bool]]]:
    """Hits of the 90 % band (and of the bare ensemble's) at each lead for one patient."""
    rng = np.random.default_rng(seed)
    person = load_patient(name)
    model = UvaPadova([person])
    meals_t = np.array([60.0, 330.0, 600.0]) + rng.uniform(0.0, 60.0, 3)
    meals_g = rng.uniform(40.0, 80.0, 3)
    snacks_t = np.sort(rng.uniform(0.0, HOURS * 60.0 - 60.0, 3))
    snacks_g = rng.uniform(10.0, 30.0, 3)
    bolus_u = meals_g / person.carb_ratio_g_per_u
    times = np.concatenate([meals_t, snacks_t])
    order = np.argsort(times)
    truth_inputs = Inputs(
        rates={"insulin_u_per_min": Rate.constant(person.basal_u_per_min, 0.0)},
        events={
            "meal_g": Events(times[order], np.concatenate([meals_g, snacks_g])[order][None, :]),
            "bolus_u": Events(meals_t, bolus_u[None, :]),
        },
    )
    _, traj = simulate(
        model, model.initial_state(1, rng), 0.0, HOURS * 60.0, EVERY_MIN, truth_inputs, rng
    )
    glucose = traj.outputs[0, :, list(model.outputs).index("glucose_mg_dl")]
    cgm = np.clip(glucose + rng.normal(0.0, SENSOR_SD, glucose.size), 10.0, 1000.0)
    twin = PatientTwinSession.create("v", members=MEMBERS, seed=seed, sensor_sd_mg_dl=SENSOR_SD)
    for t, meal, bolus in zip(meals_t, meals_g, bolus_u, strict=True):
        twin.apply_plan(float(t), float(meal), float(bolus), "announced")
    hits: dict[str, dict[int, list[bool]]] = {
        kind: {lead: [] for lead in LEADS_MIN} for kind in ("band", "deterministic")
    }
    for k in range(1, glucose.size):
        t = float(traj.t[k])
        twin.assimilate([GlucoseReading(t, float(cgm[k]))])
        if t >= 120.0 and t % 60.0 == 0.0 and t + max(LEADS_MIN) <= HOURS * 60.0:
            # The twin's ensemble forecast, banded as the API bands it (with its model
            # error, as PatientTwinSession.forecast does) and as it was banded before.
            members = twin.twin.forecast(float(max(LEADS_MIN)), dt_out=30.0)
            glucose_fc = members.channel("glucose_mg_dl")
            lead_min = members.t - members.t[0]
            bands = {
                kind: tuple(forecast_quantiles(glucose_fc, lead_min, (0.05, 0.95), error))
                for kind, error in (("band", MODEL_ERROR), ("deterministic", GlucoseModelError(0)))
            }
            for kind, (low, high) in bands.items():
                for lead in LEADS_MIN:
                    truth = glucose[k + round(lead / EVERY_MIN)]
                    hits[kind][lead].append(bool(low[lead // 30] <= truth <= high[lead // 30]))
    return hits


def test_90_percent_band_covers_another_patient_at_30_60_120_min() -> None:
    pooled: dict[str, dict[int, list[bool]]] = {
        kind: {lead: [] for lead in LEADS_MIN} for kind in ("band", "deterministic")
    }
    for seed, name in enumerate(PATIENTS):
        for kind, per_lead in _follow(name, seed).items():
            for lead, h in per_lead.items():
                pooled[kind][lead].extend(h)
    coverage = {
        kind: {lead: float(np.mean(h)) for lead, h in per_lead.items()}
        for kind, per_lead in pooled.items()
    }
    assert all(len(h) == 54 for h in pooled["band"].values())
    for lead, c in coverage["band"].items():
        assert 0.75 <= c <= 0.99, f"{lead}-min coverage {c:.3f} outside [0.75, 0.99]: {coverage}"
    # Without model error the band undercovers badly: the test can fail.
    assert coverage["deterministic"][120] < 0.75, coverage
