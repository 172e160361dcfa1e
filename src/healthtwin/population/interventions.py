"""Public-health interventions as typed, scheduled objects.

Each intervention says what it does (scale contacts in some settings, close schools, isolate
a share of symptomatic cases, vaccinate with a daily capacity in an age-priority order,
restrict travel out of regions), where (all regions or a list) and when (a
:mod:`~healthtwin.population.triggers` trigger: by date, or by a threshold on an observed
quantity such as ICU occupancy). An :class:`InterventionPlan` turns a list of them into the
``controller`` that :func:`~healthtwin.population.epidemic.simulate_epidemic` calls once a
day: it reads the day's :class:`~healthtwin.population.controls.Observed` and returns the
next day's :class:`~healthtwin.population.controls.DayControls`.

Effects combine multiplicatively (two contact reductions of 0.8 and 0.5 in the same setting
give 0.4); isolation combines as independent chances of escaping it,
``1 - prod(1 - f)``; travel restrictions multiply; vaccination capacities add.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidParameterError
from healthtwin.population.controls import DayControls, Observed
from healthtwin.population.geography import Geography
from healthtwin.population.triggers import DateTrigger, Trigger, TriggerState

__all__ = [
    "ContactReduction",
    "Intervention",
    "InterventionPlan",
    "SchoolClosure",
    "TestingIsolation",
    "TravelRestriction",
    "VaccinationCampaign",
]


def _always() -> Trigger:
    return DateTrigger()


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise InvalidParameterError(f"{name} must be between 0 and 1; got {value}")


@dataclass(frozen=True, kw_only=True)
class ContactReduction:
    """Multiply contacts in some settings (``{"work": 0.6, "community": 0.5}``).

    Examples
    --------
    >>> ContactReduction(name="distancing", settings={"community": 0.5}).settings
    {'community': 0.5}
    """

    name: str = "contact reduction"
    settings: Mapping[str, float]
    regions: tuple[str, ...] | None = None
    trigger: Trigger = field(default_factory=_always)

    def __post_init__(self) -> None:
        if not self.settings:
            raise InvalidParameterError(f"{self.name}: give at least one setting to scale")
        for setting, factor in self.settings.items():
            if not np.isfinite(factor) or factor < 0:
                raise InvalidParameterError(
                    f"{self.name}: contact multiplier for {setting!r} must be finite and >= 0; "
                    f"got {factor}"
                )


@dataclass(frozen=True, kw_only=True)
class SchoolClosure:
    """Close schools: school contacts times ``1 - effectiveness`` (default: all of them)."""

    name: str = "school closure"
    effectiveness: float = 1.0
    regions: tuple[str, ...] | None = None
    trigger: Trigger = field(default_factory=_always)

    def __post_init__(self) -> None:
        _check_fraction(f"{self.name}: effectiveness", self.effectiveness)


@dataclass(frozen=True, kw_only=True)
class TestingIsolation:
    """Test and isolate: symptomatic infectiousness cut by ``fraction`` (0-1)."""

    __test__ = False  # not a pytest test class, despite its name

    name: str = "testing and isolation"
    fraction: float
    regions: tuple[str, ...] | None = None
    trigger: Trigger = field(default_factory=_always)

    def __post_init__(self) -> None:
        _check_fraction(f"{self.name}: fraction", self.fraction)


@dataclass(frozen=True, kw_only=True)
class TravelRestriction:
    """Scale the share of residents who travel out of the listed regions by ``factor``."""

    name: str = "travel restriction"
    factor: float
    regions: tuple[str, ...] | None = None
    trigger: Trigger = field(default_factory=_always)

    def __post_init__(self) -> None:
        _check_fraction(f"{self.name}: factor", self.factor)


@dataclass(frozen=True, kw_only=True)
class VaccinationCampaign:
    """Vaccinate up to ``daily_doses`` people a day, oldest-first or in a given order.

    Parameters
    ----------
    daily_doses
        First doses per day across the targeted regions, shared by population unless
        ``region_shares`` says otherwise.
    age_priority
        Age groups in the order they are offered vaccine; groups not listed are not
        eligible. None: all groups, oldest first.
    max_coverage
        Share of each age group's population that will accept a dose.
    region_shares
        Region -> share of the daily doses (normalised over the targeted regions).
    """

    name: str = "vaccination"
    daily_doses: float
    age_priority: tuple[str, ...] | None = None
    max_coverage: float = 0.9
    region_shares: Mapping[str, float] | None = None
    regions: tuple[str, ...] | None = None
    trigger: Trigger = field(default_factory=_always)

    def __post_init__(self) -> None:
        if not np.isfinite(self.daily_doses) or self.daily_doses < 0:
            raise InvalidParameterError(
                f"{self.name}: daily_doses must be finite and >= 0; got {self.daily_doses}"
            )
        _check_fraction(f"{self.name}: max_coverage", self.max_coverage)
        if self.region_shares is not None and any(
            not np.isfinite(v) or v < 0 for v in self.region_shares.values()
        ):
            raise InvalidParameterError(f"{self.name}: region_shares must be finite and >= 0")


Intervention = (
    ContactReduction | SchoolClosure | TestingIsolation | TravelRestriction | VaccinationCampaign
)


@dataclass(frozen=True)
class InterventionPlan:
    """A set of interventions for one geography and contact-setting list.

    Examples
    --------
    >>> geo = Geography(regions=("a", "b"), age_groups=("young", "old"),
    ...                 population=np.array([[600.0, 400.0], [300.0, 200.0]]))
    >>> plan = InterventionPlan(
    ...     [SchoolClosure(regions=("a",)), TestingIsolation(fraction=0.3)],
    ...     geography=geo, settings=("home", "school"))
    >>> controller = plan.controller(reps=1)
    >>> day0 = controller.first()
    >>> day0.contact_scale[0].tolist(), day0.isolation[0].round(6).tolist()
    ([[1.0, 0.0], [1.0, 1.0]], [0.3, 0.3])
    """

    interventions: Sequence[Intervention]
    geography: Geography
    settings: tuple[str, ...]

    def __post_init__(self) -> None:
        for item in self.interventions:
            self._targets(item)
            if isinstance(item, ContactReduction):
                unknown = sorted(set(item.settings) - set(self.settings))
                if unknown:
                    raise InvalidParameterError(
                        f"{item.name}: unknown contact settings {unknown}; the contact "
                        f"matrices have {list(self.settings)}"
                    )
            if isinstance(item, SchoolClosure) and "school" not in self.settings:
                raise InvalidParameterError(
                    f"{item.name}: the contact matrices have no 'school' setting "
                    f"({list(self.settings)}); use a ContactReduction instead"
                )
            if isinstance(item, VaccinationCampaign):
                self._priority(item)
                for region in item.region_shares or {}:
                    self.geography.index(region)

    def controller(self, reps: int) -> PlanController:
        """A fresh controller for one simulation of ``reps`` replicates."""
        return PlanController(self, reps)

    def _targets(self, item: Intervention) -> BoolArray:
        mask = np.ones(self.geography.n_regions, dtype=bool)
        if item.regions is not None:
            mask[:] = False
            for region in item.regions:
                mask[self.geography.index(region)] = True
        return mask

    def _priority(self, item: VaccinationCampaign) -> list[int]:
        ages = self.geography.age_groups
        if item.age_priority is None:
            return list(range(len(ages)))[::-1]
        unknown = [a for a in item.age_priority if a not in ages]
        if unknown:
            raise InvalidParameterError(
                f"{item.name}: unknown age groups {unknown}; the geography has {list(ages)}"
            )
        return [ages.index(a) for a in item.age_priority]


class PlanController:
    """The day-by-day controller of one simulation (keeps trigger and campaign state)."""

    def __init__(self, plan: InterventionPlan, reps: int) -> None:
        if reps < 1:
            raise InvalidParameterError(f"reps must be >= 1; got {reps}")
        self.plan = plan
        self.reps = reps
        self._states = [
            TriggerState(item.trigger, plan._targets(item), reps) for item in plan.interventions
        ]
        geo = plan.geography
        self._offered = np.zeros((reps, geo.n_regions, geo.n_ages))

    def first(self) -> DayControls:
        """Controls for day 0."""
        return self._controls([s.initial() for s in self._states])

    def __call__(self, observed: Observed) -> DayControls:
        """Controls for day ``observed.day + 1``."""
        return self._controls([s.step(observed) for s in self._states])

    def _controls(self, active: list[BoolArray]) -> DayControls:
        plan, reps = self.plan, self.reps
        geo = plan.geography
        controls = DayControls.none(
            reps=reps, regions=geo.n_regions, settings=len(plan.settings), ages=geo.n_ages
        )
        contact = np.array(controls.contact_scale)
        escape = np.ones((reps, geo.n_regions))
        mobility = np.array(controls.mobility_scale)
        doses = np.zeros((reps, geo.n_regions, geo.n_ages))
        for item, on in zip(plan.interventions, active, strict=True):
            if not on.any():
                continue
            if isinstance(item, ContactReduction | SchoolClosure):
                factors = (
                    item.settings
                    if isinstance(item, ContactReduction)
                    else {"school": 1.0 - item.effectiveness}
                )
                for setting, factor in factors.items():
                    s = plan.settings.index(setting)
                    contact[:, :, s] = np.where(on, contact[:, :, s] * factor, contact[:, :, s])
            elif isinstance(item, TestingIsolation):
                escape = np.where(on, escape * (1.0 - item.fraction), escape)
            elif isinstance(item, TravelRestriction):
                mobility = np.where(on, mobility * item.factor, mobility)
            else:
                doses += self._campaign_doses(item, on)
        self._offered += doses
        return DayControls(
            contact_scale=contact,
            mobility_scale=mobility,
            isolation=1.0 - escape,
            vaccine_doses=doses,
        )

    def _campaign_doses(self, item: VaccinationCampaign, on: BoolArray) -> FloatArray:
        """Doses by (rep, region, age): region shares of the capacity, then age order."""
        geo = self.plan.geography
        share = self._region_shares(item) * on
        total = share.sum(axis=1, keepdims=True)
        budget = np.divide(share, total, out=np.zeros_like(share), where=total > 0)
        budget *= item.daily_doses
        target = item.max_coverage * geo.population
        doses = np.zeros((self.reps, geo.n_regions, geo.n_ages))
        for a in self.plan._priority(item):
            room = np.maximum(target[:, a] - self._offered[:, :, a] - doses[:, :, a], 0.0)
            given = np.minimum(budget, room)
            doses[:, :, a] += given
            budget = budget - given
        return doses

    def _region_shares(self, item: VaccinationCampaign) -> FloatArray:
        geo = self.plan.geography
        if item.region_shares is None:
            shares = geo.population.sum(axis=1)
        else:
            shares = np.zeros(geo.n_regions)
            for region, value in item.region_shares.items():
                shares[geo.index(region)] = value
        return np.broadcast_to(shares, (self.reps, geo.n_regions)).astype(float)


Controller = Callable[[Observed], DayControls]
