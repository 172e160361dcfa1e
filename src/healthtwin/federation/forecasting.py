"""The glucose forecaster trained across sites: ridge regression of the change ahead.

The hybrid forecaster of :mod:`~healthtwin.prognosis.hybrid` learns, from device-side
features (the last CGM reading and its slopes, insulin and carbohydrate on board; built by
:mod:`~healthtwin.prognosis.forecast_features`), what a glucose twin's forecast misses
``h`` minutes ahead; the pure-ML variant learns the change from the last reading. Here the
same learning problem is a :class:`~healthtwin.federation.models.FederatedModel`, so sites
(clinics holding their own patients' traces) train it together with FedAvg/FedProx:

- :class:`GlucoseRidge`: one linear model per horizon, ``theta = (b_h, w_h)`` for each
  horizon ``h``; the site loss is
  ``1/2 mean_i sum_h ((y_ih - b_h - x_i'w_h) / s)^2 + l2/2 sum_h |w_h|^2``, with the target
  ``y_ih = observed_i(t + h) - anchor_ih`` in mg/dL and ``s`` (``scale_mg_dl``) a fixed
  scale that keeps gradient steps well sized. With weights ``n_k / N`` the site losses sum
  to the pooled ridge loss, so FedAvg converges to the central ridge fit (the quadratic
  loss has one minimum); :func:`~healthtwin.federation.models.fit_central` is the reference.
- :func:`forecast_site_data`: a site's points as :class:`~healthtwin.federation.sites.SiteData`
  (features encoded with shared statistics, :func:`standardize` or :func:`whiten`;
  target = observed minus anchor: the twin's forecast for the hybrid model, the last
  reading for pure ML).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError
from healthtwin.federation.sites import SiteData

__all__ = ["GlucoseRidge", "forecast_site_data", "standardize", "whiten"]


@dataclass(frozen=True)
class GlucoseRidge:
    """Ridge regression of the glucose change at each horizon (module docstring).

    Attributes
    ----------
    horizons_min : tuple of float
        The forecast horizons (one output each), minutes.
    l2 : float
        Ridge penalty on the weights (not the intercepts).
    scale_mg_dl : float
        Scale ``s`` of the target in the loss (predictions stay in mg/dL).

    Examples
    --------
    >>> x = np.array([[-1.0], [1.0]])
    >>> data = SiteData(x, np.zeros(2), np.zeros(2, bool), target=np.array([[-50.0], [50.0]]))
    >>> model = GlucoseRidge(horizons_min=(30.0,), l2=0.0)
    >>> loss, grad = model.loss_and_gradient(np.zeros(2), data)
    >>> loss, grad.tolist()
    (0.5, [0.0, -1.0])
    """

    horizons_min: tuple[float, ...] = (30.0, 60.0)
    l2: float = 1e-3
    scale_mg_dl: float = 50.0
    name: str = "glucose-ridge"

    def __post_init__(self) -> None:
        if not self.horizons_min or not self.scale_mg_dl > 0.0 or not self.l2 >= 0.0:
            raise InvalidParameterError(
                f"horizons_min = {self.horizons_min}, scale_mg_dl = {self.scale_mg_dl}, l2 = "
                f"{self.l2}; give at least one horizon, a positive scale and l2 >= 0"
            )

    def n_parameters(self, n_features: int) -> int:
        return len(self.horizons_min) * (n_features + 1)

    def _coefficients(self, theta: FloatArray, n_features: int) -> FloatArray:
        expected = self.n_parameters(n_features)
        if theta.shape != (expected,):
            raise ShapeError(
                f"theta has shape {theta.shape}; {len(self.horizons_min)} horizons and "
                f"{n_features} features need ({expected},)"
            )
        return theta.reshape(len(self.horizons_min), n_features + 1)

    def predict(self, theta: FloatArray, features: FloatArray) -> FloatArray:
        """Forecast change from the anchor, ``(n, H)`` in mg/dL."""
        coef = self._coefficients(theta, features.shape[1])
        return np.asarray((coef[:, 0] + features @ coef[:, 1:].T) * self.scale_mg_dl)

    def risk_score(self, theta: FloatArray, features: FloatArray) -> FloatArray:
        """Forecast change at the first horizon, ``(n,)`` (higher: glucose rising)."""
        return np.asarray(self.predict(theta, features)[:, 0], dtype=np.float64)

    def _target(self, data: SiteData) -> FloatArray:
        if data.target is None:
            raise InvalidParameterError(
                f"site {data.name!r} holds no regression target; build it with forecast_site_data"
            )
        target = data.target.reshape(data.n_patients, -1)
        if target.shape[1] != len(self.horizons_min):
            raise ShapeError(
                f"site {data.name!r}: target has {target.shape[1]} columns for "
                f"{len(self.horizons_min)} horizons {self.horizons_min}"
            )
        return target

    def loss_and_gradient(self, theta: FloatArray, data: SiteData) -> tuple[float, FloatArray]:
        coef = self._coefficients(theta, data.features.shape[1])
        x = data.features
        residual = coef[:, 0] + x @ coef[:, 1:].T - self._target(data) / self.scale_mg_dl
        n = data.n_patients
        weights = coef[:, 1:]
        loss = 0.5 * float(np.sum(residual**2)) / n + 0.5 * self.l2 * float(np.sum(weights**2))
        grad = np.column_stack([residual.sum(axis=0) / n, residual.T @ x / n + self.l2 * weights])
        return loss, grad.ravel()

    def evaluate(self, theta: FloatArray, data: SiteData) -> dict[str, float]:
        """Root mean squared error per horizon, mg/dL (``rmse_<h>_min``)."""
        error = self.predict(theta, data.features) - self._target(data)
        rmse = np.sqrt(np.mean(error**2, axis=0))
        return {f"rmse_{h:g}_min": float(r) for h, r in zip(self.horizons_min, rmse, strict=True)}


def standardize(features: npt.ArrayLike, mean: npt.ArrayLike, std: npt.ArrayLike) -> FloatArray:
    """``(features - mean) / std`` column-wise; a zero ``std`` leaves the column centred.

    The means and standard deviations are shared by all sites (from federated analytics,
    or treated as public), so every site encodes its features the same way.

    Examples
    --------
    >>> standardize([[1.0, 5.0], [3.0, 5.0]], [2.0, 5.0], [1.0, 0.0]).tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    x = np.asarray(features, dtype=np.float64)
    scale = np.asarray(std, dtype=np.float64)
    return np.asarray((x - np.asarray(mean, np.float64)) / np.where(scale > 0, scale, 1.0))


def whiten(features: npt.ArrayLike, mean: npt.ArrayLike, covariance: npt.ArrayLike) -> FloatArray:
    """Decorrelate features with a shared covariance: ``(x - mean) V diag(1/sqrt(l))``.

    ``V`` and ``l`` are the eigenvectors and eigenvalues of ``covariance``; directions with
    ``l`` below ``1e-12`` of the largest are dropped. The forecast features are strongly
    correlated (a reading and its slopes; insulin on board over two time constants), so the
    ridge loss is badly conditioned on them (condition number in the thousands) and
    gradient steps crawl; on whitened features every direction has unit curvature and a
    few local steps per round suffice. Like the means, the covariance is shared by all
    sites (a sum of ``x x'`` is a federated-analytics aggregate).

    Examples
    --------
    >>> x = np.array([[0.0, 0.0], [2.0, 2.0], [1.0, 3.0], [3.0, 1.0]])
    >>> z = whiten(x, x.mean(axis=0), np.cov(x.T, bias=True))
    >>> np.round(np.cov(z.T, bias=True), 12).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    x = np.asarray(features, dtype=np.float64)
    values, vectors = np.linalg.eigh(np.asarray(covariance, dtype=np.float64))
    keep = values > 1e-12 * values.max()
    return np.asarray(
        (x - np.asarray(mean, np.float64)) @ (vectors[:, keep] / np.sqrt(values[keep]))
    )


def forecast_site_data(
    features: npt.ArrayLike,
    observed_mg_dl: npt.ArrayLike,
    anchor_mg_dl: npt.ArrayLike,
    name: str = "site",
) -> SiteData:
    """A site's forecast points: standardized features and the change to learn.

    Parameters
    ----------
    features : array_like, shape (n, d)
        Encoded (standardized) features.
    observed_mg_dl : array_like, shape (n, H)
        The CGM reading at each horizon.
    anchor_mg_dl : array_like, shape (n,) or (n, H)
        What the model corrects: the twin's forecast (hybrid) or the last reading (ML).
    name : str
        The site's name.

    Examples
    --------
    >>> site = forecast_site_data([[0.0], [1.0]], [[110.0], [90.0]], [100.0, 100.0])
    >>> site.target.tolist()
    [[10.0], [-10.0]]
    """
    x = np.asarray(features, dtype=np.float64)
    observed = np.asarray(observed_mg_dl, dtype=np.float64)
    anchor = np.asarray(anchor_mg_dl, dtype=np.float64)
    if observed.ndim != 2 or x.ndim != 2 or observed.shape[0] != x.shape[0]:
        raise ShapeError(
            f"features {x.shape} and observed {observed.shape} must be (n, d) and (n, H)"
        )
    if anchor.ndim == 1:
        anchor = anchor[:, None]
    if anchor.shape not in {(x.shape[0], 1), observed.shape}:
        raise ShapeError(f"anchor has shape {anchor.shape}; give (n,) or (n, H)")
    n = x.shape[0]
    return SiteData(x, np.zeros(n), np.zeros(n, np.bool_), name, observed - anchor)
