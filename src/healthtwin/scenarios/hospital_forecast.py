"""A hospital twin simulated forward from today's census: occupancy and queue bands, alerts.

:func:`forecast_hospital` runs the discrete-event engine
(:func:`healthtwin.hospital.simulate.simulate`) from a twin's census
(:mod:`healthtwin.scenarios.hospital_twins`) and answers, per unit and day:

- **predicted occupancy** (beds in use, the day's time average) as the 5, 50 and 95 %
  quantiles over replications: day ``d`` is simulated as ``d - 1`` warm-up days from the
  census and one measured day, with the same seed for every day (one forecast costs
  ``replications x days (days + 1) / 2`` simulated days, bounded by
  :data:`MAX_REPLICATION_DAYS`);
- **queue length** (patients waiting for a bed in the unit) by Little's law,
  ``L_q = lambda_u x W_q``, from the unit's mean arrival rate (traffic equations,
  :func:`~healthtwin.hospital.plan.unit_arrival_rates`) and the day's mean wait;
- **alerts**: a unit whose occupancy may pass the ``occupancy_alert`` line (``watch``: in
  at least 5 % of replications on some day; ``high``: in at least half), and an
  early-warning alert when deteriorations missed by the early-warning score are expected.
  The engine's default clinical course records deteriorations and how many were caught
  late (no NEWS2 scores: ``early_warning.news2_scores`` is false).

:func:`run_forecast` is the same forecast as a long run: progress (share of the simulated
days done) and stop checks through a :class:`~healthtwin.scenarios.reporting.Reporter`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.hospital.plan import unit_arrival_rates
from healthtwin.hospital.simulate import simulate
from healthtwin.scenarios.hospital_twins import HospitalTwin
from healthtwin.scenarios.reporting import Reporter, RunOutput

__all__ = [
    "LEVELS",
    "MAX_REPLICATION_DAYS",
    "ForecastSettings",
    "check_forecast_cost",
    "forecast_hospital",
    "run_forecast",
]

#: Quantile levels of every band.
LEVELS = (0.05, 0.5, 0.95)
#: Most simulated replication-days (replications x days (days + 1) / 2) one run may cost.
MAX_REPLICATION_DAYS = 20_000
_DAILY = ("deteriorations", "deteriorations_caught_late", "arrivals", "refusals")


@dataclass(frozen=True, kw_only=True)
class ForecastSettings:
    """How far and how often to simulate a hospital twin forward.

    Attributes
    ----------
    days
        Days forecast (>= 1).
    replications
        Independent runs (>= 1); every day uses the same ``seed``.
    seed
        Root seed (common random numbers across days and twins).
    occupancy_alert
        Occupancy line, as a fraction of beds in ``(0, 1]``, above which units are flagged.

    Examples
    --------
    >>> ForecastSettings(days=3, replications=4).cost_replication_days
    24
    """

    days: int = 14
    replications: int = 20
    seed: int = 0
    occupancy_alert: float = 0.85

    def __post_init__(self) -> None:
        if self.days < 1 or self.replications < 1 or self.seed < 0:
            raise InvalidParameterError(
                f"days {self.days}, replications {self.replications}, seed {self.seed}: "
                "give days >= 1, replications >= 1 and seed >= 0"
            )
        if not 0.0 < self.occupancy_alert <= 1.0:
            raise InvalidParameterError(
                f"occupancy_alert {self.occupancy_alert}: give a fraction of beds in (0, 1]"
            )

    @property
    def cost_replication_days(self) -> int:
        """Simulated replication-days: ``replications x days (days + 1) / 2``."""
        return self.replications * self.days * (self.days + 1) // 2


def check_forecast_cost(settings: ForecastSettings) -> None:
    """Refuse a forecast that would cost more than :data:`MAX_REPLICATION_DAYS`.

    Raises
    ------
    InvalidInputError
        Naming the cost and the limit.

    Examples
    --------
    >>> check_forecast_cost(ForecastSettings(days=60, replications=500))
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: 500 replications over 60 days cost 915000 ...
    """
    cost = settings.cost_replication_days
    if cost > MAX_REPLICATION_DAYS:
        raise InvalidInputError(
            f"{settings.replications} replications over {settings.days} days cost {cost} "
            f"simulated days; at most {MAX_REPLICATION_DAYS}: ask for fewer days or replications"
        )


def forecast_hospital(
    twin: HospitalTwin,
    settings: ForecastSettings,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Simulate ``twin`` forward day by day: occupancy and queue bands, alerts (module doc).

    Parameters
    ----------
    twin
        The hospital and its census.
    settings
        Days, replications, seed and the occupancy alert line.
    progress
        Called with the number of days done after each day (may raise to stop the run).

    Returns
    -------
    summary : dict
        JSON-ready result (``units[name]["occupancy_beds"]["0.5"]`` has one value a day).
    arrays : dict of str to ndarray
        ``occupancy.<unit>`` (beds in use) and ``queue.<unit>`` (patients waiting), each
        of shape ``(days, replications)``.

    Raises
    ------
    InvalidInputError
        If the run would cost more than :data:`MAX_REPLICATION_DAYS`.

    Examples
    --------
    >>> from healthtwin.scenarios.hospital_twins import make_hospital_twin
    >>> twin = make_hospital_twin(preset="demo")
    >>> out, arrays = forecast_hospital(twin, ForecastSettings(days=2, replications=4))
    >>> len(out["units"]["ward"]["occupancy_beds"]["0.5"]), arrays["occupancy.ward"].shape
    (2, (2, 4))
    """
    check_forecast_cost(settings)
    config, census = twin.config, twin.census_model()
    names = list(config.units)
    rates = unit_arrival_rates(config)
    occupancy = np.zeros((len(names), settings.days, settings.replications))
    waits = np.full_like(occupancy, np.nan)
    daily = {key: np.zeros((settings.days, settings.replications)) for key in _DAILY}
    for day in range(settings.days):
        result = simulate(
            config,
            days=1.0,
            warmup_days=float(day),
            replications=settings.replications,
            seed=settings.seed,
            census=census,
        )
        for u, name in enumerate(names):
            occupancy[u, day] = result.values(f"occupancy.{name}") * config.units[name].beds
            waits[u, day] = result.values(f"wait_hours.{name}")
        for key, values in daily.items():
            values[day] = result.values(key)
        if progress is not None:
            progress(day + 1)
    units, queues = {}, {}
    for u, name in enumerate(names):
        beds = config.units[name].beds
        fraction = occupancy[u] / beds if beds else np.zeros_like(occupancy[u])
        # A day with no admission to the unit has no mean wait: nobody queued for it.
        queue = rates[name] * np.nan_to_num(waits[u], nan=0.0)
        queues[f"queue.{name}"] = queue
        units[name] = {
            "kind": config.units[name].kind,
            "beds": beds,
            "census_now": len(twin.census.get(name, ())),
            "arrivals_per_hour": rates[name],
            "occupancy_beds": _bands(occupancy[u]),
            "occupancy_fraction": _bands(fraction),
            "queue_length": _bands(queue),
            "p_above_line": [float(v) for v in (fraction > settings.occupancy_alert).mean(axis=1)],
        }
    early = {key: _bands(values) for key, values in daily.items()}
    summary = {
        "kind": "hospital-forecast",
        "hospital_id": twin.hospital_id,
        "days": settings.days,
        "replications": settings.replications,
        "seed": settings.seed,
        "day": list(range(1, settings.days + 1)),
        "occupancy_alert": settings.occupancy_alert,
        "units": units,
        "early_warning": {"news2_scores": False, **early},
        "alerts": _alerts(units, early, settings.occupancy_alert),
    }
    arrays = {f"occupancy.{name}": occupancy[u] for u, name in enumerate(names)}
    return summary, arrays | queues


def run_forecast(twin: HospitalTwin, settings: ForecastSettings, reporter: Reporter) -> RunOutput:
    """:func:`forecast_hospital` as a long run: a stop check and a progress report a day.

    Day ``d`` costs ``d`` simulated days, so progress is the share of that cost done.

    Examples
    --------
    >>> from healthtwin.scenarios.hospital_twins import make_hospital_twin
    >>> from healthtwin.scenarios.reporting import SilentReporter
    >>> twin = make_hospital_twin(preset="demo")
    >>> out = run_forecast(twin, ForecastSettings(days=1, replications=2), SilentReporter())
    >>> out.summary["kind"], sorted(out.arrays)[:2]
    ('hospital-forecast', ['occupancy.ed', 'occupancy.icu'])
    """
    days = settings.days

    def step(done: int) -> None:
        reporter.check()
        reporter.progress(done * (done + 1) / (days * (days + 1)), f"day {done} of {days}")

    reporter.check()
    summary, arrays = forecast_hospital(twin, settings, step)
    return RunOutput(summary, arrays)


def _bands(values: np.ndarray) -> dict[str, list[float]]:
    """Quantiles over replications (axis 1) of a ``(days, replications)`` array."""
    q = np.quantile(values, LEVELS, axis=1)
    return {f"{level:g}": [float(v) for v in row] for level, row in zip(LEVELS, q, strict=True)}


def _alerts(
    units: Mapping[str, Mapping[str, Any]],
    early: Mapping[str, Mapping[str, list[float]]],
    line: float,
) -> list[dict[str, Any]]:
    alerts = [a for name, unit in units.items() if (a := _occupancy_alert(name, unit, line))]
    late = early["deteriorations_caught_late"]["0.95"]
    if late and max(late) >= 1.0:
        day = int(np.argmax(late)) + 1
        alerts.append(
            {
                "kind": "early-warning",
                "unit": None,
                "severity": "watch",
                "first_day": next(d + 1 for d, v in enumerate(late) if v >= 1.0),
                "days": [d + 1 for d, v in enumerate(late) if v >= 1.0],
                "peak_probability": None,
                "message": (
                    f"deteriorations missed by the early-warning score: up to "
                    f"{max(late):.0f} a day (95 % band, day {day})"
                ),
            }
        )
    return alerts


def _occupancy_alert(name: str, unit: Mapping[str, Any], line: float) -> dict[str, Any] | None:
    p = unit["p_above_line"]
    days = [d + 1 for d, value in enumerate(p) if value >= 0.05]
    if not days:
        return None
    peak = max(p)
    return {
        "kind": "occupancy",
        "unit": name,
        "severity": "high" if peak >= 0.5 else "watch",
        "first_day": days[0],
        "days": days,
        "peak_probability": peak,
        "message": (
            f"{name}: occupancy above {line:.0%} of {unit['beds']} beds from day "
            f"{days[0]} (up to {peak:.0%} of replications)"
        ),
    }
