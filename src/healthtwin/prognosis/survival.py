"""Survival models behind one small interface: fit, risk scores, per-patient survival curves.

A :class:`SurvivalModel` wraps one scikit-survival-style estimator named in
:data:`SURVIVAL_MODELS` together with the
:class:`~healthtwin.prognosis.design_matrix.DesignMatrix` fitted on the same training
table, so a model is always applied to new patients with the encoding it learned (and
rejects tables that do not match it):

- ``"cox"``: Cox proportional hazards, ``h(t | x) = h0(t) exp(x'b)`` (Cox, J R Stat Soc B
  34:187-220, 1972), partial likelihood with Efron's tie correction, no penalty, and
  Breslow's estimator of the baseline hazard;
- ``"coxnet"``: the same model with an elastic-net penalty (Simon, Friedman, Hastie &
  Tibshirani, J Stat Softw 39(5), 2011), 99 % lasso, predicting with the least
  penalized fit of the path (the set-up of scikit-survival's user guide);
- ``"rsf"``: random survival forest with log-rank splits (Ishwaran, Kogalur, Blackstone &
  Lauer, Ann Appl Stat 2:841-860, 2008), 200 trees, at least 10 patients to split a node
  and 15 in a leaf, sqrt(d) features tried per split (the user guide's GBSG-2 set-up);
- ``"gbs"``: gradient boosting of regression trees on the Cox partial likelihood
  (Ridgeway, Comput Sci Stat 31:172-181, 1999), 200 trees of depth 2, learning rate
  0.05, each fitted on 80 % of the patients (Friedman's stochastic boosting). The
  estimator is healthtwin's
  :class:`~healthtwin.prognosis.cox_boosting.CoxGradientBoosting`, which fits the trees
  of scikit-survival's ``GradientBoostingSurvivalAnalysis(loss="coxph")`` (its
  :attr:`~SurvivalModelSpec.reference`) but computes the Cox-loss gradient in O(n) per
  tree after one sort instead of O(n^2): tens of seconds for 100,000 patients, not hours.

Cox models see standardized features; the trees see them unscaled. ``predict_survival``
gives ``S(t | x)``, the probability of remaining event-free beyond ``t``, a right-continuous
step function in ``t`` that starts at 1; times are in the unit of the training times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, final

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    ShapeError,
    UnknownModelError,
)
from healthtwin.prognosis._extras import require_ml
from healthtwin.prognosis.design_matrix import DesignMatrix

__all__ = ["SURVIVAL_MODELS", "SurvivalModel", "SurvivalModelSpec"]

_PURPOSE = "healthtwin.prognosis.survival"
require_ml("sksurv", _PURPOSE)
#: Largest number of (patient, time) survival values held at once while predicting.
_CELLS_PER_CHUNK = 4_000_000


@dataclass(frozen=True)
class SurvivalModelSpec:
    """A registered survival model: which estimator, with which settings.

    Attributes
    ----------
    module, estimator : str
        Where the estimator class lives and its name (a scikit-survival class, or one
        of healthtwin's with the same interface).
    defaults : Mapping[str, object]
        Hyper-parameters used unless the caller overrides them.
    standardize : bool
        Whether the features are centred and scaled before fitting.
    randomized : bool
        Whether the estimator takes a ``random_state``.
    proportional_hazards : bool
        Whether ``S(t | x) = exp(-H0(t) exp(f(x)))`` with ``f`` what ``predict`` returns
        (Breslow's baseline); curves are then computed from ``H0`` at the asked times
        only, instead of over every training time.
    reference : tuple of (str, str) or None
        ``(module, class)`` of the scikit-survival estimator that ``estimator``
        reimplements and is tested against, when it is not scikit-survival's own.
    """

    module: str
    estimator: str
    defaults: Mapping[str, object] = field(default_factory=dict)
    standardize: bool = False
    randomized: bool = False
    proportional_hazards: bool = False
    reference: tuple[str, str] | None = None


SURVIVAL_MODELS: dict[str, SurvivalModelSpec] = {
    "cox": SurvivalModelSpec(
        "sksurv.linear_model",
        "CoxPHSurvivalAnalysis",
        {"ties": "efron", "alpha": 0.0, "n_iter": 100},
        standardize=True,
        proportional_hazards=True,
    ),
    "coxnet": SurvivalModelSpec(
        "sksurv.linear_model",
        "CoxnetSurvivalAnalysis",
        {"l1_ratio": 0.99, "fit_baseline_model": True},
        standardize=True,
        proportional_hazards=True,
    ),
    "rsf": SurvivalModelSpec(
        "sksurv.ensemble",
        "RandomSurvivalForest",
        {
            "n_estimators": 200,
            "min_samples_split": 10,
            "min_samples_leaf": 15,
            "max_features": "sqrt",
        },
        randomized=True,
    ),
    "gbs": SurvivalModelSpec(
        "healthtwin.prognosis.cox_boosting",
        "CoxGradientBoosting",
        {"n_estimators": 200, "learning_rate": 0.05, "max_depth": 2, "subsample": 0.8},
        randomized=True,
        proportional_hazards=True,
        reference=("sksurv.ensemble", "GradientBoostingSurvivalAnalysis"),
    ),
}


@final
class SurvivalModel:
    """One survival model with its feature encoding.

    Parameters
    ----------
    name : str
        A key of :data:`SURVIVAL_MODELS`.
    categorical : sequence of str
        Numeric columns to treat as categorical (text and ``category`` columns always are).
    impute : bool
        Fill missing values with the training median or most frequent category.
    random_state : int or None
        Seed of the randomized models (forest, boosting).
    **params
        Hyper-parameters overriding the registry's defaults (for example
        ``n_estimators=50``).

    Raises
    ------
    UnknownModelError
        If ``name`` is not registered (the message lists the valid names).
    InvalidParameterError
        If a hyper-parameter is not one the estimator takes (valid ones listed).

    Examples
    --------
    >>> from healthtwin.prognosis.datasets import load_dataset
    >>> data = load_dataset("veterans")
    >>> model = SurvivalModel("cox").fit(data.features, data.time, data.event)
    >>> curves = model.predict_survival(data.features.iloc[:2], [30.0, 180.0, 365.0])
    >>> curves.shape
    (2, 3)
    >>> bool((curves[:, 1:] <= curves[:, :-1]).all())
    True
    >>> SurvivalModel("deepsurv")
    Traceback (most recent call last):
    ...
    healthtwin.errors.UnknownModelError: unknown survival model 'deepsurv'; choose one of ...
    """

    def __init__(
        self,
        name: str = "cox",
        *,
        categorical: Sequence[str] = (),
        impute: bool = False,
        random_state: int | None = 0,
        **params: object,
    ) -> None:
        if name not in SURVIVAL_MODELS:
            raise UnknownModelError(
                f"unknown survival model {name!r}; choose one of {', '.join(SURVIVAL_MODELS)}"
            )
        self.name = name
        self.spec = SURVIVAL_MODELS[name]
        self.categorical = tuple(categorical)
        self.impute = impute
        estimator_class = getattr(require_ml(self.spec.module, _PURPOSE), self.spec.estimator)
        settings = {**self.spec.defaults, **params}
        if self.spec.randomized:
            settings["random_state"] = random_state
        valid = estimator_class().get_params()
        unknown = sorted(set(settings) - set(valid))
        if unknown:
            raise InvalidParameterError(
                f"{self.spec.estimator} takes no hyper-parameters {unknown}; valid ones are "
                f"{sorted(valid)}"
            )
        self.params: dict[str, object] = settings
        self.estimator_class: Any = estimator_class
        self.design_: DesignMatrix | None = None
        self.estimator_: Any = None
        self.max_time_: float = float("nan")

    def fit(self, features: Any, time: npt.ArrayLike, event: npt.ArrayLike) -> SurvivalModel:
        """Fit the encoding and the estimator on a training table.

        Parameters
        ----------
        features : pandas.DataFrame
            ``(n, k)`` training features.
        time : array_like
            ``(n,)`` follow-up times, finite and non-negative.
        event : array_like
            ``(n,)`` event indicator (bool or 0/1): True where the event was observed,
            False where follow-up was censored.

        Returns
        -------
        SurvivalModel
            ``self``, fitted.

        Raises
        ------
        InvalidInputError
            If the table cannot be encoded, or the times or events are invalid.
        ShapeError
            If ``time``, ``event`` and ``features`` differ in length.
        """
        n = int(getattr(features, "shape", (len(features),))[0])
        time_, event_ = _survival_arrays(time, event, n)
        design = DesignMatrix.fit(
            features,
            categorical=self.categorical,
            standardize=self.spec.standardize,
            impute=self.impute,
        )
        target = np.empty(n, dtype=[("event", np.bool_), ("time", np.float64)])
        target["event"], target["time"] = event_, time_
        estimator = self.estimator_class(**self.params)
        estimator.fit(design.transform(features), target)
        self.design_, self.estimator_ = design, estimator
        self.max_time_ = float(time_.max())
        return self

    def predict_risk(self, features: Any) -> FloatArray:
        """Risk scores, higher for patients expected to have the event sooner.

        Returns
        -------
        ndarray
            ``(n,)``: the linear predictor ``x'b`` (Cox models), the boosted log hazard
            ratio (``gbs``) or the expected number of events (``rsf``).
        """
        return np.asarray(self._fitted().predict(self._encode(features)), dtype=np.float64)

    def predict_survival(self, features: Any, times: npt.ArrayLike) -> FloatArray:
        """Per-patient survival curves ``S(t | x)`` at the given times.

        Parameters
        ----------
        features : pandas.DataFrame
            ``(n, k)`` patients.
        times : array_like
            ``(m,)`` times, between 0 and the longest training follow-up, any order.

        Returns
        -------
        ndarray
            ``(n, m)`` probabilities in [0, 1], non-increasing along increasing times.

        Raises
        ------
        InvalidParameterError
            If a time is negative, not finite or beyond the longest training follow-up
            (where the curve is not estimated).
        """
        estimator = self._fitted()
        when = np.atleast_1d(np.asarray(times, dtype=np.float64))
        if when.ndim != 1 or not np.all(np.isfinite(when)) or np.any(when < 0.0):
            raise InvalidParameterError(
                f"times must be a 1-D array of finite non-negative values, got {when!r}"
            )
        if np.any(when > self.max_time_):
            raise InvalidParameterError(
                f"times up to {when.max():g} asked for, but the longest follow-up in the "
                f"training data is {self.max_time_:g}; beyond it the survival curve is not "
                "estimated, so ask for times within it"
            )
        matrix = self._encode(features)
        grid = np.asarray(estimator.unique_times_, dtype=np.float64)
        column = np.searchsorted(grid, when, side="right") - 1
        if matrix.shape[0] == 0:
            return np.ones((0, when.size))
        if self.spec.proportional_hazards:
            return _proportional_hazards_curves(estimator, matrix, column)
        out = np.ones((matrix.shape[0], when.size))
        rows = max(1, _CELLS_PER_CHUNK // max(grid.size, 1))
        for start in range(0, matrix.shape[0], rows):
            curves = estimator.predict_survival_function(
                matrix[start : start + rows], return_array=True
            )
            block = np.take(curves, np.maximum(column, 0), axis=1)
            out[start : start + rows] = np.where(column >= 0, block, 1.0)
        return np.clip(out, 0.0, 1.0)

    def coefficients(self) -> Any:
        """Log hazard ratios per encoded column, in the columns' original units.

        Returns
        -------
        pandas.Series
            Indexed by the encoded column names (``"column=category"`` for indicators).

        Raises
        ------
        InvalidParameterError
            If the model is not a Cox model or is not fitted.
        """
        estimator = self._fitted()
        if self.name not in ("cox", "coxnet"):
            raise InvalidParameterError(
                f"coefficients exist for the Cox models ('cox', 'coxnet'), not {self.name!r}"
            )
        assert self.design_ is not None
        coef = np.asarray(estimator.coef_, dtype=np.float64)
        if coef.ndim == 2:
            coef = coef[:, -1]
        pd = require_ml("pandas", _PURPOSE)
        return pd.Series(coef / self.design_.scale, index=list(self.design_.columns))

    def _fitted(self) -> Any:
        if self.estimator_ is None:
            raise InvalidParameterError(
                f"the {self.name!r} survival model is not fitted; call fit(features, time, "
                "event) first"
            )
        return self.estimator_

    def _encode(self, features: Any) -> FloatArray:
        self._fitted()
        assert self.design_ is not None
        return self.design_.transform(features)


def _proportional_hazards_curves(
    estimator: Any, matrix: FloatArray, column: npt.NDArray[np.intp]
) -> FloatArray:
    """``exp(-H0(t) exp(f(x)))`` at the grid columns asked for (-1: before the first time).

    ``H0`` is read off one patient's cumulative hazard divided by its ``exp(f(x))``, so
    only that patient's curve is evaluated over every training time.
    """
    log_risk = np.asarray(estimator.predict(matrix), dtype=np.float64)
    first = estimator.predict_cumulative_hazard_function(matrix[:1], return_array=True)[0]
    baseline = np.asarray(first, dtype=np.float64) / np.exp(log_risk[0])
    hazard: FloatArray = np.where(column >= 0, baseline[np.maximum(column, 0)], 0.0)
    curves: FloatArray = np.exp(-np.outer(np.exp(log_risk), hazard))
    return np.clip(curves, 0.0, 1.0)


def _survival_arrays(
    time: npt.ArrayLike, event: npt.ArrayLike, n: int, *, require_event: bool = True
) -> tuple[FloatArray, BoolArray]:
    """Validated ``(n,)`` float times and boolean events (at least one, if required)."""
    time_ = np.asarray(time, dtype=np.float64).ravel()
    raw_event = np.asarray(event).ravel()
    if time_.shape != (n,) or raw_event.shape != (n,):
        raise ShapeError(
            f"features have {n} rows but time has {time_.size} values and event "
            f"{raw_event.size}; give one time and one event indicator per patient"
        )
    if not np.all(np.isfinite(time_)) or np.any(time_ < 0.0):
        raise InvalidInputError(
            f"follow-up times must be finite and non-negative; got {time_.min():g} to "
            f"{time_.max():g} (non-finite: {int((~np.isfinite(time_)).sum())})"
        )
    if raw_event.dtype != np.bool_ and not np.isin(raw_event, (0, 1)).all():
        raise InvalidInputError(
            f"event must be boolean or 0/1 (1 = event observed, 0 = censored); got values "
            f"{sorted(set(raw_event.tolist()))[:5]}"
        )
    event_ = raw_event.astype(np.bool_)
    if require_event and not event_.any():
        raise InvalidInputError(
            f"no event among the {n} patients (every follow-up is censored); fitting and "
            "scoring a survival model need at least one observed event"
        )
    return time_, event_
