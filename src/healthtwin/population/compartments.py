"""The compartments of the metapopulation epidemic model and the flows between them.

A state is an array of shape ``(reps, C, R, A)``: replicates, the ``C`` compartments of
:data:`COMPARTMENTS` in that order, regions of residence and age groups. People move
only along these flows (rates and fractions in
:class:`~healthtwin.population.epidemic_parameters.EpidemicParameters`)::

    S --infection--> E --> I_a ------------------------------> R
    |                  \\-> I_s --> R                           ^
    |                          \\-> H (ward) --> R / D          |
    vaccination                            \\-> ICU --> R / D   |
    v                                                          |
    V --breakthrough--> E_v --> I_a / I_s (as from E) ---------/
    V --waning--> S          R --waning--> S

``E_v`` holds exposed people who were vaccinated: they become symptomatic less often
(``ve_disease``), which lowers their cases, admissions, ICU admissions and deaths by the
same factor. Both engines compute one :class:`Flows` per step (random counts in the
chain-binomial engine, expected rates in the ODE) and apply it with :func:`net_change`,
so the two share the bookkeeping and conserve people the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "COMPARTMENTS",
    "DAILY_FLOWS",
    "E_V",
    "ICU",
    "I_A",
    "I_S",
    "N_COMPARTMENTS",
    "D",
    "E",
    "Flows",
    "H",
    "R",
    "S",
    "V",
    "circulating",
    "daily_flows",
    "effective_infectious",
    "net_change",
    "vaccinate",
]

#: Compartment names in state order. The nine before ``D`` have exits, so
#: ``state[:, :D]`` is a view of every compartment people leave.
COMPARTMENTS: tuple[str, ...] = ("S", "V", "E", "E_v", "I_a", "I_s", "H", "ICU", "R", "D")
S, V, E, E_V, I_A, I_S, H, ICU, R, D = range(len(COMPARTMENTS))
N_COMPARTMENTS = len(COMPARTMENTS)

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Flows:
    """People moving between compartments in one step, each array ``(reps, R, A)``.

    Integer counts in the stochastic engine, real amounts (rate x step) in the ODE.
    ``*_out`` are all exits of a compartment; the other fields are the parts of an exit
    that take a named branch (the rest goes to ``R``, or to ``I_a`` from ``E``/``E_v``).
    """

    s_infected: Array  # S -> E
    v_infected: Array  # V -> E_v
    v_waned: Array  # V -> S
    e_out: Array  # E -> I_a or I_s
    e_symptomatic: Array  # E -> I_s
    ev_out: Array  # E_v -> I_a or I_s
    ev_symptomatic: Array  # E_v -> I_s
    ia_out: Array  # I_a -> R
    is_out: Array  # I_s -> H or R
    is_admitted: Array  # I_s -> H
    h_out: Array  # H -> ICU, D or R
    h_to_icu: Array  # H -> ICU
    h_died: Array  # H -> D
    icu_out: Array  # ICU -> D or R
    icu_died: Array  # ICU -> D
    r_waned: Array  # R -> S

    def incidence(self) -> Array:
        """New infections (unvaccinated and breakthrough)."""
        return self.s_infected + self.v_infected

    def cases(self) -> Array:
        """New symptomatic cases."""
        return self.e_symptomatic + self.ev_symptomatic

    def deaths(self) -> Array:
        """Deaths in ward and ICU."""
        return self.h_died + self.icu_died


def net_change(flows: Flows, out: Array | None = None) -> Array:
    """Change of every compartment, shape ``(reps, C, R, A)``; it sums to 0 over ``C``.

    Parameters
    ----------
    flows
        One step's flows.
    out
        Optional array to write into (same shape and dtype as the result).

    Examples
    --------
    >>> z = np.zeros((1, 1, 1), dtype=np.int64)
    >>> one = np.ones((1, 1, 1), dtype=np.int64)
    >>> f = Flows(one, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z)
    >>> d = net_change(f)
    >>> d[0, :, 0, 0].tolist(), float(d.sum())
    ([-1, 0, 1, 0, 0, 0, 0, 0, 0, 0], 0.0)
    """
    f = flows
    shape = (f.s_infected.shape[0], N_COMPARTMENTS, *f.s_infected.shape[1:])
    d = np.empty(shape, dtype=np.result_type(f.s_infected, f.e_out)) if out is None else out
    d[:, S] = f.v_waned + f.r_waned - f.s_infected
    d[:, V] = -f.v_infected - f.v_waned
    d[:, E] = f.s_infected - f.e_out
    d[:, E_V] = f.v_infected - f.ev_out
    d[:, I_A] = (f.e_out - f.e_symptomatic) + (f.ev_out - f.ev_symptomatic) - f.ia_out
    d[:, I_S] = f.e_symptomatic + f.ev_symptomatic - f.is_out
    d[:, H] = f.is_admitted - f.h_out
    d[:, ICU] = f.h_to_icu - f.icu_out
    d[:, R] = (
        f.ia_out
        + (f.is_out - f.is_admitted)
        + (f.h_out - f.h_to_icu - f.h_died)
        + (f.icu_out - f.icu_died)
        - f.r_waned
    )
    d[:, D] = f.h_died + f.icu_died
    return d


#: Daily flow totals the engines report, in this order (each ``(reps, R, A)``).
DAILY_FLOWS: tuple[str, ...] = ("incidence", "cases", "admissions", "icu_admissions", "deaths")


def daily_flows(flows: Flows) -> tuple[Array, ...]:
    """One step's contribution to each of :data:`DAILY_FLOWS`."""
    return (flows.incidence(), flows.cases(), flows.is_admitted, flows.h_to_icu, flows.deaths())


def circulating(state: Array) -> Array:
    """People who mix in the community (alive, not in hospital), ``(reps, R, A)``."""
    out: Array = state[:, :H].sum(axis=1) + state[:, R]
    return out


def effective_infectious(state: Array, relative_asymptomatic: float, isolation: Array) -> Array:
    """``rho I_a + (1 - iso) I_s`` per region and age, ``(reps, R, A)``.

    ``isolation`` has shape ``(reps, R)``.
    """
    out: Array = (
        relative_asymptomatic * state[:, I_A] + (1.0 - isolation)[:, :, None] * state[:, I_S]
    )
    return out


def vaccinate(state: Array, doses: Array) -> Array:
    """Move ``min(doses, S)`` people from ``S`` to ``V`` in place; returns the doses given.

    Integer states receive whole doses (the offer rounded to the nearest integer).

    Examples
    --------
    >>> x = np.zeros((1, N_COMPARTMENTS, 1, 2), dtype=np.int64)
    >>> x[0, S, 0] = [5, 1]
    >>> vaccinate(x, np.array([[[2.4, 3.0]]])).tolist(), x[0, V, 0].tolist()
    ([[[2, 1]]], [2, 1])
    """
    offered = np.rint(doses) if np.issubdtype(state.dtype, np.integer) else doses
    given: Array = np.minimum(offered, state[:, S]).astype(state.dtype)
    given = np.maximum(given, 0)
    state[:, S] -= given
    state[:, V] += given
    return given
