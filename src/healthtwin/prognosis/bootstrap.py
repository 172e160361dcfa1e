"""Survival predictions with intervals: the model refitted on bootstrap resamples.

The point prediction comes from the model fitted on all patients; the interval at each
time is the percentile interval of the predictions of ``B`` refits on resamples of the
patients drawn with replacement (Efron & Tibshirani 1993). It expresses the uncertainty of
the fitted model (sampling variability), not of the patient's outcome itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError
from healthtwin.prognosis.survival import SurvivalModel

__all__ = ["BootstrapSurvival", "SurvivalPrediction"]


@dataclass(frozen=True)
class SurvivalPrediction:
    """Survival probabilities ``(n, k)`` at ``times`` with a percentile interval."""

    times: FloatArray
    survival: FloatArray
    low: FloatArray
    high: FloatArray
    level: float


class BootstrapSurvival:
    """A survival model and ``replicates`` bootstrap refits of it.

    Examples
    --------
    >>> from healthtwin.prognosis.datasets import load_dataset
    >>> data = load_dataset("veterans")
    >>> boot = BootstrapSurvival("cox", replicates=5).fit(data.features, data.time, data.event)
    >>> p = boot.predict(data.features.iloc[:3], [90.0, 180.0])
    >>> bool(((p.low <= p.survival + 1e-12) & (p.survival <= p.high + 1e-12)).all())
    True
    """

    def __init__(
        self, name: str = "cox", *, replicates: int = 20, seed: int = 0, **params: Any
    ) -> None:
        if replicates < 2:
            raise InvalidParameterError(f"replicates must be >= 2, got {replicates}")
        self.name, self.replicates, self.seed, self.params = name, replicates, seed, params
        self.model_ = SurvivalModel(name, random_state=seed, **params)
        self.refits_: list[SurvivalModel] = []

    def fit(self, features: Any, time: npt.ArrayLike, event: npt.ArrayLike) -> BootstrapSurvival:
        t = np.asarray(time, dtype=np.float64)
        e = np.asarray(event, dtype=bool)
        self.model_.fit(features, t, e)
        rng = np.random.default_rng(self.seed)
        self.refits_ = []
        n = len(features)
        for b in range(self.replicates):
            rows = rng.integers(0, n, n)
            refit = SurvivalModel(self.name, random_state=self.seed + 1 + b, **self.params)
            self.refits_.append(refit.fit(features.iloc[rows], t[rows], e[rows]))
        return self

    def predict(
        self, features: Any, times: Sequence[float] | FloatArray, level: float = 0.9
    ) -> SurvivalPrediction:
        """Survival at ``times`` for each row, with the bootstrap ``level`` interval."""
        if not 0 < level < 1:
            raise InvalidParameterError(f"level must be in (0, 1), got {level}")
        grid = np.asarray(times, dtype=np.float64)
        point = self.model_.predict_survival(features, grid)
        draws = np.stack([m.predict_survival(features, grid) for m in self.refits_])
        low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return SurvivalPrediction(grid, point, low, high, level)

    def predict_risk(self, features: Any) -> FloatArray:
        """The full-data model's risk score (higher: earlier event)."""
        return self.model_.predict_risk(features)
