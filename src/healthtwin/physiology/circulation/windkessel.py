"""Two-, three- and four-element Windkessel models of the arterial tree, batched over members.

After Westerhof, Lankhaar & Westerhof, "The arterial Windkessel", Med Biol Eng Comput
47:131-141 (2009). With aortic inflow ``Q(t)`` (mL/s), peripheral resistance ``R``
(mmHg s/mL), compliance ``C`` (mL/mmHg), characteristic impedance ``Zc`` (mmHg s/mL) and
inertance ``L`` (mmHg s^2/mL), the aortic pressure ``P`` (mmHg) follows

- 2 elements: ``C dP/dt = Q - P / R``;
  ``Z(w) = R / (1 + j w R C)``.
- 3 elements: ``P = Zc Q + P_c``, ``C dP_c/dt = Q - P_c / R``;
  ``Z(w) = Zc + R / (1 + j w R C)``.
- 4 elements with the inertance **in parallel** with ``Zc`` (the form Westerhof et al.
  2009 recommend, since ``Z`` then tends to ``Zc`` at high frequency): flow ``Q_L`` through
  ``L``, ``L dQ_L/dt = Zc (Q - Q_L)``, ``P = Zc (Q - Q_L) + P_c``, ``C dP_c/dt = Q - P_c / R``;
  ``Z(w) = j w L Zc / (Zc + j w L) + R / (1 + j w R C)``.

The inflow is a half-sine ejection per beat (:class:`HalfSineEjection`). Integration is
classic RK4 in seconds with the inflow evaluated at the stage times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from healthtwin.core.params import Parameters
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError

__all__ = ["HalfSineEjection", "Windkessel", "WindkesselParameters", "WindkesselTrace"]


@dataclass(frozen=True, kw_only=True)
class WindkesselParameters(Parameters):
    """Windkessel elements (units in ``units``); ``Zc`` and ``L`` unused by fewer elements."""

    R: float | FloatArray  # peripheral resistance, mmHg s/mL
    C: float | FloatArray  # total arterial compliance, mL/mmHg
    Zc: float | FloatArray = 0.0  # characteristic impedance of the aorta, mmHg s/mL
    L: float | FloatArray = 0.0  # total arterial inertance, mmHg s^2/mL

    positive: ClassVar[frozenset[str]] = frozenset({"R", "C"})
    nonnegative: ClassVar[frozenset[str]] = frozenset({"Zc", "L"})
    units: ClassVar[dict[str, str]] = {
        "R": "mmHg*s/mL",
        "C": "mL/mmHg",
        "Zc": "mmHg*s/mL",
        "L": "mmHg*s^2/mL",
    }


@dataclass(frozen=True)
class HalfSineEjection:
    """Aortic inflow ``Q = Q_max sin(pi tau / T_ej)`` for ``tau < T_ej`` of each beat, else 0.

    ``Q_max = pi SV / (2 T_ej)`` so that each beat ejects ``stroke_volume_ml``. Arrays give
    one value per member.

    Examples
    --------
    >>> q = HalfSineEjection(stroke_volume_ml=70.0, heart_rate_bpm=60.0, ejection_s=0.3)
    >>> round(float(q.mean_flow_ml_per_s()[0]), 6)
    70.0
    """

    stroke_volume_ml: float | FloatArray
    heart_rate_bpm: float | FloatArray
    ejection_s: float | FloatArray = 0.3

    def __post_init__(self) -> None:
        for name in ("stroke_volume_ml", "heart_rate_bpm", "ejection_s"):
            value = np.atleast_1d(np.asarray(getattr(self, name), dtype=np.float64))
            if not np.all(np.isfinite(value) & (value > 0)):
                raise InvalidParameterError(f"{name} must be positive, got {value.tolist()}")
            object.__setattr__(self, name, value)
        if np.any(self.ejection_s >= self.period_s):
            raise InvalidParameterError(
                f"ejection_s must be shorter than the beat (60 / heart_rate_bpm), got "
                f"{np.asarray(self.ejection_s).tolist()}"
            )

    @property
    def period_s(self) -> FloatArray:
        return np.asarray(60.0 / np.asarray(self.heart_rate_bpm))

    def flow_ml_per_s(self, t_s: float) -> FloatArray:
        """Inflow at time ``t_s`` (s) per member, shape ``(m,)``."""
        tau = np.mod(t_s, self.period_s)
        t_ej = np.asarray(self.ejection_s)
        q_max = math.pi * np.asarray(self.stroke_volume_ml) / (2.0 * t_ej)
        return np.asarray(np.where(tau < t_ej, q_max * np.sin(np.pi * tau / t_ej), 0.0))

    def mean_flow_ml_per_s(self) -> FloatArray:
        """Cycle-averaged inflow ``SV / T`` per member."""
        return np.asarray(np.asarray(self.stroke_volume_ml) / self.period_s)


@dataclass(frozen=True)
class WindkesselTrace:
    """Times ``(s,)``, aortic pressure ``(n, s)`` (mmHg) and inflow ``(n, s)`` (mL/s)."""

    t_s: FloatArray
    pressure_mmhg: FloatArray
    flow_ml_per_s: FloatArray


class Windkessel:
    """A Windkessel of 2, 3 or 4 elements (inertance in parallel with ``Zc``).

    Examples
    --------
    >>> wk = Windkessel(2, WindkesselParameters(R=1.0, C=1.5))
    >>> float(wk.total_resistance()[0]), complex(wk.input_impedance(0.0)[0])
    (1.0, (1+0j))
    """

    def __init__(self, elements: int, params: WindkesselParameters) -> None:
        if elements not in (2, 3, 4):
            raise InvalidParameterError(f"elements must be 2, 3 or 4, got {elements!r}")
        if elements >= 3 and np.any(params.Zc <= 0):
            raise InvalidParameterError(f"a {elements}-element Windkessel needs Zc > 0")
        if elements == 4 and np.any(params.L <= 0):
            raise InvalidParameterError("a 4-element Windkessel needs L > 0")
        self.elements, self.params = elements, params

    def total_resistance(self) -> FloatArray:
        """``Z(0)``: ``R`` (2 and 4 elements) or ``Zc + R`` (3 elements), per member."""
        extra = self.params.Zc if self.elements == 3 else 0.0
        return np.asarray(self.params.R + extra)

    def input_impedance(self, omega_rad_s: float) -> npt.NDArray[np.complex128]:
        """Input impedance ``Z(omega)`` (mmHg s/mL) per member."""
        p, jw = self.params, 1j * omega_rad_s
        z = p.R / (1.0 + jw * p.R * p.C)
        if self.elements == 3:
            z = z + p.Zc
        elif self.elements == 4:
            z = z + jw * p.L * p.Zc / (p.Zc + jw * p.L)
        return np.asarray(z, dtype=np.complex128)

    def _rhs(self, y: FloatArray, q: FloatArray) -> FloatArray:
        p = self.params
        out = np.empty_like(y)
        out[0] = (q - y[0] / p.R) / p.C
        if self.elements == 4:
            out[1] = p.Zc * (q - y[1]) / p.L
        return out

    def _pressure(self, y: FloatArray, q: FloatArray) -> FloatArray:
        if self.elements == 2:
            return np.asarray(y[0])
        if self.elements == 3:
            return np.asarray(self.params.Zc * q + y[0])
        return np.asarray(self.params.Zc * (q - y[1]) + y[0])

    def simulate(
        self,
        inflow: HalfSineEjection,
        duration_s: float,
        *,
        dt_s: float = 1e-3,
        p0_mmhg: float | FloatArray = 80.0,
    ) -> WindkesselTrace:
        """Integrate from ``P_c = p0_mmhg`` (and ``Q_L = 0``) over ``duration_s``.

        Examples
        --------
        >>> wk = Windkessel(3, WindkesselParameters(R=1.0, C=1.5, Zc=0.05))
        >>> q = HalfSineEjection(stroke_volume_ml=70.0, heart_rate_bpm=75.0)
        >>> trace = wk.simulate(q, 30.0)
        >>> bool(60 < trace.pressure_mmhg[0, -800:].mean() < 120)
        True
        """
        n_steps = max(1, math.ceil(duration_s / dt_s - 1e-9))
        h = duration_s / n_steps
        m = max(self.params.n_members, np.size(inflow.stroke_volume_ml))
        y = np.zeros((2, m))
        y[0] = p0_mmhg
        t = np.arange(n_steps + 1, dtype=np.float64) * h
        flows = np.empty((m, n_steps + 1))
        pressure = np.empty((m, n_steps + 1))
        q = np.broadcast_to(inflow.flow_ml_per_s(0.0), (m,))
        flows[:, 0], pressure[:, 0] = q, self._pressure(y, q)
        for k in range(n_steps):
            q_mid = inflow.flow_ml_per_s(t[k] + 0.5 * h)
            q_end = inflow.flow_ml_per_s(t[k + 1])
            k1 = self._rhs(y, q)
            k2 = self._rhs(y + 0.5 * h * k1, q_mid)
            k3 = self._rhs(y + 0.5 * h * k2, q_mid)
            k4 = self._rhs(y + h * k3, q_end)
            y = y + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
            q = np.broadcast_to(q_end, (m,))
            flows[:, k + 1], pressure[:, k + 1] = q, self._pressure(y, q)
        return WindkesselTrace(t, pressure, flows)
