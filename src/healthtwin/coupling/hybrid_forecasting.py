"""Glucose forecasting on simulated cohorts: mechanistic twin, hybrid and pure ML.

Data: virtual patients (``physiology``) live closed-loop days with a controller
(``control``), a CGM and a pump (:func:`~healthtwin.coupling.closed_loop.run_closed_loop`).
Beside the controller runs a :class:`~healthtwin.control.twin_predictor.GlucoseTwin` per
patient that sees only what a device sees (CGM, announced meals, delivered insulin), is
kept in sync with the CGM by an ensemble Kalman filter, and every ``every_min`` minutes
forecasts the sensed glucose ``h`` minutes ahead with the current basal rate held.

The twin is deliberately imperfect, as a real calibration would be: it starts from each
patient's own UVA/Padova parameters with insulin sensitivity (Vmx), glucose production
(kp1) and gut absorption (kabs) each off by a log-normal factor of CV
``prior_bias_cv`` (20 %) drawn once per patient
(:func:`~healthtwin.coupling.twin_forecasts.biased_patients`), and an ensemble spread (CV
``prior_spread_cv``, 20 %) on Vmx and kp1, which the filter re-estimates online. It never
knows the unannounced snacks or carb-count errors of the scenario.

Features at each forecast time (what a device knows): the last CGM reading and its slopes
over 5, 15 and 30 min; insulin delivered above the usual basal, and announced
carbohydrate, as exponentially decaying sums (time constants 60 and 180 min) converted to
mg/dL with the patient's correction factor and carb ratio (insulin and carbs "on board").
The target is the CGM reading ``h`` minutes later. Train/test splits are by patient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthtwin.control.glucose import TherapySettings
from healthtwin.core.types import FloatArray, IntArray
from healthtwin.coupling.closed_loop import make_controller, run_closed_loop, therapy_settings
from healthtwin.coupling.closed_loop import uva_padova_twin_factory as twin_factory
from healthtwin.coupling.glucose_scenarios import scenario as scenario_named
from healthtwin.coupling.twin_forecasts import TwinForecastRecorder, biased_patients
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.cgm import cgm_params
from healthtwin.physiology.uva_padova import UvaPadovaPatient
from healthtwin.prognosis.forecast_features import history_features, on_board
from healthtwin.prognosis.glucose_metrics import ForecastAccuracy, forecast_accuracy
from healthtwin.prognosis.hybrid import HybridForecaster, MLForecaster

__all__ = [
    "FEATURE_NAMES",
    "FORECASTERS",
    "ForecastDataset",
    "collect_forecasts",
    "compare_forecasters",
]

FEATURE_NAMES = (
    "cgm_mg_dl",
    "slope_5_min",
    "slope_15_min",
    "slope_30_min",
    "insulin_on_board_60_mg_dl",
    "insulin_on_board_180_mg_dl",
    "carbs_on_board_60_mg_dl",
    "carbs_on_board_180_mg_dl",
)
FORECASTERS = ("mechanistic", "hybrid", "ml")
_CGM = "guardian-rt"
_LAGS = (1, 3, 6)
_TIME_CONSTANTS_MIN = (60.0, 180.0)


@dataclass(frozen=True)
class ForecastDataset:
    """Forecast points: one row per run x forecast time.

    Attributes
    ----------
    patient
        Patient name of each point, ``(n,)``.
    seed
        Scenario seed of each point, ``(n,)``.
    t_min
        Forecast time, ``(n,)``.
    features
        Device-side features, ``(n, len(FEATURE_NAMES))``.
    mechanistic_mg_dl
        The twin's forecast of sensed glucose at each horizon, ``(n, H)``.
    cgm_mg_dl, plasma_mg_dl
        CGM reading and true plasma glucose at each horizon, ``(n, H)``.
    horizons_min
        The horizons, minutes.
    """

    patient: tuple[str, ...]
    seed: IntArray
    t_min: FloatArray
    features: FloatArray
    mechanistic_mg_dl: FloatArray
    cgm_mg_dl: FloatArray
    plasma_mg_dl: FloatArray
    horizons_min: tuple[float, ...]

    @property
    def n_points(self) -> int:
        """Number of forecast points."""
        return len(self.patient)

    def subset(self, patients: Sequence[str]) -> ForecastDataset:
        """The points of ``patients`` only (to split train and test sets by patient)."""
        missing = sorted(set(patients) - set(self.patient))
        if missing:
            raise InvalidInputError(
                f"patients {missing} have no points here; choose from {sorted(set(self.patient))}"
            )
        index = np.flatnonzero(np.isin(np.array(self.patient), list(patients)))
        return ForecastDataset(
            tuple(self.patient[i] for i in index),
            self.seed[index],
            self.t_min[index],
            self.features[index],
            self.mechanistic_mg_dl[index],
            self.cgm_mg_dl[index],
            self.plasma_mg_dl[index],
            self.horizons_min,
        )


def _features(
    cgm: FloatArray,
    insulin_u: FloatArray,
    carbs_g: FloatArray,
    settings: TherapySettings,
    dt: float,
) -> FloatArray:
    """Features at every grid step, ``(n, T, len(FEATURE_NAMES))`` (NaN before history)."""
    n, steps = cgm.shape
    lag = max(_LAGS)
    history = np.full((n, steps, len(_LAGS) + 1), np.nan)
    for k in range(lag, steps):
        history[:, k] = history_features(cgm[:, k - lag : k + 1], dt, _LAGS)
    cf = settings.correction_factor_mg_dl_per_u[:, None]
    cr = settings.carb_ratio_g_per_u[:, None]
    insulin = [cf * on_board(insulin_u, dt, tau) for tau in _TIME_CONSTANTS_MIN]
    carbs = [cf / cr * on_board(carbs_g, dt, tau) for tau in _TIME_CONSTANTS_MIN]
    return np.concatenate([history, np.stack([*insulin, *carbs], axis=2)], axis=2)


def _no_points(warmup_min: float, days: int) -> InvalidParameterError:
    return InvalidParameterError(
        f"no forecast fits between the {warmup_min}-min warmup and the end of {days} "
        "day(s); shorten the warmup or the horizons, or simulate more days"
    )


def collect_forecasts(
    patients: Sequence[UvaPadovaPatient],
    *,
    scenario: str = "snacks",
    controller: str = "basal-bolus",
    days: int = 1,
    seeds: Sequence[int] = (0,),
    horizons_min: Sequence[float] = (30.0, 60.0),
    every_min: float = 15.0,
    warmup_min: float = 120.0,
    members: int = 8,
    prior_bias_cv: float = 0.2,
    prior_spread_cv: float = 0.2,
) -> ForecastDataset:
    """Run closed loops with a twin alongside and collect its forecasts and the truth.

    Parameters
    ----------
    patients
        Virtual patients; every patient runs every seed.
    scenario, controller
        Names from the scenario and controller registries.
    days, seeds
        Length and random seeds of the closed-loop runs.
    horizons_min
        Forecast horizons, multiples of the sensor sample time (5 min).
    every_min
        Minutes between forecasts (a multiple of the sample time).
    warmup_min
        Forecasts before this time are dropped (the filter is still converging).
    members
        Ensemble members per twin.
    prior_bias_cv
        CV of the per-patient calibration error of the twin (see the module docstring).
    prior_spread_cv
        CV of the ensemble's spread of Vmx and kp1 around the (biased) calibration.

    Returns
    -------
    ForecastDataset
        Every forecast after the warmup whose horizons end inside the runs.

    Raises
    ------
    InvalidParameterError
        For horizons that are not multiples of the CGM sample time, or settings that
        leave no forecast point.
    UnknownModelError
        For an unknown scenario or controller name.
    """
    dt = cgm_params(_CGM).sample_time_min
    if not horizons_min or any(h <= 0 or abs(h / dt - round(h / dt)) > 1e-9 for h in horizons_min):
        raise InvalidParameterError(
            f"horizons must be positive multiples of the {dt}-min CGM sample time, got "
            f"{tuple(horizons_min)}"
        )
    if warmup_min < 0 or not patients or not seeds:
        raise InvalidParameterError(
            f"need warmup >= 0 ({warmup_min}), at least one patient and at least one seed"
        )
    if warmup_min + max(horizons_min) >= days * 1440.0:
        raise _no_points(warmup_min, days)
    runs = [p for p in patients for _ in seeds]
    twin_rows = [r for r in biased_patients(patients, prior_bias_cv) for _ in seeds]
    recorder = TwinForecastRecorder(
        make_controller(controller, runs, seed=int(seeds[0])),
        twin_factory(twin_rows, members=members, prior_cv=prior_spread_cv, seed=1),
        horizons_min,
        every_min,
    )
    run = run_closed_loop(
        recorder, patients, scenario_named(scenario), days=days, seeds=seeds, cgm=_CGM
    )
    ahead = [round(h / dt) for h in horizons_min]
    settings = therapy_settings(runs)
    extra_insulin = (run.basal_u_per_min - settings.basal_u_per_min[:, None]) * dt + run.bolus_u
    features = _features(
        run.cgm_mg_dl, extra_insulin, np.stack(recorder.announced, axis=1), settings, dt
    )
    steps = run.t_min.size
    times = sorted(
        t
        for t in recorder.forecasts
        if t >= max(warmup_min, max(_LAGS) * dt) and round(t / dt) + max(ahead) < steps
    )
    if not times:
        raise _no_points(warmup_min, days)
    k = np.array([round(t / dt) for t in times], dtype=np.int64)
    n = len(runs)
    future = k[None, :, None] + np.array(ahead)[None, None, :]  # (1, P, H)
    rows = np.arange(n)[:, None, None]
    return ForecastDataset(
        patient=tuple(run.patients[i] for i in range(n) for _ in times),
        seed=np.repeat(np.array(run.seeds, dtype=np.int64), len(times)),
        t_min=np.tile(np.array(times, dtype=np.float64), n),
        features=features[:, k].reshape(n * len(times), -1),
        mechanistic_mg_dl=np.stack([recorder.forecasts[t] for t in times], axis=1).reshape(
            n * len(times), -1
        ),
        cgm_mg_dl=run.cgm_mg_dl[rows, future].reshape(n * len(times), -1),
        plasma_mg_dl=run.bg_mg_dl[rows, future].reshape(n * len(times), -1),
        horizons_min=tuple(float(h) for h in horizons_min),
    )


def compare_forecasters(
    train: ForecastDataset,
    test: ForecastDataset,
    *,
    regressor: str = "gradient-boosting",
    reference: str = "cgm",
    random_state: int = 0,
) -> dict[float, dict[str, ForecastAccuracy]]:
    """Fit hybrid and pure-ML forecasters on ``train``; score all three on ``test``.

    Every forecaster is scored on the same held-out points. Models are trained on the
    CGM target (what a deployment can observe) and scored against ``reference``:
    ``"cgm"`` (the later reading) or ``"plasma"`` (the true plasma glucose).

    Returns
    -------
    dict
        ``{horizon_min: {"mechanistic" | "hybrid" | "ml": ForecastAccuracy}}``.

    Examples
    --------
    >>> from healthtwin.physiology import load_patients
    >>> data = collect_forecasts(load_patients(["adult#001", "adult#002", "adult#003"]))
    >>> train, test = data.subset(["adult#001", "adult#002"]), data.subset(["adult#003"])
    >>> result = compare_forecasters(train, test, regressor="ridge")
    >>> sorted(result), sorted(result[30.0])
    ([30.0, 60.0], ['hybrid', 'mechanistic', 'ml'])
    >>> {a.n_pairs for a in result[60.0].values()} == {test.n_points}
    True
    """
    if reference not in ("cgm", "plasma"):
        raise InvalidParameterError(f"reference must be 'cgm' or 'plasma', got {reference!r}")
    if train.horizons_min != test.horizons_min:
        raise InvalidParameterError("train and test sets must share their forecast horizons")
    truth = test.cgm_mg_dl if reference == "cgm" else test.plasma_mg_dl
    out: dict[float, dict[str, ForecastAccuracy]] = {}
    for j, h in enumerate(test.horizons_min):
        hybrid = HybridForecaster(regressor, random_state=random_state).fit(
            train.mechanistic_mg_dl[:, j], train.features, train.cgm_mg_dl[:, j]
        )
        ml = MLForecaster(regressor, random_state=random_state).fit(
            train.features, train.cgm_mg_dl[:, j]
        )
        predictions = {
            "mechanistic": test.mechanistic_mg_dl[:, j],
            "hybrid": hybrid.predict(test.mechanistic_mg_dl[:, j], test.features),
            "ml": ml.predict(test.features),
        }
        out[h] = {name: forecast_accuracy(truth[:, j], p) for name, p in predictions.items()}
    return out
