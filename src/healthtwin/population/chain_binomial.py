"""Stochastic chain-binomial engine: integer people, a daily (or finer) step.

Each step of length ``dt`` days, every compartment's exits are drawn from the state at the
start of the step as ``Binomial(X, p)`` (Bailey 1975; the discrete-time chain used by
metapopulation models such as GLEaM): infection with the exact hazard
``p = 1 - exp(-lambda dt)``, the other exits with ``p = min(rate dt, 1)`` so that mean stays
equal the ODE's at any step (see
:meth:`~healthtwin.population.epidemic_parameters.DiseaseRates.exit_probabilities`).
Competing destinations split the exits by sequential binomials with conditional
probabilities (equivalent to a multinomial). All
draws are vectorised over ``(R, A)``; the force of infection is computed for all
replicates at once. Each replicate draws from its own generator (derived from
``SeedSequence(seed, spawn_key=(r,))``), so replicate ``r`` gives the same trajectory
whether it runs alone, with others, or on another machine: the replicate loop is over the
generators only, around whole-array draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidParameterError
from healthtwin.population.compartments import (
    DAILY_FLOWS,
    E_V,
    I_A,
    I_S,
    ICU,
    D,
    E,
    Flows,
    H,
    R,
    S,
    V,
    circulating,
    daily_flows,
    effective_infectious,
    net_change,
    vaccinate,
)
from healthtwin.population.controls import DayControls
from healthtwin.population.epidemic_parameters import DiseaseRates
from healthtwin.population.force_of_infection import Mixing

__all__ = ["ChainBinomial", "replicate_generators"]


def replicate_generators(seed: int, replicate_ids: Sequence[int]) -> list[np.random.Generator]:
    """One generator per replicate, the ``r``-th child of ``SeedSequence(seed)``.

    Examples
    --------
    >>> a = replicate_generators(3, [0, 1, 2])[2].random()
    >>> b = replicate_generators(3, [2])[0].random()
    >>> a == b
    True
    """
    return [
        np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(int(r),))))
        for r in replicate_ids
    ]


@dataclass(frozen=True, eq=False)
class ChainBinomial:
    """Advances an integer state ``(reps, C, R, A)`` by whole days.

    Parameters
    ----------
    rates
        Resolved disease rates.
    mixing
        Contacts and mobility.
    generators
        One generator per replicate (see :func:`replicate_generators`).
    steps_per_day
        Sub-steps per day (``dt = 1 / steps_per_day``).
    """

    rates: DiseaseRates
    mixing: Mixing
    generators: Sequence[np.random.Generator]
    steps_per_day: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.steps_per_day, bool) or int(self.steps_per_day) != self.steps_per_day:
            raise InvalidParameterError(
                f"steps_per_day must be an integer; got {self.steps_per_day!r}"
            )
        if self.steps_per_day < 1:
            raise InvalidParameterError(f"steps_per_day must be >= 1; got {self.steps_per_day}")

    def run_day(
        self, state: IntArray, controls: DayControls
    ) -> tuple[IntArray, dict[str, IntArray]]:
        """The state after one day and the day's totals (:data:`DAILY_FLOWS` + ``doses``).

        The input state is not changed. Vaccine doses are given at the start of the day.
        """
        x = np.array(state, dtype=np.int64, copy=True)
        doses = vaccinate(x, np.asarray(controls.vaccine_doses))
        totals = [np.zeros_like(doses) for _ in DAILY_FLOWS]
        dt = 1.0 / self.steps_per_day
        for _ in range(self.steps_per_day):
            flows = self.step(x, controls, dt)
            x += net_change(flows)
            for total, part in zip(totals, daily_flows(flows), strict=True):
                total += part
        out = dict(zip(DAILY_FLOWS, totals, strict=True))
        out["doses"] = doses
        return x, out

    def run_days(
        self, state: IntArray, controls: DayControls, n_days: int, *, by_age: bool = True
    ) -> tuple[IntArray, dict[str, IntArray]]:
        """Run ``n_days`` days under fixed controls (doses on the first day only).

        Returns the final state and daily values ``(reps, n_days, R, A)`` (summed over
        ages to ``(reps, n_days, R)`` unless ``by_age``) of :data:`DAILY_FLOWS`, ``doses``
        and the end-of-day ``ward``/``icu`` occupancy.
        """
        reps, _, n_regions, n_ages = state.shape
        shape = (reps, n_days, n_regions, n_ages) if by_age else (reps, n_days, n_regions)
        daily = {name: np.zeros(shape, np.int64) for name in (*DAILY_FLOWS, "doses", "ward", "icu")}
        later = replace(controls, vaccine_doses=np.zeros_like(controls.vaccine_doses))
        x = state
        for day in range(n_days):
            x, totals = self.run_day(x, controls if day == 0 else later)
            totals["ward"], totals["icu"] = x[:, H], x[:, ICU]
            for name, values in totals.items():
                daily[name][:, day] = values if by_age else values.sum(axis=2)
        return x, daily

    def step(self, x: IntArray, controls: DayControls, dt: float) -> Flows:
        """Random flows of one step of ``dt`` days from state ``x``."""
        rt, gens = self.rates, self.generators
        infectious = effective_infectious(x, rt.relative_asymptomatic, controls.isolation)
        force = self.mixing.force(
            infectious, circulating(x), controls.contact_scale, controls.mobility_scale
        )
        out = binomial(gens, x[:, :D], rt.exit_probabilities(force, dt))
        v_rate = rt.vaccine_leak * force + rt.vaccine_waning
        infected_share = np.divide(
            rt.vaccine_leak * force, v_rate, out=np.zeros_like(force), where=v_rate > 0
        )
        v_infected = binomial(gens, out[:, V], infected_share)
        h_to_icu = binomial(gens, out[:, H], rt.icu)
        return Flows(
            s_infected=out[:, S],
            v_infected=v_infected,
            v_waned=out[:, V] - v_infected,
            e_out=out[:, E],
            e_symptomatic=binomial(gens, out[:, E], rt.symptomatic),
            ev_out=out[:, E_V],
            ev_symptomatic=binomial(gens, out[:, E_V], rt.symptomatic_vaccinated),
            ia_out=out[:, I_A],
            is_out=out[:, I_S],
            is_admitted=binomial(gens, out[:, I_S], rt.hospitalised),
            h_out=out[:, H],
            h_to_icu=h_to_icu,
            h_died=binomial(gens, out[:, H] - h_to_icu, rt.ward_death),
            icu_out=out[:, ICU],
            icu_died=binomial(gens, out[:, ICU], rt.icu_death),
            r_waned=out[:, R],
        )


def binomial(generators: Sequence[np.random.Generator], n: IntArray, p: npt.ArrayLike) -> IntArray:
    """``Binomial(n, p)`` with replicate ``r`` (leading axis of ``n``) drawn by generator ``r``.

    ``p`` broadcasts against ``n`` (with or without the replicate axis). Only cells with
    ``n > 0`` are drawn: numpy consumes no random numbers for ``n = 0``, so the result is
    the same as a draw over the whole array, only faster when most cells are empty.

    Examples
    --------
    >>> gens = [np.random.default_rng(0), np.random.default_rng(1)]
    >>> out = binomial(gens, np.array([[0, 10], [10, 0]]), 0.0)
    >>> out.tolist()
    [[0, 0], [0, 0]]
    """
    n = np.asarray(n)
    probs = np.broadcast_to(np.asarray(p, dtype=float), n.shape)
    result: IntArray = np.zeros(n.shape, dtype=np.int64)
    for r, gen in enumerate(generators):
        n_r: Any = n[r]
        count = np.count_nonzero(n_r)
        if count == 0:
            continue
        if count * 4 > n_r.size:
            result[r] = gen.binomial(n_r, probs[r])
        else:
            nonzero = np.nonzero(n_r)
            result[r][nonzero] = gen.binomial(n_r[nonzero], probs[r][nonzero])
    return result


def as_int_state(state: FloatArray) -> IntArray:
    """A real state rounded to whole people (``int64``)."""
    return np.rint(state).astype(np.int64)
