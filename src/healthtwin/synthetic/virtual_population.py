"""Virtual populations of UVA/Padova patients, and the plausibility check of a twin.

Each virtual patient's rate constants are drawn log-normally around a reference subject
(the Dalla Man et al. 2007 constants, or the log-mean and spread of a set of virtual
patients such as simglucose's adults, :meth:`VirtualPopulation.from_patients`); the
basal-dependent constants are derived by
:func:`~healthtwin.physiology.nominal.subject_at_basal`, so every draw starts at steady
state. Draws whose basal point has no valid model are redrawn (a truncated prior).
:func:`steady_state_ok` checks that the twin stays at its basal glucose on basal insulin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import BoolArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.physiology.nominal import DALLA_MAN_2007_NORMAL, subject_at_basal
from healthtwin.physiology.uva_padova import (
    PMOL_PER_U,
    UvaPadova,
    UvaPadovaParameters,
    UvaPadovaPatient,
    steady_state,
)

__all__ = ["DEFAULT_CV", "VirtualPopulation", "steady_state_ok"]

#: Coefficients of variation of the UVA/Padova rate constants across a virtual population
#: (log-normal); those not listed are held at the reference value.
DEFAULT_CV: Mapping[str, float] = {
    "Vmx": 0.3,
    "kp3": 0.25,
    "kabs": 0.3,
    "kmax": 0.2,
    "kmin": 0.2,
    "k1": 0.15,
    "k2": 0.15,
    "Vg": 0.1,
    "ka1": 0.2,
    "ka2": 0.2,
    "kd": 0.2,
    "p2u": 0.2,
}


@dataclass(frozen=True)
class VirtualPopulation:
    """A distribution of UVA/Padova virtual patients (log-normal around a reference).

    Parameters
    ----------
    reference
        Rate constants of the reference subject (every key of
        :data:`~healthtwin.physiology.nominal.DALLA_MAN_2007_NORMAL`).
    cv
        Coefficient of variation of each varied constant (log-normal with median at the
        reference).
    basal_glucose_mg_dl, basal_insulin_pmol_l, egp_mg_kg_min
        Median of the basal point, each varied log-normally with ``basal_cv``.
    """

    reference: Mapping[str, float] = field(default_factory=lambda: dict(DALLA_MAN_2007_NORMAL))
    cv: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CV))
    basal_glucose_mg_dl: float = 120.0
    basal_insulin_pmol_l: float = 25.0
    egp_mg_kg_min: float = 1.88
    basal_cv: float = 0.1

    def __post_init__(self) -> None:
        unknown = sorted(set(self.cv) - set(self.reference))
        if unknown:
            raise InvalidParameterError(
                f"cv names unknown constant(s) {unknown}; valid: {sorted(self.reference)}"
            )
        if any(not 0.0 <= v < 2.0 for v in self.cv.values()) or not 0 <= self.basal_cv < 1:
            raise InvalidParameterError(f"coefficients of variation must be in [0, 2): {self.cv}")

    @classmethod
    def from_patients(cls, patients: Sequence[UvaPadovaPatient]) -> VirtualPopulation:
        """Median and log-spread of the varied constants across ``patients``.

        Examples
        --------
        >>> from healthtwin.physiology import load_patient
        >>> pop = VirtualPopulation.from_patients([load_patient("nominal-adult")] * 2)
        >>> round(pop.reference["Vmx"], 3), pop.cv["Vmx"]
        (0.047, 0.0)
        """
        if not patients:
            raise InvalidParameterError("from_patients needs at least one patient")
        reference = dict(DALLA_MAN_2007_NORMAL)
        cv: dict[str, float] = {}
        for name in DALLA_MAN_2007_NORMAL:
            values = np.array([_constant(p, name) for p in patients])
            logs = np.log(np.maximum(values, 1e-300))
            reference[name] = float(np.exp(logs.mean()))
            if name in DEFAULT_CV:
                cv[name] = float(np.sqrt(np.expm1(logs.var()))) if len(patients) > 1 else 0.0
        gb = np.array([float(np.asarray(p.params.Gb)[0]) for p in patients])
        ib = np.array([float(np.asarray(p.params.Ib)[0]) for p in patients])
        return cls(
            reference=reference,
            cv=cv,
            basal_glucose_mg_dl=float(np.exp(np.log(gb).mean())),
            basal_insulin_pmol_l=float(np.exp(np.log(ib).mean())),
        )

    def sample(
        self, body_weight_kg: npt.ArrayLike, rng: np.random.Generator, *, prefix: str = "virtual"
    ) -> list[UvaPadovaPatient]:
        """One virtual patient per body weight, each at steady state at its basal point.

        Carb ratio and correction factor follow the 500 and 1800 rules with a total daily
        dose of twice the daily basal insulin, as for the nominal subject.

        Examples
        --------
        >>> pats = VirtualPopulation().sample([70.0, 90.0], np.random.default_rng(1))
        >>> [p.name for p in pats], bool(pats[1].basal_u_per_min > 0)
        (['virtual-0000', 'virtual-0001'], True)
        """
        weights = np.asarray(body_weight_kg, dtype=np.float64).reshape(-1)
        if np.any(~np.isfinite(weights)) or np.any(weights <= 0):
            raise InvalidInputError(f"body weights must be positive, got {weights.tolist()}")
        sigma = {k: float(np.sqrt(np.log1p(v**2))) for k, v in self.cv.items()}
        basal_sigma = float(np.sqrt(np.log1p(self.basal_cv**2)))
        patients = []
        for i, weight in enumerate(weights):
            params = self._draw(float(weight), sigma, basal_sigma, rng)
            total_u = 2.0 * float(np.asarray(params.u2ss)[0] * weight / PMOL_PER_U * 1440)
            patients.append(
                UvaPadovaPatient(
                    name=f"{prefix}-{i:04d}",
                    params=params,
                    x0=steady_state(params)[0],
                    carb_ratio_g_per_u=500.0 / total_u,
                    correction_factor_mg_dl_per_u=1800.0 / total_u,
                    total_daily_insulin_u=total_u,
                    source="healthtwin.synthetic VirtualPopulation draw",
                )
            )
        return patients

    def _draw(
        self,
        weight: float,
        sigma: Mapping[str, float],
        basal_sigma: float,
        rng: np.random.Generator,
    ) -> UvaPadovaParameters:
        """One subject; draws whose basal point has no valid model (a negative derived
        constant) are redrawn, as a truncated prior."""
        for _ in range(_MAX_REDRAWS):
            constants = {
                k: v * float(np.exp(rng.normal(0.0, sigma[k]))) if k in sigma else v
                for k, v in self.reference.items()
            }
            basal = np.exp(rng.normal(0.0, basal_sigma, 3))
            try:
                return subject_at_basal(
                    constants,
                    BW=weight,
                    Gb=self.basal_glucose_mg_dl * float(basal[0]),
                    Ib=self.basal_insulin_pmol_l * float(basal[1]),
                    EGPb=max(self.egp_mg_kg_min * float(basal[2]), constants["Fsnc"] + 0.05),
                )
            except InvalidParameterError:
                continue
        raise InvalidParameterError(
            f"no valid subject in {_MAX_REDRAWS} draws of this virtual population: its "
            f"spreads ({dict(self.cv)}) are too wide; narrow them"
        )


#: Draws of one subject before a population is declared invalid.
_MAX_REDRAWS = 100


def _constant(patient: UvaPadovaPatient, name: str) -> float:
    params = patient.params
    if name == "HEb":  # stored as m30 = HEb m1 / (1 - HEb)
        m1, m30 = float(np.asarray(params.m1)[0]), float(np.asarray(params.m30)[0])
        return m30 / (m1 + m30)
    return float(np.asarray(getattr(params, name))[0])


def steady_state_ok(
    patients: Sequence[UvaPadovaPatient], *, hours: float = 6.0, tolerance_mg_dl: float = 5.0
) -> BoolArray:
    """Whether each patient's twin stays at its basal glucose on basal insulin, ``(n,)``.

    The twin is run ``hours`` without meals; a patient passes when glucose stays finite,
    within 40-400 mg/dL, and ends within ``tolerance_mg_dl`` of where it began.

    Examples
    --------
    >>> pats = VirtualPopulation().sample([70.0], np.random.default_rng(0))
    >>> steady_state_ok(pats).tolist()
    [True]
    """
    model = UvaPadova(list(patients))
    rng = np.random.default_rng(0)  # the model draws nothing; the protocol asks for one
    state = model.initial_state(len(patients), rng)
    with np.errstate(all="ignore"):
        _, _, rec = model.run(state, 0.0, hours * 60.0, model.basal_inputs(state), record=True)
        vg = state.theta[:, UvaPadova.parameter_index("Vg")]
        glucose = rec[:, :, 12] / vg[:, None]
    start = model.observe(state)[:, 0]
    finite = np.all(np.isfinite(glucose), axis=1)
    inside = np.all((glucose > 40.0) & (glucose < 400.0), axis=1)
    steady = np.abs(glucose[:, -1] - start) <= tolerance_mg_dl
    ok: BoolArray = finite & inside & steady
    return ok
