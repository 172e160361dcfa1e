"""Profile likelihood: what the data say about one parameter, the others re-optimized.

For each value on a grid of one parameter, every other parameter is re-fitted (batched
Levenberg-Marquardt over patients x grid points). The likelihood-ratio interval is where
the profile stays within ``chi2_1(level) / 2`` of its minimum (Venzon & Moolgavkar 1988;
Raue et al., Bioinformatics 2009); a side that never rises that far inside the grid is
unbounded, and a parameter with an unbounded side is not identifiable from these data
(practically, if the profile rises only slowly; structurally, if it is flat).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from healthtwin.assimilation.calibration import MapFit
from healthtwin.assimilation.least_squares import levenberg_marquardt
from healthtwin.assimilation.likelihood import CalibrationProblem
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidParameterError

__all__ = ["Profile", "profile_likelihood"]


@dataclass(frozen=True)
class Profile:
    """A profile per patient on a common grid of one parameter.

    Attributes
    ----------
    name
        The profiled parameter.
    grid
        Its values, natural units, ``(G,)`` increasing.
    objective
        Profile negative log-likelihood (or posterior) per patient and grid point,
        ``(patients, G)``.
    minimum
        The unconstrained minimum per patient, ``(patients,)``.
    """

    name: str
    grid: FloatArray
    objective: FloatArray
    minimum: FloatArray

    @property
    def ratio(self) -> FloatArray:
        """``objective - minimum`` (half the likelihood-ratio statistic), ``(patients, G)``."""
        return np.asarray(np.maximum(self.objective - self.minimum[:, None], 0.0))

    def interval(self, level: float = 0.95) -> FloatArray:
        """Likelihood-ratio interval per patient, ``(patients, 2)``; NaN marks an open side."""
        if not 0 < level < 1:
            raise InvalidParameterError(f"level must be in (0, 1), got {level}")
        threshold = 0.5 * float(stats.chi2.ppf(level, 1))
        log_grid = np.log(self.grid)
        out = np.full((self.ratio.shape[0], 2), np.nan)
        for p, row in enumerate(self.ratio):
            best = int(np.argmin(row))
            for side, indices in enumerate((range(best, -1, -1), range(best, row.size))):
                previous = best
                for i in indices:
                    if row[i] > threshold:
                        # interpolate in log space between the last inside and first outside
                        f = (threshold - row[previous]) / (row[i] - row[previous])
                        out[p, side] = np.exp(
                            log_grid[previous] + f * (log_grid[i] - log_grid[previous])
                        )
                        break
                    previous = i
        return out

    def identifiable(self, level: float = 0.95) -> BoolArray:
        """Whether the interval is closed on both sides inside the grid, per patient."""
        return np.asarray(np.all(np.isfinite(self.interval(level)), axis=1))


def profile_likelihood(
    problem: CalibrationProblem,
    name: str,
    grid: FloatArray,
    *,
    rng: np.random.Generator,
    start: MapFit | None = None,
    include_prior: bool = False,
    max_iterations: int = 25,
) -> Profile:
    """Profile ``name`` over ``grid`` (natural units) for every patient of ``problem``.

    ``start`` (a MAP fit) seeds the other parameters; without it they start at the prior
    mean. ``include_prior=False`` profiles the likelihood alone (what the data say);
    ``True`` profiles the posterior.
    """
    col = problem.index(name)
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 3 or np.any(grid <= 0) or np.any(np.diff(grid) <= 0):
        raise InvalidParameterError(
            f"the grid of {name} needs >= 3 positive increasing values, got {grid.tolist()}"
        )
    patients, size, points = problem.n_patients, problem.n_parameters, grid.size
    seed = (
        start.log_estimate
        if start is not None
        else np.broadcast_to(problem.prior_log_mean, (patients, size))
    )
    theta = np.repeat(seed, points, axis=0)
    theta[:, col] = np.tile(np.log(grid), patients)
    rows = np.repeat(np.arange(patients), points)
    free = [j for j in range(size) if j != col]
    fixed = levenberg_marquardt(
        problem,
        rows,
        theta,
        rng,
        free=free,
        include_prior=include_prior,
        max_iterations=max_iterations,
    )
    objective = fixed.objective.reshape(patients, points)
    best = objective.argmin(axis=1)
    overall = levenberg_marquardt(
        problem,
        np.arange(patients),
        fixed.log_theta[np.arange(patients) * points + best],
        rng,
        include_prior=include_prior,
        max_iterations=max_iterations,
    )
    minimum = np.minimum(overall.objective, objective.min(axis=1))
    return Profile(name, grid, objective, minimum)
