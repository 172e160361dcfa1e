"""Force of infection in an age-structured metapopulation with commuting.

People mix where they spend the day (the "effective population" form of Keeling & Rohani
2002, Ecol Lett 5:20, and Balcan et al. 2010, J Comput Sci 1:132). Notation: ``M_ik`` the
share of residents of region ``i`` who mix in region ``k`` (rows sum to 1), ``N_jb``
the residents of ``j`` in age group ``b`` who circulate (everyone alive and not in
hospital), ``I_jb = rho I^a_jb + (1 - iso_j) I^s_jb`` their effective infectious people
(``rho`` relative infectiousness of asymptomatic people, ``iso_j`` the isolation cut of
region ``j``), ``C^k_ab = sum_s c_ks C^s_ab`` the contacts per day in region ``k`` with
setting ``s`` scaled by ``c_ks`` (contact rules apply where contacts happen). Then

    ``P_kb = sum_j M_jk I_jb / sum_j M_jk N_jb``       prevalence among people present in k
    ``L_ka = beta sum_b C^k_ab P_kb``                  hazard of a person of age a in k
    ``lambda_ia = sigma_a sum_k M_ik L_ka``            hazard of a resident of i

with relative susceptibility ``sigma_a``. A travel restriction with factor ``m_i`` scales
the off-diagonal row ``i`` of ``M`` and leaves the remainder at home:
``M~_ik = m_i M_ik`` for ``k != i`` and ``M~_ii = 1 - m_i (1 - M_ii)`` (``m_i`` is capped so
that ``M~_ii >= 0``). The engines never build ``M~`` per replicate: with ``T`` the
off-diagonal part of ``M`` every sum above is a diagonal term plus one ``(R, R) @ (R, A)``
product with ``T`` or ``T^T``, so memory stays ``O(R^2 + reps R A)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, ShapeError

__all__ = ["Mixing", "force_of_infection", "mobility_fraction"]

ROW_SUM_TOLERANCE = 1e-6


def mobility_fraction(mobility: Any, n_regions: int) -> FloatArray:
    """A validated row-stochastic mobility matrix ``(R, R)``; ``None`` gives the identity.

    Parameters
    ----------
    mobility
        ``None``, an ``(R, R)`` array, or an object with a ``fraction`` attribute (such as
        a ``MobilityMatrix``): entry ``[i, k]`` is the share of residents of ``i`` who mix
        in ``k`` each day.
    n_regions
        Number of regions ``R``.

    Raises
    ------
    ShapeError
        If the matrix is not ``(R, R)``.
    InvalidInputError
        If an entry is negative or not finite, or a row does not sum to 1.

    Examples
    --------
    >>> mobility_fraction(None, 2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> mobility_fraction([[0.9, 0.1], [0.2, 0.8]], 2)[1].tolist()
    [0.2, 0.8]
    """
    if mobility is None:
        return np.eye(n_regions)
    raw = getattr(mobility, "fraction", mobility)
    try:
        m = np.array(raw, dtype=float)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"mobility must be an (R, R) array of shares; got {raw!r}") from err
    if m.shape != (n_regions, n_regions):
        raise ShapeError(
            f"mobility matrix has shape {m.shape}; expected (regions, regions) = "
            f"({n_regions}, {n_regions}), in the geography's region order"
        )
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise InvalidInputError("mobility shares must be finite and >= 0; found a bad entry")
    sums = m.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > ROW_SUM_TOLERANCE:
        raise InvalidInputError(
            f"mobility rows must sum to 1 (shares of a region's residents); row {worst} sums to "
            f"{sums[worst]:.6g}; put the people who stay home on the diagonal"
        )
    return m


@dataclass(frozen=True, eq=False)
class Mixing:
    """Contacts and mobility prepared for fast force-of-infection evaluations.

    Parameters
    ----------
    contacts
        Contact matrices by setting, ``(S, A, A)``.
    mobility
        Row-stochastic mobility ``(R, R)`` (see :func:`mobility_fraction`).
    beta
        Transmission probability per contact with a fully infectious person (per day).
    susceptibility
        Relative susceptibility per age group, ``(A,)``.

    Examples
    --------
    >>> mix = Mixing.build(np.ones((1, 1, 1)), np.eye(1), beta=0.5, susceptibility=np.ones(1))
    >>> infectious, community = np.full((1, 1, 1), 10.0), np.full((1, 1, 1), 100.0)
    >>> float(mix.force(infectious, community)[0, 0, 0])
    0.05
    """

    contacts: FloatArray
    stacked: FloatArray
    travel: npt.NDArray[np.floating[Any]] | None
    travel_t: npt.NDArray[np.floating[Any]] | None
    leaving: FloatArray
    beta: float
    susceptibility: FloatArray

    @classmethod
    def build(
        cls,
        contacts: FloatArray,
        mobility: FloatArray,
        *,
        beta: float,
        susceptibility: FloatArray,
        single_precision_travel: bool = False,
    ) -> Mixing:
        """Precompute the stacked contact matrix and the off-diagonal travel matrix.

        With ``single_precision_travel`` the two ``(R, R)`` products run in float32
        (twice as fast for thousands of regions; relative error about 1e-7, harmless for
        the stochastic engine, whose draws need probabilities, not exact sums). BLAS
        computes each column of a product the same way whatever the number of columns,
        so a replicate's force of infection does not depend on the other replicates.
        """
        c = np.asarray(contacts, dtype=float)
        n_settings, n_ages = c.shape[0], c.shape[1]
        # stacked[b, s * A + a] = C^s_ab, so prevalence @ stacked gives every setting at once.
        stacked = np.ascontiguousarray(c.transpose(2, 0, 1).reshape(n_ages, n_settings * n_ages))
        travel = np.array(mobility, dtype=float)
        np.fill_diagonal(travel, 0.0)
        leaving = travel.sum(axis=1)
        if not travel.any():
            return cls(c, stacked, None, None, leaving, float(beta), np.asarray(susceptibility))
        dtype = np.float32 if single_precision_travel else np.float64
        return cls(
            c,
            stacked,
            travel.astype(dtype),
            np.ascontiguousarray(travel.T, dtype=dtype),
            leaving,
            float(beta),
            np.asarray(susceptibility, dtype=float),
        )

    def force(
        self,
        infectious: FloatArray,
        community: FloatArray,
        contact_scale: FloatArray | None = None,
        mobility_scale: FloatArray | None = None,
    ) -> FloatArray:
        """Force of infection per resident, ``(reps, R, A)``; see :func:`force_of_infection`."""
        return force_of_infection(self, infectious, community, contact_scale, mobility_scale)


def force_of_infection(
    mixing: Mixing,
    infectious: FloatArray,
    community: FloatArray,
    contact_scale: FloatArray | None = None,
    mobility_scale: FloatArray | None = None,
) -> FloatArray:
    """Hazard of infection per day of a susceptible resident, ``(reps, R, A)``.

    Parameters
    ----------
    mixing
        Prepared contacts and mobility.
    infectious
        Effective infectious residents ``I_jb`` (isolation already applied),
        ``(reps, R, A)``.
    community
        Circulating residents ``N_jb``, ``(reps, R, A)``.
    contact_scale
        Multiplier per setting where contacts happen, ``(reps, R, S)``; ``None`` = 1.
    mobility_scale
        Multiplier on the travel of each region's residents, ``(reps, R)``; ``None`` = 1.

    Returns
    -------
    ndarray, shape (reps, R, A)
        ``lambda_ia`` of the module docstring (per day, before vaccine protection).

    Examples
    --------
    Two regions, one age group, a fifth of region 0 commutes to region 1 where all
    infectious people are:

    >>> mix = Mixing.build(np.full((1, 1, 1), 10.0), np.array([[0.8, 0.2], [0.0, 1.0]]),
    ...                    beta=0.1, susceptibility=np.ones(1))
    >>> lam = force_of_infection(mix, np.array([[[0.0], [100.0]]]),
    ...                          np.array([[[1000.0], [1000.0]]]))
    >>> [round(float(x), 4) for x in lam[0, :, 0]]
    [0.0167, 0.0833]
    """
    reps, n_regions, n_ages = infectious.shape
    if mixing.travel is None or mixing.travel_t is None:
        present_inf, present_pop = infectious, community
        stay = scale = None
    else:
        scale = _travel_scale(mixing.leaving, mobility_scale, reps, n_regions)
        stay = 1.0 - scale * mixing.leaving
        both = np.concatenate([infectious, community], axis=2) * scale[:, :, None]
        arrived = _regions_matmul(mixing.travel_t, both)
        present_inf = stay[:, :, None] * infectious + arrived[:, :, :n_ages]
        present_pop = stay[:, :, None] * community + arrived[:, :, n_ages:]
    prevalence = np.divide(
        present_inf, present_pop, out=np.zeros_like(present_inf), where=present_pop > 0
    )
    if contact_scale is None or np.all(contact_scale == 1.0):
        hazard = prevalence @ mixing.contacts.sum(axis=0).T
    else:
        by_setting = (prevalence @ mixing.stacked).reshape(reps, n_regions, -1, n_ages)
        hazard = np.einsum("rksa,rks->rka", by_setting, contact_scale)
    if mixing.travel is not None and stay is not None and scale is not None:
        hazard = stay[:, :, None] * hazard + scale[:, :, None] * _regions_matmul(
            mixing.travel, hazard
        )
    out: FloatArray = hazard * (mixing.beta * mixing.susceptibility)
    return out


def _travel_scale(
    leaving: FloatArray, mobility_scale: FloatArray | None, reps: int, n_regions: int
) -> FloatArray:
    if mobility_scale is None:
        return np.ones((reps, n_regions))
    with np.errstate(over="ignore"):  # a tiny share leaving gives an infinite (no) cap
        cap = np.divide(1.0, leaving, out=np.full_like(leaving, np.inf), where=leaving > 0)
    out: FloatArray = np.minimum(np.asarray(mobility_scale, dtype=float), cap)
    return out


def _regions_matmul(matrix: npt.NDArray[np.floating[Any]], values: FloatArray) -> FloatArray:
    """``matrix @ values[r]`` for every replicate ``r`` in one product; ``(reps, R, K)``."""
    reps, n_regions, k = values.shape
    flat = np.ascontiguousarray(values.transpose(1, 0, 2), dtype=matrix.dtype)
    product = matrix @ flat.reshape(n_regions, reps * k)
    return np.asarray(product.reshape(n_regions, reps, k).transpose(1, 0, 2), dtype=np.float64)


def check_controls_shape(name: str, array: FloatArray, expected: tuple[int, ...]) -> None:
    """Raise :class:`ShapeError` when a control array does not match the model."""
    if array.shape != expected:
        raise ShapeError(f"DayControls.{name} has shape {array.shape}; the model needs {expected}")
