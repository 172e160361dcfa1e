"""Build a patient twin with an ensemble Kalman filter and replay readings into it.

One recipe serves every source of readings (a CSV file from ``patient sync``, a FHIR
bundle, a store): the prior is the model's nominal patient with the estimated parameters
spread log-normally, the filter corrects the listed states and the estimated parameters
(ARCHITECTURE.md: inflate states only), and :func:`~healthtwin.assimilation.synchronise`
reports the filtered outputs, the parameters with intervals and forecasts after each
reading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.assimilation import (
    EnsembleKalmanFilter,
    ObservationSeries,
    OutputObservation,
    SyncReport,
    synchronise,
    view_for,
)
from healthtwin.core import Inputs, Twin, lognormal_spread
from healthtwin.errors import InvalidInputError
from healthtwin.physiology.vital_signs import ECG_HEART_RATE, NIBP_MEAN, NIBP_SYSTOLIC

__all__ = [
    "CIRCULATION_ESTIMABLE",
    "DEFAULT_NOISE",
    "GLUCOSE_ALIASES",
    "GLUCOSE_STATES",
    "SyncedTwin",
    "TwinRecipe",
    "sync_twin",
    "synchronise_counted",
]

#: UVA/Padova names users estimate -> (parameter, lower, upper bound).
GLUCOSE_ALIASES = {
    "si": ("Vmx", 1e-4, 1.0),  # peripheral insulin sensitivity
    "egp": ("kp1", 0.1, 30.0),  # endogenous glucose production at zero glucose/insulin
}
#: UVA/Padova states the filter corrects.
GLUCOSE_STATES = (
    "plasma_glucose_mg_per_kg",
    "tissue_glucose_mg_per_kg",
    "sc_glucose_mg_per_kg",
    "insulin_action_pmol_per_l",
    "plasma_insulin_pmol_per_kg",
)
#: Default reading noise SDs, stated assumptions: a laboratory glucose analyser (about
#: 3 % CV at 130 mg/dL) and an insulin immunoassay (about 10 % CV at 150 pmol/L); bedside
#: monitors from the standards they are certified against (physiology.vital_signs). CGM
#: noise depends on the sensor, drug assays and BIS on the method: callers give those.
DEFAULT_NOISE = {
    "plasma_glucose_mg_dl": 4.0,
    "plasma_insulin_pmol_l": 15.0,
    "map_mmhg": NIBP_MEAN.noise_sd,
    "sbp_mmhg": NIBP_SYSTOLIC.noise_sd,
    "dbp_mmhg": NIBP_SYSTOLIC.noise_sd,
    "heart_rate_bpm": ECG_HEART_RATE.noise_sd,
}
#: Circulation parameters a vitals stream can inform.
CIRCULATION_ESTIMABLE = ("R_sys", "E_es_lvf", "E_es_rvf", "stressed_volume_ml", "heart_rate_bpm")


@dataclass(frozen=True)
class TwinRecipe:
    """What a sync needs to know about a twin's model.

    Attributes
    ----------
    model
        The patient model (one member's parameters as the prior's centre).
    plan
        Inputs delivered over the whole stream (meals, insulin, doses, fluids).
    states
        State names the filter corrects (``None``: all, ``()``: none).
    estimable
        User-facing parameter name -> (model parameter, lower, upper bound).
    """

    model: Any
    plan: Inputs
    states: tuple[str, ...] | None
    estimable: Mapping[str, tuple[str, float, float]]


@dataclass(frozen=True)
class SyncedTwin:
    """The twin after the last reading, the per-reading report and the estimates' names."""

    twin: Twin[Any]
    report: SyncReport
    estimated: tuple[str, ...]
    parameters: tuple[str, ...]
    nominal: tuple[float, ...]


def sync_twin(
    recipe: TwinRecipe,
    series: ObservationSeries,
    observed: Sequence[str],
    noise_sd: Sequence[float],
    *,
    estimate: Sequence[str] = (),
    members: int = 64,
    prior_cv: float = 0.3,
    horizons: Sequence[float] = (30.0, 60.0, 120.0),
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> SyncedTwin:
    """Build the twin from ``recipe`` and assimilate ``series`` (columns ``observed``).

    ``on_progress``, when given, is called with ``(readings assimilated, readings)``
    after each reading; the readings then go through the filter one at a time, in the
    same order and with the same random stream, so the result does not change.

    Raises
    ------
    InvalidInputError
        For fewer than 8 members, a non-positive prior CV, or a parameter that the recipe
        cannot estimate (the estimable ones are listed).
    """
    if members < 8:
        raise InvalidInputError(f"members must be >= 8, got {members}")
    if not prior_cv > 0:
        raise InvalidInputError(f"the prior CV must be > 0, got {prior_cv}")
    unknown = [n for n in estimate if n not in recipe.estimable]
    if unknown:
        raise InvalidInputError(
            f"cannot estimate {unknown}; estimable parameters: {', '.join(recipe.estimable)}"
        )
    model = recipe.model
    params = [recipe.estimable[n][0] for n in estimate]
    columns = [model.parameter_index(p) for p in params]
    rng = np.random.default_rng(seed)
    reference = model.initial_state(1, np.random.default_rng(0))
    prior = lognormal_spread(
        model.initial_state(members, rng), dict.fromkeys(columns, prior_cv), rng
    )
    view = view_for(
        model,
        states=recipe.states,
        parameters={recipe.estimable[n][0]: recipe.estimable[n][1:] for n in estimate},
    )
    twin = Twin(
        model,
        prior,
        min(0.0, float(series.times[0])),
        seed=seed,
        standing_inputs=recipe.plan,
        assimilator=EnsembleKalmanFilter(view, inflation=1.01, rtps=0.5),
    )
    obs = OutputObservation(model, list(observed), list(noise_sd))
    report = synchronise_counted(
        twin, series, obs, parameter_columns=columns, parameter_names=params,
        horizons=horizons, on_progress=on_progress,
    )  # fmt: skip
    nominal = tuple(float(reference.theta[0, c]) for c in columns)
    return SyncedTwin(twin, report, tuple(estimate), tuple(params), nominal)


def synchronise_counted(
    twin: Twin[Any],
    series: ObservationSeries,
    obs: Any,
    *,
    parameter_columns: Sequence[int] = (),
    parameter_names: Sequence[str] = (),
    horizons: Sequence[float] = (30.0, 60.0, 120.0),
    on_progress: Callable[[int, int], None] | None = None,
) -> SyncReport:
    """:func:`~healthtwin.assimilation.synchronise`, telling ``on_progress`` after each reading.

    Without a callback this is one call of ``synchronise``. With one, each reading is
    synchronised on its own and the reports are joined: the twin sees the same readings in
    the same order and draws the same random numbers, so the report is the same.

    Examples
    --------
    >>> import numpy as np
    >>> from healthtwin.assimilation import ObservationSeries
    >>> from healthtwin.core import Twin
    >>> from types import SimpleNamespace
    >>> class Still:
    ...     def advance(self, state, t0, t1, inputs, rng): return state
    >>> class Reading:
    ...     outputs = ("x",)
    ...     def predict(self, state): return state.theta
    >>> twin = Twin(Still(), SimpleNamespace(theta=np.zeros((4, 1))), 0.0, seed=0)
    >>> seen = []
    >>> report = synchronise_counted(
    ...     twin, ObservationSeries(np.array([1.0, 2.0]), np.array([3.0, 4.0])), Reading(),
    ...     horizons=(), on_progress=lambda done, total: seen.append((done, total)))
    >>> seen, report.filtered.shape
    ([(1, 2), (2, 2)], (2, 1, 4))
    """
    options: dict[str, Any] = {
        "parameter_columns": parameter_columns,
        "parameter_names": parameter_names,
        "horizons": horizons,
    }
    if on_progress is None:
        return synchronise(twin, series, obs, **options)
    total = int(series.times.size)
    parts = []
    for i in range(total):
        reading = ObservationSeries(series.times[i : i + 1], series.values[i : i + 1])
        parts.append(synchronise(twin, reading, obs, **options))
        on_progress(i + 1, total)
    first = parts[0]
    return SyncReport(
        series.times,
        series.values,
        first.outputs,
        np.concatenate([p.filtered for p in parts]),
        np.concatenate([p.parameters for p in parts]),
        first.parameter_names,
        np.concatenate([p.forecasts for p in parts]),
        first.horizons,
        np.concatenate([p.used for p in parts]),
    )
