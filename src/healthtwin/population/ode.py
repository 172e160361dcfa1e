"""Deterministic engine: the same model as ODEs (the large-population limit).

Every flow of :class:`~healthtwin.population.compartments.Flows` becomes its expected
rate: a compartment ``X`` with exit rate ``k`` loses ``k X`` per day, split by the same
branch fractions as the chain-binomial engine, with the same force of infection
(:mod:`~healthtwin.population.force_of_infection`). The state is real-valued; five
accumulators (the daily flows) ride along so that daily incidence, cases, admissions,
ICU admissions and deaths are exact integrals over each day. Controls (contacts,
isolation, travel) change only between days and vaccine doses are given at the start of a
day, so with a controller each day is one call of scipy's ``solve_ivp`` (RK45 by default);
without one the whole run is integrated in a few long calls with daily output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, SolverError
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

__all__ = ["CHUNK_DAYS", "EpidemicOde", "expected_flows"]

#: Days integrated per ``solve_ivp`` call when controls stay fixed.
CHUNK_DAYS = 30


def expected_flows(
    rates: DiseaseRates, mixing: Mixing, x: FloatArray, controls: DayControls
) -> Flows:
    """Flows per day at state ``x`` ``(reps, C, R, A)``: rates times people."""
    infectious = effective_infectious(x, rates.relative_asymptomatic, controls.isolation)
    force = mixing.force(
        infectious, circulating(x), controls.contact_scale, controls.mobility_scale
    )
    k = rates.exit_rates(force)
    out = k * x[:, :D]
    v_infected = rates.vaccine_leak * force * x[:, V]
    h_to_icu = out[:, H] * rates.icu
    return Flows(
        s_infected=out[:, S],
        v_infected=v_infected,
        v_waned=out[:, V] - v_infected,
        e_out=out[:, E],
        e_symptomatic=out[:, E] * rates.symptomatic,
        ev_out=out[:, E_V],
        ev_symptomatic=out[:, E_V] * rates.symptomatic_vaccinated,
        ia_out=out[:, I_A],
        is_out=out[:, I_S],
        is_admitted=out[:, I_S] * rates.hospitalised,
        h_out=out[:, H],
        h_to_icu=h_to_icu,
        h_died=(out[:, H] - h_to_icu) * rates.ward_death,
        icu_out=out[:, ICU],
        icu_died=out[:, ICU] * rates.icu_death,
        r_waned=out[:, R],
    )


@dataclass(frozen=True, eq=False)
class EpidemicOde:
    """Integrates a real state ``(reps, C, R, A)`` day by day.

    Parameters
    ----------
    rates, mixing
        As for the chain-binomial engine.
    rtol, atol
        Tolerances of ``solve_ivp`` (``atol`` in people).
    method
        A ``solve_ivp`` method name (``"RK45"``, ``"DOP853"``, ``"LSODA"``...).
    """

    rates: DiseaseRates
    mixing: Mixing
    rtol: float = 1e-7
    atol: float = 1e-6
    method: str = "RK45"

    def __post_init__(self) -> None:
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InvalidParameterError(f"{name} must be > 0; got {value!r}")

    def run_day(
        self, state: FloatArray, controls: DayControls
    ) -> tuple[FloatArray, dict[str, FloatArray]]:
        """The state after one day and the day's totals (:data:`DAILY_FLOWS` + ``doses``)."""
        final, daily = self.run_days(state, controls, 1)
        return final, {name: values[:, 0] for name, values in daily.items()}

    def run_days(
        self, state: FloatArray, controls: DayControls, n_days: int, *, by_age: bool = True
    ) -> tuple[FloatArray, dict[str, FloatArray]]:
        """Integrate ``n_days`` days under fixed controls (doses on the first day only).

        Returns the final state and daily values ``(reps, n_days, R, A)`` (summed over
        ages to ``(reps, n_days, R)`` unless ``by_age``) of :data:`DAILY_FLOWS`, ``doses``
        and the end-of-day ``ward``/``icu`` occupancy. Long horizons are integrated in
        chunks of :data:`CHUNK_DAYS` days to bound memory.
        """
        x = np.array(state, dtype=float, copy=True)
        doses = vaccinate(x, np.asarray(controls.vaccine_doses, dtype=float))
        reps, _, n_regions, n_ages = x.shape
        shape = (reps, n_days, n_regions, n_ages) if by_age else (reps, n_days, n_regions)
        daily = {name: np.zeros(shape) for name in (*DAILY_FLOWS, "doses", "ward", "icu")}
        daily["doses"][:, 0] = doses if by_age else doses.sum(axis=2)
        done = 0
        while done < n_days:
            chunk = min(CHUNK_DAYS, n_days - done)
            states, flows = self._integrate(x, controls, chunk)
            parts = {name: flows[i] for i, name in enumerate(DAILY_FLOWS)}
            parts["ward"], parts["icu"] = states[:, :, H], states[:, :, ICU]
            for name, values in parts.items():
                daily[name][:, done : done + chunk] = values if by_age else values.sum(axis=3)
            x = states[:, -1]
            done += chunk
        return x, daily

    def _integrate(
        self, x: FloatArray, controls: DayControls, n_days: int
    ) -> tuple[FloatArray, FloatArray]:
        """End-of-day states ``(reps, n_days, C, R, A)``, flows ``(K, reps, n_days, R, A)``."""
        shape = x.shape
        n_state = x.size
        n_acc = len(DAILY_FLOWS)
        cell = (shape[0], *shape[2:])

        def rhs(_t: float, y: FloatArray) -> FloatArray:
            xs = y[:n_state].reshape(shape)
            flows = expected_flows(self.rates, self.mixing, xs, controls)
            dy = np.empty_like(y)
            net_change(flows, out=dy[:n_state].reshape(shape))
            acc = dy[n_state:].reshape(n_acc, *cell)
            for i, part in enumerate(daily_flows(flows)):
                acc[i] = part
            return dy

        y0 = np.concatenate([x.reshape(-1), np.zeros(n_acc * int(np.prod(cell)))])
        days = np.arange(1.0, n_days + 1.0)
        sol = solve_ivp(
            rhs,
            (0.0, float(n_days)),
            y0,
            method=self.method,
            rtol=self.rtol,
            atol=self.atol,
            t_eval=days,
        )
        if not sol.success or not np.all(np.isfinite(sol.y)):
            raise SolverError(
                f"the epidemic ODE failed to integrate: {sol.message}; try method='LSODA' "
                "or looser tolerances"
            )
        y = sol.y  # (n_y, n_days)
        states = np.maximum(y[:n_state].T.reshape(n_days, *shape), 0.0).swapaxes(0, 1)
        cumulative = y[n_state:].T.reshape(n_days, n_acc, *cell)
        flows = np.diff(cumulative, axis=0, prepend=0.0).transpose(1, 2, 0, 3, 4)
        return np.ascontiguousarray(states), flows
