"""Batched Levenberg-Marquardt on a :class:`CalibrationProblem`.

Every row of ``log_theta`` is its own problem (a patient and a start, or a patient and a
profile point); one iteration costs one batched model run for all rows. Columns outside
``free`` stay fixed, which is what a profile likelihood needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthtwin.assimilation.likelihood import CalibrationProblem
from healthtwin.core.types import FloatArray, IntArray

__all__ = ["LeastSquaresResult", "levenberg_marquardt"]


@dataclass(frozen=True)
class LeastSquaresResult:
    """Per row: the optimum, the objective there, its Jacobian and the last relative change."""

    log_theta: FloatArray
    objective: FloatArray
    jacobian: FloatArray
    change: FloatArray

    def covariance(self) -> FloatArray:
        """Gauss-Newton (Laplace) covariance of the free parameters, ``(n, k, k)``."""
        jtj = self.jacobian.transpose(0, 2, 1) @ self.jacobian
        return np.asarray(np.linalg.pinv(jtj, hermitian=True))


def levenberg_marquardt(
    problem: CalibrationProblem,
    patients: IntArray,
    log_theta: FloatArray,
    rng: np.random.Generator,
    *,
    free: Sequence[int] | None = None,
    include_prior: bool = True,
    max_iterations: int = 25,
    tolerance: float = 1e-8,
) -> LeastSquaresResult:
    """Minimize ``0.5 |residuals|^2`` for every row, moving only the ``free`` columns."""
    theta = np.array(log_theta, dtype=np.float64)
    cols = list(range(theta.shape[1]) if free is None else free)
    k = len(cols)

    def evaluate(point: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        resid, jac = problem.residuals_and_jacobian(
            patients, point, cols, rng, include_prior=include_prior
        )
        return 0.5 * np.sum(resid**2, axis=1), resid, jac

    objective, resid, jac = evaluate(theta)
    damping = np.full(theta.shape[0], 1e-2)
    change = np.full(theta.shape[0], np.inf)
    for _ in range(max_iterations if k else 0):
        jtj = jac.transpose(0, 2, 1) @ jac
        grad = np.einsum("tkl,tk->tl", jac, resid)
        lhs = jtj + damping[:, None, None] * np.eye(k)
        step = -np.linalg.solve(lhs, grad[:, :, None])[:, :, 0]
        candidate = theta.copy()
        candidate[:, cols] += step
        new_objective, new_resid, new_jac = evaluate(candidate)
        better = new_objective < objective
        change = np.where(
            better, (objective - new_objective) / np.maximum(objective, 1e-12), change
        )
        theta = np.where(better[:, None], candidate, theta)
        objective = np.where(better, new_objective, objective)
        resid = np.where(better[:, None], new_resid, resid)
        jac = np.where(better[:, None, None], new_jac, jac)
        damping = np.where(better, damping / 3.0, damping * 4.0)
        if np.all(change < tolerance):
            break
    return LeastSquaresResult(theta, objective, jac, change)
