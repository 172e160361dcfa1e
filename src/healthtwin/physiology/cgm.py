"""Continuous glucose monitor (CGM) error model of Breton & Kovatchev (2008).

Breton M, Kovatchev B. Analysis, modeling, and simulation of the accuracy of continuous
glucose sensors. J Diabetes Sci Technol 2008;2(5):853-862. The sensor error ``eps`` is an
autocorrelated sequence with a Johnson SU marginal:

    e_k ~ N(0, 1) stationary AR(1) with corr(e_k, e_{k+m}) = PACF ** (m * dt / 15 min),
    eps_k = xi + lambda * sinh((e_k - gamma) / delta),
    reading_k = clip(glucose_k + eps_k, min, max).

The paper fitted the AR(1) on reference readings 15 minutes apart and wrote it as
``e_1 = v_1``, ``e_n = PACF * (e_{n-1} + v_n)`` with ``v_n ~ N(0, 1)`` i.i.d.; the Johnson
parameters were fitted to the marginal error distribution, i.e. for a standard normal
``e``. That recursion has the right autocorrelation but a marginal variance drifting from
1 to ``PACF**2 / (1 - PACF**2)`` (0.961 at PACF 0.7, 1.78 at 0.8). We keep the autocorrelation
and normalise the innovations instead, ``e_k = rho * e_{k-1} + sqrt(1 - rho**2) * v_k`` with
``e_1 = v_1``, so that every ``e_k`` is exactly N(0, 1) and every ``eps_k`` is exactly the
fitted Johnson SU for any PACF. The per-sample coefficient ``rho = PACF ** (dt / 15 min)``
is the exact discretisation of the same Gauss-Markov process on the device's grid, so a
3-minute sensor has the paper's correlation at a lag of 5 samples, not at 1.

With ``Z = gamma + delta * asinh((eps - xi) / lambda)`` standard normal, ``eps`` follows
``scipy.stats.johnsonsu(a=gamma, b=delta, loc=xi, scale=lambda)``. The default parameters
give a mean error of 0.76 mg/dL, the mean error the paper reports.

Device presets (sample time, reading range) are those of the simglucose simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from numbers import Real

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError

__all__ = ["CGM_PRESETS", "CGMParams", "CGMSensor", "cgm_params"]


@dataclass(frozen=True, slots=True)
class CGMParams:
    """Parameters of a CGM sensor (Breton & Kovatchev 2008 error model).

    Parameters
    ----------
    pacf
        Autocorrelation of the latent Gaussian sequence at a lag of ``pacf_lag_min``,
        in ``[0, 1)``.
    johnson_gamma, johnson_delta, johnson_lambda, johnson_xi
        Johnson SU parameters: ``eps = xi + lambda * sinh((e - gamma) / delta)``, in mg/dL
        for ``xi`` and ``lambda``; ``delta`` and ``lambda`` positive.
    sample_time_min
        Minutes between two readings (positive).
    min_mg_dl, max_mg_dl
        Reading range of the device; readings are clipped to it.
    pacf_lag_min
        Lag at which ``pacf`` was estimated (15 minutes in the paper).

    Raises
    ------
    InvalidParameterError
        If a value is non-finite or outside its domain.

    Examples
    --------
    >>> params = CGMParams(sample_time_min=5.0)
    >>> round(params.step_correlation, 4)  # 0.7 ** (5 / 15)
    0.8879
    >>> round(params.noise_mean_mg_dl, 2), round(params.noise_sd_mg_dl, 2)
    (0.76, 12.06)
    """

    pacf: float = 0.7
    johnson_gamma: float = -0.5444
    johnson_delta: float = 1.6898
    johnson_lambda: float = 15.9574
    johnson_xi: float = -5.47
    sample_time_min: float = 3.0
    min_mg_dl: float = 39.0
    max_mg_dl: float = 600.0
    pacf_lag_min: float = 15.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, Real):
                raise InvalidParameterError(
                    f"CGMParams.{field.name} must be a number, got {type(value).__name__} {value!r}"
                )
            if not math.isfinite(value):
                raise InvalidParameterError(
                    f"CGMParams.{field.name} must be a finite number, got {value!r}"
                )
        if not 0.0 <= self.pacf < 1.0:
            raise InvalidParameterError(
                f"CGMParams.pacf must lie in [0, 1), got {self.pacf!r}; the paper's value is 0.7"
            )
        for name in ("johnson_delta", "johnson_lambda", "sample_time_min", "pacf_lag_min"):
            if getattr(self, name) <= 0.0:
                raise InvalidParameterError(
                    f"CGMParams.{name} must be positive, got {getattr(self, name)!r}"
                )
        if not 0.0 <= self.min_mg_dl < self.max_mg_dl:
            raise InvalidParameterError(
                f"CGMParams needs 0 <= min_mg_dl < max_mg_dl, got min_mg_dl={self.min_mg_dl!r} "
                f"and max_mg_dl={self.max_mg_dl!r}; e.g. 39 and 600"
            )

    @property
    def step_correlation(self) -> float:
        """Correlation of the latent sequence between two consecutive readings."""
        return float(self.pacf ** (self.sample_time_min / self.pacf_lag_min))

    @property
    def noise_mean_mg_dl(self) -> float:
        """Mean of the (unclipped) sensor error, from the Johnson SU moments."""
        w = math.exp(1.0 / self.johnson_delta**2)
        shift = math.sinh(self.johnson_gamma / self.johnson_delta)
        return self.johnson_xi - self.johnson_lambda * math.sqrt(w) * shift

    @property
    def noise_sd_mg_dl(self) -> float:
        """Standard deviation of the (unclipped) sensor error, from the Johnson SU moments."""
        w = math.exp(1.0 / self.johnson_delta**2)
        spread = w * math.cosh(2.0 * self.johnson_gamma / self.johnson_delta) + 1.0
        return self.johnson_lambda * math.sqrt(0.5 * (w - 1.0) * spread)


CGM_PRESETS: dict[str, CGMParams] = {
    "dexcom": CGMParams(sample_time_min=3.0, min_mg_dl=39.0, max_mg_dl=600.0),
    "guardian-rt": CGMParams(sample_time_min=5.0, min_mg_dl=39.0, max_mg_dl=600.0),
    "navigator": CGMParams(sample_time_min=1.0, min_mg_dl=32.0, max_mg_dl=600.0),
}
"""Device presets: Breton & Kovatchev (2008) noise, simglucose's sample times and ranges."""


def cgm_params(name: str) -> CGMParams:
    """The preset parameters of the CGM device called ``name``.

    Raises
    ------
    UnknownModelError
        If ``name`` is not a key of :data:`CGM_PRESETS`; the message lists the valid names.

    Examples
    --------
    >>> cgm_params("navigator").sample_time_min
    1.0
    """
    try:
        return CGM_PRESETS[name]
    except KeyError as err:
        raise UnknownModelError(
            f"unknown CGM device {name!r}; valid names are {sorted(CGM_PRESETS)}"
        ) from err


class CGMSensor:
    """A CGM sensor adding Breton & Kovatchev (2008) error to glucose traces.

    Each patient (row) gets its own independent noise sequence. All randomness comes from
    the generator passed in: the same generator state gives the same readings.

    Parameters
    ----------
    params
        Sensor parameters, e.g. ``cgm_params("dexcom")``.

    Examples
    --------
    >>> sensor = CGMSensor(cgm_params("dexcom"))
    >>> glucose = np.full((2, 480), 120.0)  # two patients, one day every 3 minutes
    >>> readings = sensor.measure(glucose, np.random.default_rng(0))
    >>> readings.shape
    (2, 480)
    >>> bool(np.all((readings >= 39.0) & (readings <= 600.0)))
    True
    """

    def __init__(self, params: CGMParams) -> None:
        if not isinstance(params, CGMParams):
            raise InvalidParameterError(
                f"params must be a CGMParams, got {type(params).__name__}; "
                "use e.g. cgm_params('dexcom')"
            )
        self.params = params

    def __repr__(self) -> str:
        return f"CGMSensor({self.params!r})"

    def latent(self, n_patients: int, n_samples: int, rng: np.random.Generator) -> FloatArray:
        """The latent stationary AR(1) sequences ``e``, shape ``(n_patients, n_samples)``.

        Every entry is marginally N(0, 1); consecutive entries of a row have correlation
        :attr:`CGMParams.step_correlation`; rows are independent.
        """
        _check_sizes(n_patients, n_samples)
        _check_rng(rng)
        rho = self.params.step_correlation
        innovations = rng.standard_normal((n_patients, n_samples))
        driven = math.sqrt(1.0 - rho**2) * innovations
        # Start each row from the stationary law so that the sequence is stationary from k = 0.
        driven[:, :1] = innovations[:, :1]
        return np.asarray(lfilter([1.0], [1.0, -rho], driven, axis=1), dtype=np.float64)

    def noise(self, n_patients: int, n_samples: int, rng: np.random.Generator) -> FloatArray:
        """Sensor errors ``eps`` in mg/dL, shape ``(n_patients, n_samples)``, unclipped."""
        return self._johnson(self.latent(n_patients, n_samples, rng))

    def measure(self, glucose_mg_dl: npt.ArrayLike, rng: np.random.Generator) -> FloatArray:
        """Sensor readings of glucose traces sampled on the sensor's grid.

        Parameters
        ----------
        glucose_mg_dl
            True (interstitial) glucose in mg/dL at the sensor's sample times, shape
            ``(n_patients, n_samples)``; a 1-D array is one patient.
        rng
            Source of the noise.

        Returns
        -------
        FloatArray
            Readings clipped to the device range, the same shape as ``glucose_mg_dl``.

        Raises
        ------
        InvalidInputError
            If ``glucose_mg_dl`` is not 1-D or 2-D, is empty, or holds non-finite values.
        """
        glucose = np.asarray(glucose_mg_dl, dtype=np.float64)
        if glucose.ndim not in (1, 2) or glucose.size == 0:
            raise InvalidInputError(
                f"glucose_mg_dl must be a non-empty (n_patients, n_samples) array, got shape "
                f"{glucose.shape}; pass one row per patient on the sensor's sample grid"
            )
        if not np.isfinite(glucose).all():
            raise InvalidInputError(
                "glucose_mg_dl holds NaN or infinite values; the sensor needs the true "
                "glucose at every sample time"
            )
        matrix = np.atleast_2d(glucose)
        readings = matrix + self.noise(matrix.shape[0], matrix.shape[1], rng)
        clipped = np.clip(readings, self.params.min_mg_dl, self.params.max_mg_dl)
        return clipped.reshape(glucose.shape)

    def _johnson(self, latent: FloatArray) -> FloatArray:
        p = self.params
        return p.johnson_xi + p.johnson_lambda * np.sinh(
            (latent - p.johnson_gamma) / p.johnson_delta
        )


def _check_sizes(n_patients: int, n_samples: int) -> None:
    for name, value in (("n_patients", n_patients), ("n_samples", n_samples)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")


def _check_rng(rng: object) -> None:
    if not isinstance(rng, np.random.Generator):
        raise InvalidInputError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}; "
            "pass e.g. np.random.default_rng(seed)"
        )
