"""Basal-bolus therapy: what a person with type-1 diabetes on a pump does by hand.

Equivalent to simglucose's ``BBController``: the basal rate that holds fasting glucose
steady, and at each announced meal a bolus of ``carbs / CR`` plus, when glucose is above
150 mg/dL, a correction ``(glucose - target) / CF`` with target 140 mg/dL.
"""

from __future__ import annotations

import numpy as np

from healthtwin.control.glucose import InsulinDecision, Reading, TherapySettings
from healthtwin.errors import InvalidInputError

__all__ = ["BasalBolus"]


class BasalBolus:
    """Fixed basal, meal boluses with a correction above ``correct_above_mg_dl``.

    Examples
    --------
    >>> settings = TherapySettings(np.array([0.02]), np.array([10.0]), np.array([40.0]),
    ...                            np.array([40.0]))
    >>> bb = BasalBolus()
    >>> bb.start(settings, 0.0)
    >>> d = bb.decide(Reading(0.0, np.array([180.0]), np.array([50.0])))
    >>> float(d.bolus_u[0])  # 50 g / 10 + (180 - 140) / 40
    6.0
    """

    name = "basal-bolus"

    def __init__(self, target_mg_dl: float = 140.0, correct_above_mg_dl: float = 150.0) -> None:
        self.target_mg_dl = target_mg_dl
        self.correct_above_mg_dl = correct_above_mg_dl
        self._settings: TherapySettings | None = None

    def start(self, settings: TherapySettings, t0_min: float) -> None:
        self._settings = settings

    def _require(self) -> TherapySettings:
        if self._settings is None:
            raise InvalidInputError(f"{self.name}: call start(settings, t0) before decide()")
        return self._settings

    def decide(self, reading: Reading) -> InsulinDecision:
        s = self._require()
        g = reading.cgm_mg_dl
        meal = reading.announced_carbs_g > 0
        correction = np.where(
            g > self.correct_above_mg_dl,
            (g - self.target_mg_dl) / s.correction_factor_mg_dl_per_u,
            0.0,
        )
        bolus = np.where(meal, reading.announced_carbs_g / s.carb_ratio_g_per_u + correction, 0.0)
        return InsulinDecision(s.basal_u_per_min.copy(), np.maximum(bolus, 0.0))

    def record(self, t_min: float, delivered: InsulinDecision) -> None:
        """Basal-bolus therapy does not look back."""
