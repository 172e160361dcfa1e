"""Vital signs as observations of a patient model: bedside-monitor sensors with noise.

A :class:`VitalSignsObservation` maps a model's outputs to the vital signs a monitor shows
(heart rate, systolic and mean arterial pressure, ...), adds the device's measurement error,
rounds to its display resolution and clips to its range. It is an
:class:`~healthtwin.core.protocols.ObservationModel`, so the same object scores how likely
a real reading is (for assimilation) and simulates readings (for forecasts and training).

Sensor accuracy is taken from the standards devices are certified against, read as the
largest error they allow:

- non-invasive blood pressure, ISO 81060-2:2018 (and AAMI SP10): mean error within
  +/-5 mmHg and standard deviation at most 8 mmHg: noise SD 8 mmHg;
- heart rate from the ECG, ANSI/AAMI EC13: within +/-10 % or +/-5 bpm, whichever is
  greater, read as two standard deviations: noise SD 2.5 bpm.

Models support the vitals they compute: ``cvs-smith`` gives heart rate, systolic and mean
arterial pressure. A NEWS2 score needs all seven parameters; :func:`vitals_for_news2`
takes the rest as explicit, stated assumptions and refuses to invent any.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from healthtwin.core.protocols import Model
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError
from healthtwin.physiology.vitals import Vitals

__all__ = [
    "ECG_HEART_RATE",
    "NIBP_MEAN",
    "NIBP_SYSTOLIC",
    "SENSORS_BY_MODEL",
    "VitalSensor",
    "VitalSignsObservation",
    "vital_signs_for",
    "vitals_for_news2",
]

NEWS2_FIELDS = (
    "respiratory_rate_per_min",
    "spo2_percent",
    "systolic_bp_mm_hg",
    "heart_rate_per_min",
    "temperature_c",
    "consciousness",
    "on_oxygen",
)


@dataclass(frozen=True)
class VitalSensor:
    """One vital sign read from one model output by a device with known error.

    Parameters
    ----------
    vital
        The vital's name as :class:`~healthtwin.physiology.vitals.Vitals` spells it
        (``"systolic_bp_mm_hg"``), or another name for vitals NEWS2 does not use.
    output
        The model output it reads (``"sbp_mmhg"``), in the vital's unit.
    noise_sd
        Standard deviation of the measurement error (>= 0).
    resolution
        Display resolution (> 0): readings are rounded to it.
    low, high
        The device's range: readings are clipped to it.
    bias
        Systematic error added to every reading.
    source
        Where the accuracy figure comes from.
    """

    vital: str
    output: str
    noise_sd: float
    resolution: float
    low: float
    high: float
    bias: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        numbers = (self.noise_sd, self.resolution, self.low, self.high, self.bias)
        if not all(np.isfinite(numbers)):
            raise InvalidParameterError(f"sensor {self.vital!r}: every number must be finite")
        if self.noise_sd < 0 or self.resolution <= 0 or not self.low < self.high:
            raise InvalidParameterError(
                f"sensor {self.vital!r}: need noise_sd >= 0, resolution > 0 and low < high, got "
                f"{self.noise_sd}, {self.resolution}, [{self.low}, {self.high}]"
            )


NIBP_SYSTOLIC = VitalSensor(
    "systolic_bp_mm_hg",
    "sbp_mmhg",
    8.0,
    1.0,
    20.0,
    300.0,
    source="ISO 81060-2:2018 / AAMI SP10: SD of error <= 8 mmHg",
)
NIBP_MEAN = VitalSensor(
    "mean_arterial_pressure_mm_hg",
    "map_mmhg",
    8.0,
    1.0,
    20.0,
    300.0,
    source="ISO 81060-2:2018 / AAMI SP10: SD of error <= 8 mmHg",
)
ECG_HEART_RATE = VitalSensor(
    "heart_rate_per_min",
    "heart_rate_bpm",
    2.5,
    1.0,
    15.0,
    300.0,
    source="ANSI/AAMI EC13: +/-10 % or +/-5 bpm, read as 2 SD",
)

#: Registered model name -> the bedside sensors its outputs support.
SENSORS_BY_MODEL: Mapping[str, tuple[VitalSensor, ...]] = {
    "cvs-smith": (ECG_HEART_RATE, NIBP_SYSTOLIC, NIBP_MEAN),
}


class VitalSignsObservation:
    """Bedside readings of a model's outputs (an observation model).

    Examples
    --------
    >>> from healthtwin.physiology.registry import make_model
    >>> model = make_model("cvs-smith")
    >>> monitor = vital_signs_for(model)
    >>> state = model.initial_state(1, np.random.default_rng(0))
    >>> monitor.names
    ('heart_rate_per_min', 'systolic_bp_mm_hg', 'mean_arterial_pressure_mm_hg')
    >>> monitor.predict(state).round(1).tolist()
    [[80.0, 116.5, 97.8]]
    """

    def __init__(self, model: Model[Any], sensors: Sequence[VitalSensor]) -> None:
        if not sensors:
            raise InvalidParameterError("a vital-signs observation needs at least one sensor")
        outputs = list(model.outputs)
        missing = [s.output for s in sensors if s.output not in outputs]
        if missing:
            raise UnknownModelError(
                f"model {model.name!r} has no output(s) {missing}; it has {outputs}"
            )
        self.model = model
        self.sensors = tuple(sensors)
        self._columns = np.array([outputs.index(s.output) for s in sensors])
        self._sd = np.array([s.noise_sd for s in sensors])
        self.noise_sd = self._sd
        self._bias = np.array([s.bias for s in sensors])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.vital for s in self.sensors)

    def predict(self, state: Any) -> FloatArray:
        """Expected readings (true value plus bias), shape ``(n, n_sensors)``."""
        return np.asarray(self.model.observe(state)[:, self._columns] + self._bias)

    def log_likelihood(self, state: Any, y: FloatArray) -> FloatArray:
        """Gaussian log density of readings ``y`` (shape ``(n_sensors,)``) per member.

        Sensors without noise (``noise_sd == 0``) are left out of the density.
        """
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (len(self.sensors),) or not np.all(np.isfinite(y)):
            raise InvalidInputError(
                f"readings must be {len(self.sensors)} finite numbers ({', '.join(self.names)})"
                f", got {y.tolist()}"
            )
        noisy = self._sd > 0
        z = (y[noisy] - self.predict(state)[:, noisy]) / self._sd[noisy]
        norm = np.sum(np.log(self._sd[noisy] * np.sqrt(2.0 * np.pi)))
        return np.asarray(-0.5 * np.sum(z * z, axis=1) - norm)

    def measure(self, state: Any, rng: np.random.Generator) -> FloatArray:
        """Simulated monitor readings: noise, display rounding and range, ``(n, k)``."""
        expected = self.predict(state)
        noisy = expected + rng.standard_normal(expected.shape) * self._sd
        res = np.array([s.resolution for s in self.sensors])
        low = np.array([s.low for s in self.sensors])
        high = np.array([s.high for s in self.sensors])
        return np.asarray(np.clip(np.round(noisy / res) * res, low, high))


def vital_signs_for(model: Model[Any]) -> VitalSignsObservation:
    """The bedside sensors a registered model supports (see :data:`SENSORS_BY_MODEL`)."""
    sensors = SENSORS_BY_MODEL.get(model.name)
    if sensors is None:
        raise UnknownModelError(
            f"model {model.name!r} computes no bedside vital sign; models with vitals: "
            f"{', '.join(SENSORS_BY_MODEL)}"
        )
    return VitalSignsObservation(model, sensors)


def vitals_for_news2(
    readings: Mapping[str, FloatArray], assumed: Mapping[str, Any] | None = None
) -> Vitals:
    """NEWS2 input from measured vitals plus explicitly assumed values for the others.

    Parameters
    ----------
    readings
        Vital name -> readings per observation (as :meth:`VitalSignsObservation.measure`
        gives them, one column per name).
    assumed
        Values for the NEWS2 parameters no model measured (``{"spo2_percent": 97, ...}``);
        every NEWS2 parameter must be either measured or assumed, never silently filled.

    Examples
    --------
    >>> v = vitals_for_news2(
    ...     {"systolic_bp_mm_hg": np.array([85.0]), "heart_rate_per_min": np.array([118.0])},
    ...     {"respiratory_rate_per_min": 18, "spo2_percent": 97, "temperature_c": 37.0,
    ...      "consciousness": "A", "on_oxygen": False},
    ... )
    >>> float(v.systolic_bp_mm_hg[0])
    85.0
    """
    assumed = dict(assumed or {})
    both = sorted(set(readings) & set(assumed))
    if both:
        raise InvalidInputError(f"{both} are both measured and assumed; give each once")
    lacking = [f for f in NEWS2_FIELDS if f not in readings and f not in assumed]
    if lacking:
        raise InvalidInputError(
            f"NEWS2 needs {lacking}, which no sensor measured; state them in `assumed` "
            "(a missing parameter would understate the risk)"
        )
    n = len(next(iter(readings.values()))) if readings else 1
    values: dict[str, Any] = {}
    for field in NEWS2_FIELDS:
        if field in readings:
            values[field] = np.asarray(readings[field], dtype=np.float64)
        elif field == "consciousness":
            values[field] = [assumed[field]] * n
        elif field == "on_oxygen":
            values[field] = np.full(n, bool(assumed[field]))
        else:
            values[field] = np.full(n, float(assumed[field]))
    extra = {k: v for k, v in assumed.items() if k == "spo2_scale"}
    return Vitals.from_arrays(**values, **extra)
