"""Disease parameters of the metapopulation epidemic model, and R0 <-> beta.

Transmission is given either as ``beta`` (probability of infection per contact with a
fully infectious person, per day; the force of infection is ``beta`` times infectious
contacts per day) or as ``r0``, from which ``beta`` follows by the next-generation matrix
(Diekmann, Heesterbeek & Metz 1990; van den Driessche & Watmough 2002). With contacts
``C_ab`` (per day, one person of group ``a`` with group ``b``), relative susceptibility
``sigma_a`` and the expected infectiousness-weighted infectious time of a case of group
``b``

    ``d_b = T_inf * ((1 - p_b) * rho_a + p_b)``

(``p_b`` symptomatic fraction, ``rho_a`` relative infectiousness of asymptomatic
people, ``T_inf`` infectious period), the next-generation matrix in the
"infections of ``a`` per person of ``b`` infected" form used by the multi-group final-size
relation ``z_a = 1 - exp(-sum_b K_ab z_b)`` is ``K_ab = beta sigma_a C_ab d_b`` and
``R0 = beta * rho(diag(sigma) C diag(d))``. The matrix does not depend on populations (the
population-weighted form ``N_a K_ab / N_b`` is similar, with the same spectral radius), so
R0 is a property of the disease and the total contact matrix, without interventions and
with everyone susceptible.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = ["AGE_FRACTIONS", "DiseaseRates", "EpidemicParameters"]

#: Fields given per age group (a scalar applies to every group).
AGE_FRACTIONS: tuple[str, ...] = (
    "symptomatic_fraction",
    "hospitalised_fraction",
    "icu_fraction",
    "ward_death_fraction",
    "icu_death_fraction",
)
_AGE_FIELDS = (*AGE_FRACTIONS, "susceptibility")
_SCALAR_FRACTIONS = ("relative_infectiousness_asymptomatic", "ve_infection", "ve_disease")
_DURATIONS = ("latent_period_days", "infectious_period_days", "ward_stay_days", "icu_stay_days")
_RATES = ("immunity_waning_per_day", "vaccine_waning_per_day")


@dataclass(frozen=True, kw_only=True, eq=False)
class EpidemicParameters:
    """Natural history, severity and vaccine protection, validated on construction.

    Parameters
    ----------
    r0, beta
        Give exactly one: the basic reproduction number (``beta`` then follows from the
        contact matrix, see the module docstring) or the per-contact daily transmission
        probability ``beta``.
    latent_period_days, infectious_period_days
        Mean time in ``E`` and in ``I_a``/``I_s`` (exponential), > 0.
    ward_stay_days, icu_stay_days
        Mean time in the ward ``H`` before discharge, death or ICU, and in ``ICU``, > 0.
    relative_infectiousness_asymptomatic
        Infectiousness of ``I_a`` relative to ``I_s``, in [0, 1].
    symptomatic_fraction
        Share of infections that become symptomatic, per age group ``(A,)`` or scalar.
    hospitalised_fraction
        Share of symptomatic cases admitted to hospital (the ward), per age group.
    icu_fraction
        Share of ward patients moved to ICU, per age group.
    ward_death_fraction
        Share of ward patients not moved to ICU who die, per age group.
    icu_death_fraction
        Share of ICU patients who die, per age group.
    susceptibility
        Relative susceptibility per age group, >= 0 (default 1).
    ve_infection
        Leaky vaccine protection against infection: vaccinated people (``V``) have the
        force of infection multiplied by ``1 - ve_infection``.
    ve_disease
        Protection against disease given a breakthrough infection: the symptomatic
        fraction of vaccinated infected people is multiplied by ``1 - ve_disease``, which
        cuts their cases, admissions, ICU admissions and deaths by the same factor.
    immunity_waning_per_day, vaccine_waning_per_day
        Rates ``R -> S`` and ``V -> S`` (0 = lifelong protection).

    Examples
    --------
    >>> p = EpidemicParameters(r0=2.5, symptomatic_fraction=[0.4, 0.7])
    >>> p.age_values("symptomatic_fraction", 2).tolist()
    [0.4, 0.7]
    >>> contacts = np.array([[10.0, 2.0], [2.0, 5.0]])
    >>> beta = p.beta_per_day(contacts)
    >>> K = p.next_generation_matrix(contacts)
    >>> round(float(np.max(np.abs(np.linalg.eigvals(K)))), 6)
    2.5
    """

    r0: float | None = None
    beta: float | None = None
    latent_period_days: float = 3.0
    infectious_period_days: float = 5.0
    ward_stay_days: float = 7.0
    icu_stay_days: float = 10.0
    relative_infectiousness_asymptomatic: float = 0.5
    symptomatic_fraction: Any = 0.6
    hospitalised_fraction: Any = 0.05
    icu_fraction: Any = 0.2
    ward_death_fraction: Any = 0.1
    icu_death_fraction: Any = 0.3
    susceptibility: Any = 1.0
    ve_infection: float = 0.6
    ve_disease: float = 0.5
    immunity_waning_per_day: float = 0.0
    vaccine_waning_per_day: float = 0.0

    def __post_init__(self) -> None:
        if (self.r0 is None) == (self.beta is None):
            raise InvalidParameterError(
                f"give exactly one of r0 and beta; got r0={self.r0!r}, beta={self.beta!r}"
            )
        for name in ("r0", "beta"):
            value = getattr(self, name)
            if value is not None:
                _check_scalar(name, value, lower=0.0)
                object.__setattr__(self, name, float(value))
        for name in _DURATIONS:
            value = _check_scalar(name, getattr(self, name), lower=0.0)
            if value <= 0:
                raise InvalidParameterError(f"{name} must be > 0 days; got {value}")
            object.__setattr__(self, name, value)
        for name in _SCALAR_FRACTIONS:
            object.__setattr__(self, name, _check_scalar(name, getattr(self, name), 0.0, 1.0))
        for name in _RATES:
            object.__setattr__(self, name, _check_scalar(name, getattr(self, name), lower=0.0))
        for name in _AGE_FIELDS:
            upper = None if name == "susceptibility" else 1.0
            object.__setattr__(self, name, _check_age_array(name, getattr(self, name), upper))

    def age_values(self, name: str, n_ages: int) -> FloatArray:
        """A per-age field as an array ``(n_ages,)`` (scalars broadcast).

        Raises
        ------
        ShapeError
            If the field has a length other than 1 or ``n_ages``.
        """
        if name not in _AGE_FIELDS:
            raise InvalidParameterError(
                f"{name!r} is not a per-age field; use one of {_AGE_FIELDS}"
            )
        arr: FloatArray = getattr(self, name)
        if arr.size == 1:
            return np.full(n_ages, float(arr.reshape(-1)[0]))
        if arr.shape != (n_ages,):
            raise ShapeError(
                f"{name} has {arr.size} values but the model has {n_ages} age groups; give "
                "one value per age group or a scalar"
            )
        return arr.copy()

    def infectious_days(self, n_ages: int) -> FloatArray:
        """Infectiousness-weighted infectious time per case ``d_b``, shape ``(A,)``."""
        p = self.age_values("symptomatic_fraction", n_ages)
        rel = self.relative_infectiousness_asymptomatic
        return np.asarray(self.infectious_period_days * ((1.0 - p) * rel + p))

    def next_generation_matrix(self, contacts: FloatArray) -> FloatArray:
        """``K_ab = beta sigma_a C_ab d_b`` for the total contact matrix ``(A, A)``."""
        c = _square(contacts)
        n = c.shape[0]
        sigma = self.age_values("susceptibility", n)
        return np.asarray(
            self.beta_per_day(c) * sigma[:, None] * c * self.infectious_days(n)[None, :]
        )

    def beta_per_day(self, contacts: FloatArray) -> float:
        """``beta`` as given, or ``r0`` divided by the spectral radius of the unit-beta NGM.

        Raises
        ------
        InvalidParameterError
            If ``r0`` is given and the contact matrix cannot transmit (radius 0).
        """
        if self.beta is not None:
            return self.beta
        c = _square(contacts)
        n = c.shape[0]
        unit = self.age_values("susceptibility", n)[:, None] * c * self.infectious_days(n)[None, :]
        radius = float(np.max(np.abs(np.linalg.eigvals(unit))))
        if radius <= 0:
            raise InvalidParameterError(
                "the contact matrix, susceptibility and infectiousness allow no transmission "
                "(next-generation radius 0), so no beta gives r0="
                f"{self.r0}; check the contact matrices"
            )
        assert self.r0 is not None
        return self.r0 / radius

    def rates(self, contacts: FloatArray) -> DiseaseRates:
        """Rates and branch fractions per age for a model with total contacts ``(A, A)``."""
        c = _square(contacts)
        n = c.shape[0]
        p_sym = self.age_values("symptomatic_fraction", n)
        return DiseaseRates(
            beta=self.beta_per_day(c),
            susceptibility=self.age_values("susceptibility", n),
            relative_asymptomatic=self.relative_infectiousness_asymptomatic,
            symptomatic=p_sym,
            symptomatic_vaccinated=p_sym * (1.0 - self.ve_disease),
            hospitalised=self.age_values("hospitalised_fraction", n),
            icu=self.age_values("icu_fraction", n),
            ward_death=self.age_values("ward_death_fraction", n),
            icu_death=self.age_values("icu_death_fraction", n),
            vaccine_leak=1.0 - self.ve_infection,
            constant_exits=np.array(
                [
                    1.0 / self.latent_period_days,  # E
                    1.0 / self.latent_period_days,  # E_v
                    1.0 / self.infectious_period_days,  # I_a
                    1.0 / self.infectious_period_days,  # I_s
                    1.0 / self.ward_stay_days,  # H
                    1.0 / self.icu_stay_days,  # ICU
                    self.immunity_waning_per_day,  # R
                ]
            ),
            vaccine_waning=self.vaccine_waning_per_day,
        )

    def describe(self) -> dict[str, Any]:
        """Field name -> value (arrays as lists), for reports and scenario files."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.tolist() if isinstance(value, np.ndarray) else value
        return out


def _check_scalar(name: str, value: object, lower: float, upper: float | None = None) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise InvalidParameterError(f"{name} must be a number; got {value!r}") from err
    if not np.isfinite(x) or x < lower or (upper is not None and x > upper):
        domain = f"[{lower}, {upper}]" if upper is not None else f">= {lower}"
        raise InvalidParameterError(f"{name} must be finite and in {domain}; got {value!r}")
    return x


def _check_age_array(name: str, value: object, upper: float | None) -> FloatArray:
    try:
        arr = np.array(value, dtype=float).reshape(-1)
    except (TypeError, ValueError) as err:
        raise InvalidParameterError(
            f"{name} must be a number or one number per age group; got {value!r}"
        ) from err
    if arr.size == 0:
        raise InvalidParameterError(f"{name} is empty; give a scalar or one value per age group")
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > (np.inf if upper is None else upper))
    if bad.any():
        domain = "[0, 1]" if upper is not None else ">= 0"
        raise InvalidParameterError(
            f"{name} must be finite and in {domain}; got {arr[bad][0]!r} at position "
            f"{int(np.flatnonzero(bad)[0])}"
        )
    arr.setflags(write=False)
    return arr


def _square(contacts: npt.ArrayLike) -> FloatArray:
    c = np.asarray(contacts, dtype=float)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ShapeError(f"the total contact matrix must be square (A, A); got shape {c.shape}")
    return c


@dataclass(frozen=True, eq=False)
class DiseaseRates:
    """Parameters resolved for one model: per-age arrays ``(A,)`` and exit rates per day.

    Built by :meth:`EpidemicParameters.rates`; both engines read the same object.
    ``constant_exits`` holds the exit rates of ``E, E_v, I_a, I_s, H, ICU, R`` (the
    exits of ``S`` and ``V`` depend on the force of infection).
    """

    beta: float
    susceptibility: FloatArray
    relative_asymptomatic: float
    symptomatic: FloatArray
    symptomatic_vaccinated: FloatArray
    hospitalised: FloatArray
    icu: FloatArray
    ward_death: FloatArray
    icu_death: FloatArray
    vaccine_leak: float
    constant_exits: FloatArray
    vaccine_waning: float

    def exit_rates(self, force: FloatArray) -> FloatArray:
        """Exit rate of every compartment but ``D``, ``(reps, 9, R, A)``, per day.

        ``force`` is the force of infection ``(reps, R, A)``.
        """
        reps, n_regions, n_ages = force.shape
        out = np.empty((reps, 2 + self.constant_exits.size, n_regions, n_ages))
        out[:, 0] = force
        out[:, 1] = self.vaccine_leak * force + self.vaccine_waning
        out[:, 2:] = self.constant_exits[None, :, None, None]
        return out

    def exit_probabilities(self, force: FloatArray, dt: float) -> FloatArray:
        """Probability of leaving each compartment but ``D`` in a step of ``dt`` days.

        Infection (and the competing vaccine waning) uses the exact hazard,
        ``1 - exp(-rate dt)``. The constant exits use ``min(rate dt, 1)``: a person then
        stays a geometric number of steps with mean ``1 / (rate dt)``, exactly the mean
        sojourn of the ODE, so R0 and final sizes do not depend on the step (with
        ``1 - exp(-rate dt)`` a daily step would lengthen every stay by about half a day
        and raise R0 by 10 % for a 5-day infectious period). Keep ``dt`` below the
        shortest mean stay; longer stays are cut to one step.

        Returns
        -------
        ndarray, shape (reps, 9, R, A)
        """
        reps, n_regions, n_ages = force.shape
        out = np.empty((reps, 2 + self.constant_exits.size, n_regions, n_ages))
        out[:, 0] = -np.expm1(-force * dt)
        out[:, 1] = -np.expm1(-(self.vaccine_leak * force + self.vaccine_waning) * dt)
        out[:, 2:] = np.minimum(self.constant_exits * dt, 1.0)[None, :, None, None]
        return out
