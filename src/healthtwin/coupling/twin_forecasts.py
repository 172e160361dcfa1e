"""A glucose twin running beside a controller, recording its forecasts as a device would.

:class:`TwinForecastRecorder` wraps any glucose controller: the closed-loop harness drives
it like the controller, and it keeps a :class:`~healthtwin.control.twin_predictor.GlucoseTwin`
in sync with what the device sees (CGM readings, announced meals, delivered insulin)
without changing any decision. Every ``every_min`` minutes it asks the twin for the sensed
glucose at each horizon with the current basal rate held, and keeps the ensemble mean.

:func:`biased_patients` makes the twin's calibration deliberately imperfect: each
patient's insulin sensitivity (Vmx), glucose production (kp1) and gut absorption rate
(kabs) are scaled by mean-1 log-normal factors drawn once per patient.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable, Sequence

import numpy as np

from healthtwin.control.glucose import GlucoseController, InsulinDecision, Reading, TherapySettings
from healthtwin.control.twin_predictor import GlucoseTwin
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.uva_padova import UvaPadovaPatient

__all__ = ["BIASED_PARAMETERS", "TwinForecastRecorder", "biased_patients"]

#: Parameters whose calibration :func:`biased_patients` perturbs.
BIASED_PARAMETERS = ("Vmx", "kp1", "kabs")


def biased_patients(
    rows: Sequence[UvaPadovaPatient], cv: float, seed: int = 0
) -> list[UvaPadovaPatient]:
    """Copies of ``rows`` with Vmx, kp1 and kabs each scaled by a mean-1 log-normal factor.

    Each patient's factors are drawn from a stream seeded by ``seed`` and the patient's
    name, so a patient gets the same calibration error in any cohort.

    Examples
    --------
    >>> from healthtwin.physiology import load_patient
    >>> row = load_patient("nominal-adult")
    >>> off = biased_patients([row], 0.2)[0]
    >>> bool(off.params.Vmx[0] != row.params.Vmx[0]), bool(off.params.BW[0] == row.params.BW[0])
    (True, True)
    >>> bool(biased_patients([row], 0.2)[0].params.Vmx[0] == off.params.Vmx[0])
    True
    """
    if not 0 <= cv < 1:
        raise InvalidParameterError(f"the prior bias CV must be in [0, 1), got {cv}")
    sigma = np.sqrt(np.log1p(cv**2))
    out = []
    for row in rows:
        rng = np.random.default_rng([seed, zlib.crc32(row.name.encode())])
        factor = np.exp(rng.normal(-0.5 * sigma**2, sigma, len(BIASED_PARAMETERS)))
        changes = {
            name: np.asarray(getattr(row.params, name)) * f
            for name, f in zip(BIASED_PARAMETERS, factor, strict=True)
        }
        out.append(dataclasses.replace(row, params=dataclasses.replace(row.params, **changes)))
    return out


class TwinForecastRecorder:
    """A controller wrapper that keeps a twin in sync beside it and records its forecasts.

    Parameters
    ----------
    inner
        The controller that decides; its decisions pass through unchanged.
    build_twin
        ``(settings, t0_min) -> GlucoseTwin``, called at :meth:`start`
        (e.g. :func:`~healthtwin.coupling.closed_loop.uva_padova_twin_factory`).
    horizons_min
        Forecast horizons, minutes (positive).
    every_min
        Minutes between forecasts; a forecast is made after each delivery at a multiple.

    Attributes
    ----------
    announced
        The announced carbohydrate of every reading, one ``(n,)`` array per reading.
    forecasts
        ``{t_min: (n, len(horizons_min))}``: the ensemble-mean sensed glucose, mg/dL.

    Examples
    --------
    >>> from healthtwin.control.basal_bolus import BasalBolus
    >>> from healthtwin.coupling.closed_loop import therapy_settings, uva_padova_twin_factory
    >>> from healthtwin.physiology import load_patient
    >>> rows = [load_patient("nominal-adult")]
    >>> recorder = TwinForecastRecorder(BasalBolus(), uva_padova_twin_factory(rows), (30, 60), 15)
    >>> recorder.start(therapy_settings(rows), 0.0)
    >>> decision = recorder.decide(Reading(0.0, np.array([120.0]), np.array([0.0])))
    >>> recorder.record(0.0, decision)
    >>> recorder.forecasts[0.0].shape
    (1, 2)
    """

    def __init__(
        self,
        inner: GlucoseController,
        build_twin: Callable[[TherapySettings, float], GlucoseTwin],
        horizons_min: Sequence[float],
        every_min: float,
    ) -> None:
        if not horizons_min or min(horizons_min) <= 0 or every_min <= 0:
            raise InvalidParameterError(
                f"need positive horizons and forecast interval, got {tuple(horizons_min)} "
                f"and {every_min} min"
            )
        self.inner, self.build_twin = inner, build_twin
        self.name = inner.name
        self.horizons_min = tuple(float(h) for h in horizons_min)
        self.every_min = float(every_min)
        self._step_min = float(np.gcd.reduce([round(h) for h in self.horizons_min]))
        if any(abs(h / self._step_min - round(h / self._step_min)) > 1e-9 for h in horizons_min):
            raise InvalidParameterError(
                f"horizons {self.horizons_min} must be whole minutes; round them"
            )
        self.announced: list[FloatArray] = []
        self.forecasts: dict[float, FloatArray] = {}
        self._twin: GlucoseTwin | None = None

    def _require(self) -> GlucoseTwin:
        if self._twin is None:
            raise InvalidInputError(f"{self.name}: call start(settings, t0) before decide()")
        return self._twin

    def start(self, settings: TherapySettings, t0_min: float) -> None:
        self.inner.start(settings, t0_min)
        self._twin = self.build_twin(settings, t0_min)
        self.announced, self.forecasts = [], {}

    def decide(self, reading: Reading) -> InsulinDecision:
        self._require().assimilate(reading)
        self.announced.append(reading.announced_carbs_g)
        return self.inner.decide(reading)

    def record(self, t_min: float, delivered: InsulinDecision) -> None:
        twin = self._require()
        self.inner.record(t_min, delivered)
        twin.record(t_min, delivered)
        if abs(t_min / self.every_min - round(t_min / self.every_min)) > 1e-9:
            return
        longest, step = max(self.horizons_min), self._step_min
        basal = delivered.basal_u_per_min
        sensed = twin.forecast(basal[:, None], longest, basal, longest, step)
        mean = sensed[:, 0].mean(axis=1)  # over members: (n, steps)
        self.forecasts[t_min] = mean[:, [round(h / step) - 1 for h in self.horizons_min]]
