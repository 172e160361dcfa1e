"""The demo world of ``healthtwin serve --demo``: synthetic patients, regions, a hospital, alarms.

Everything here is synthetic and reproducible from fixed seeds:

- :func:`simulated_cgm` is three hours of five-minute CGM of one UVA/Padova virtual
  patient eating 50 g at 30 min, with sensor noise;
- :data:`DEMO_SCENARIO` is a two-region epidemic (travel between them by a gravity model)
  with a "distancing" variant, and :func:`demo_region_scenario` it validated;
- :func:`demo_hospital_twin` is the demo hospital (ED, ward, ICU; today's census) and
  :data:`DEMO_FORECAST` how far the demo forecasts it;
- :data:`DEMO_WORLD` is a small two-country world (14 days, 2 replicates; each country
  two regions and a hospital per region) and :func:`demo_world_run` it validated, run by
  the demo as a background job so the Worlds view has a run to show;
- :func:`fill_demo_alarms` fills an alarm board with weekly counts of measles, influenza
  and salmonellosis in eight countries (:data:`DEMO_COUNTRIES`), with outbreaks of measles
  in France and Belgium and of influenza in Spain, and one series (influenza in Sweden)
  whose latest count is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from healthtwin.core import Events, Inputs, Rate, Twin
from healthtwin.core.types import FloatArray
from healthtwin.physiology.patients import load_patient
from healthtwin.physiology.uva_padova import UvaPadova
from healthtwin.scenarios.alarm_board import AlarmBoard, SeriesKey
from healthtwin.scenarios.hospital_forecast import ForecastSettings
from healthtwin.scenarios.hospital_twins import HospitalTwin, make_hospital_twin
from healthtwin.scenarios.region_forecast import PopulationScenario, parse_region_scenario
from healthtwin.scenarios.world_jobs import WorldRun, plan_world_run

__all__ = [
    "DEMO_ALARM_WEEK",
    "DEMO_COUNTRIES",
    "DEMO_FORECAST",
    "DEMO_HOSPITAL_ID",
    "DEMO_SCENARIO",
    "DEMO_WORLD",
    "demo_hospital_twin",
    "demo_region_scenario",
    "demo_world_run",
    "fill_demo_alarms",
    "simulated_cgm",
]

DEMO_SCENARIO: dict[str, Any] = {
    "name": "demo-region",
    "days": 60,
    "replicates": 6,
    "seed": 7,
    "geography": {
        "regions": [
            # Coordinates turn on travel (a gravity model), so the epidemic reaches the south.
            {"name": "north", "population": 200_000, "latitude": 52.1, "longitude": 5.1},
            {"name": "south", "population": 120_000, "latitude": 51.4, "longitude": 5.5},
        ]
    },
    "disease": {"r0": 2.0},
    "initial_infected": {"north": 40},
    "capacity": {"icu_beds": {"north": 12, "south": 8}},
    "variants": [
        {"name": "no action"},
        {
            "name": "distancing",
            "interventions": [{"type": "contact_reduction", "settings": {"community": 0.5}}],
        },
    ],
}
_UNIT_LOS = {"los_hours": {"dist": "exponential", "mean": 80}}
#: The demo's world: two countries of two regions each, a hospital per region (ward and
#: ICU), 14 days x 2 replicates (a few seconds of work).
DEMO_WORLD: dict[str, Any] = {
    "name": "demo-world",
    "seed": 5,
    "days": 14,
    "replicates": 2,
    "countries": [
        {
            "name": country,
            "geography": {
                "regions": [
                    {"name": f"{country}-a", "population": 20_000},
                    {"name": f"{country}-b", "population": 10_000},
                ]
            },
            "disease": {"r0": 2.4, "hospitalised_fraction": 0.05},
            "initial_infected": {f"{country}-a": 40},
            "hospitals": [
                {
                    "name": f"{country}-h{region}",
                    "region": f"{country}-{region}",
                    "catchment_share": 1.0,
                    "config": {
                        "units": {
                            "ward": {"kind": "ward", "beds": 30, **_UNIT_LOS},
                            "icu": {"kind": "icu", "beds": 3, **_UNIT_LOS},
                        },
                        "pathways": {
                            "ward": {"icu": 0.1, "discharge": 0.9},
                            "icu": {"discharge": 1.0},
                        },
                    },
                }
                for region in "ab"
            ],
        }
        for country in ("Eastland", "Westland")
    ],
}
#: Id of the demo hospital twin.
DEMO_HOSPITAL_ID = "demo-general"
#: How far and how often the demo forecasts its hospital.
DEMO_FORECAST = ForecastSettings(days=14, replications=20, seed=5)
#: Countries of the demo's global alarm board.
DEMO_COUNTRIES = ("FR", "BE", "DE", "NL", "ES", "IT", "PL", "SE")
#: The latest week on the demo's alarm board (a Monday).
DEMO_ALARM_WEEK = "2024-05-20"
#: (disease, syndrome, weekly mean) of the global board's series.
_GLOBAL_DISEASES = (("influenza", "ili", 120.0), ("salmonellosis", "gastro", 30.0))
#: Latest weekly counts that make outbreaks (others are drawn as usual weeks).
_OUTBREAKS = {("ES", "influenza"): 260.0}
_MEASLES_LATEST = (("FR", 75), ("BE", 52), ("DE", 19), ("NL", 23))


def simulated_cgm(
    profile: str, *, hours: float = 3.0, meal_g: float = 50.0, seed: int = 0
) -> tuple[FloatArray, FloatArray]:
    """Five-minute CGM of one virtual patient eating ``meal_g`` at 30 min (noise SD 5 mg/dL).

    Parameters
    ----------
    profile
        A virtual patient (simglucose's ``adult#001``...).
    hours, meal_g, seed
        Length of the record, the meal's carbohydrates and the seed of the sensor noise.

    Returns
    -------
    t_min : ndarray, shape (n,)
        Reading times, minutes from the start (5, 10, ...).
    glucose_mg_dl : ndarray, shape (n,)
        Noisy readings, clipped to the sensor's range 40-400 mg/dL.

    Examples
    --------
    >>> t_min, glucose = simulated_cgm("adult#001", hours=1.0)
    >>> len(t_min), float(t_min[0]), bool(60 < glucose[0] < 250)
    (12, 5.0, True)
    """
    person = load_patient(profile)
    model = UvaPadova([person])
    rng = np.random.default_rng(seed)
    basal = Rate.constant(person.basal_u_per_min, 0.0)
    meal = Events(np.array([30.0]), np.array([meal_g]))
    twin = Twin(model, model.initial_state(1, rng), 0.0, seed=seed)
    plan = Inputs(rates={"insulin_u_per_min": basal}, events={"meal_g": meal})
    forecast = twin.forecast(hours * 60.0, plan, dt_out=5.0)
    glucose = forecast.channel("glucose_mg_dl")[0]
    noisy = np.clip(glucose + rng.normal(0.0, 5.0, glucose.shape), 40.0, 400.0)
    return np.asarray(forecast.t[1:], dtype=np.float64), np.asarray(noisy[1:], dtype=np.float64)


def demo_region_scenario() -> PopulationScenario:
    """:data:`DEMO_SCENARIO`, validated (two variants x 6 replicates).

    Examples
    --------
    >>> from healthtwin.scenarios.region_forecast import plan_region_ensemble
    >>> len(plan_region_ensemble(demo_region_scenario()).tasks)
    12
    """
    return parse_region_scenario(DEMO_SCENARIO, source="demo scenario")


def demo_world_run() -> WorldRun:
    """:data:`DEMO_WORLD`, validated and planned (two countries, 14 days x 2 replicates).

    Examples
    --------
    >>> plan = demo_world_run()
    >>> plan.world.name, [c.name for c in plan.world.countries], plan.world.days
    ('demo-world', ['Eastland', 'Westland'], 14)
    """
    return plan_world_run(DEMO_WORLD, source="demo world")


def demo_hospital_twin() -> HospitalTwin:
    """The demo general hospital (ED, ward, ICU) with today's census.

    Examples
    --------
    >>> twin = demo_hospital_twin()
    >>> twin.hospital_id, len(twin.census["ward"])
    ('demo-general', 58)
    """
    return make_hospital_twin(
        hospital_id=DEMO_HOSPITAL_ID, name="Demo general hospital", preset="demo"
    )


def fill_demo_alarms(board: AlarmBoard) -> None:
    """Add the demo's 20 weeks of series and its latest week (:data:`DEMO_ALARM_WEEK`).

    Examples
    --------
    >>> board = AlarmBoard()
    >>> fill_demo_alarms(board)
    >>> report = board.report()
    >>> report["n_series"], "ES" in {a["country"] for a in report["alarms"]}
    (20, True)
    """
    rng = np.random.default_rng(11)
    for country, _ in _MEASLES_LATEST:
        counts = rng.poisson(20.0, size=20).astype(float).tolist()
        board.add_series(SeriesKey(country, "measles", "rash"), counts, "2024-01-01")
    week = {SeriesKey(c, "measles", "rash"): float(n) for c, n in _MEASLES_LATEST}
    for disease, syndrome, mean in _GLOBAL_DISEASES:
        for country in DEMO_COUNTRIES:
            counts = rng.poisson(mean, size=20).astype(float).tolist()
            board.add_series(SeriesKey(country, disease, syndrome), counts, "2024-01-01")
            if (country, disease) == ("SE", "influenza"):
                continue  # Sweden has not reported its latest influenza count yet
            latest = _OUTBREAKS.get((country, disease), float(rng.poisson(mean)))
            week[SeriesKey(country, disease, syndrome)] = latest
    board.append_week(DEMO_ALARM_WEEK, week)
