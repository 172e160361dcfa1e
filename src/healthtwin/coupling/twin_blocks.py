"""Blocks of simulated twins: batched integration, a shared cache and replication entropy.

Twins are integrated in blocks of ``block_size`` patient ids, vectorized across patients
(:func:`simulate_twins`, in chunks of at most :data:`CHUNK_TWINS`); a
:class:`TwinBlock` holds each twin's event times and its NEWS2 on the time grid. Patient
``p``'s draws come from ``SeedSequence((seed, r, p))`` where ``r`` is read (not consumed)
from the replication's course generator (:func:`replication_entropy`), so two hospital
configs simulated with the same seed share patient twins, and a cache keyed by
``(seed, r, block)`` can hold them across runs (:func:`prefetch_twins` fills it for many
courses at once).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.coupling.twin_dynamics import (
    D_INDEX,
    first_crossing,
    integrate_twins,
    news2_scores,
    resolution_hours,
    twin_initial_state,
)
from healthtwin.coupling.twin_settings import TwinCourseSettings
from healthtwin.errors import InvalidParameterError

__all__ = [
    "BLOCK_FIELDS",
    "CHUNK_TWINS",
    "TwinBlock",
    "TwinRequest",
    "growth_multipliers",
    "prefetch_twins",
    "replication_entropy",
    "simulate_twins",
]


@dataclass(frozen=True)
class TwinBlock:
    """Twins of ``block_size`` consecutive patient ids: events (h) and NEWS2 on the grid."""

    deterioration: FloatArray  # (B,), inf when never
    death: FloatArray
    resolved: FloatArray
    total: npt.NDArray[np.int8]  # (B, T)
    single_3: BoolArray  # (B, T)
    growth_multiplier: FloatArray = field(default_factory=lambda: np.zeros(0))  # (B,)

    @property
    def size(self) -> int:
        return int(self.deterioration.size)

    def joined(self, more: TwinBlock) -> TwinBlock:
        """This block's twins followed by ``more``'s."""
        parts = (np.concatenate([getattr(self, f), getattr(more, f)]) for f in BLOCK_FIELDS)
        return TwinBlock(*parts)


BLOCK_FIELDS = ("deterioration", "death", "resolved", "total", "single_3", "growth_multiplier")


#: ``(seed, replication entropy, patient ids, growth multipliers)`` of twins to simulate.
TwinRequest = tuple[int, int, range, FloatArray]


def replication_entropy(rng: np.random.Generator) -> int:
    """The number a course reads (without consuming it) from a replication's generator."""
    state = repr(rng.bit_generator.state).encode()
    return int(hashlib.sha256(state).hexdigest()[:16], 16)


def prefetch_twins(
    settings: TwinCourseSettings,
    courses: Sequence[tuple[int, int, FloatArray]],
    cache: MutableMapping[tuple[int, int, int], Any],
) -> int:
    """Simulate in one batch the twins that courses will ask ``cache`` for and it lacks.

    A run of many hospitals (or replications) over the same days asks for a few new
    twins each; integrating them together costs little more than integrating one
    hospital's (the integration's cost is mostly per step, not per twin).

    Parameters
    ----------
    settings
        The courses' settings (the same for all).
    courses
        ``(seed, replication_entropy(course generator), growth multipliers (n,))`` of
        each :class:`TwinCourse` that will run with ``twin_cache=cache``.
    cache
        The courses' twin cache; completed in place.

    Returns
    -------
    int
        Twins simulated.
    """
    size = settings.block_size
    requests: list[TwinRequest] = []
    where: list[tuple[tuple[int, int, int], TwinBlock | None]] = []
    for seed, entropy, growth in courses:
        growth = growth_multipliers(growth)
        for b in range(-(-growth.size // size)):
            key, wanted = (seed, entropy, b), growth[b * size : (b + 1) * size]
            cached: TwinBlock | None = cache.get(key)
            if cached is not None:
                n = min(cached.size, wanted.size)
                if not np.array_equal(cached.growth_multiplier[:n], wanted[:n]):
                    cached = None
            have = 0 if cached is None else cached.size
            if have >= wanted.size:
                continue
            ids = range(b * size + have, b * size + wanted.size)
            requests.append((seed, entropy, ids, wanted[have:]))
            where.append((key, cached))
    for (key, cached), block in zip(where, simulate_twins(settings, requests), strict=True):
        cache[key] = block if cached is None else cached.joined(block)
    return sum(len(r[2]) for r in requests)


def simulate_twins(
    settings: TwinCourseSettings, requests: Sequence[TwinRequest]
) -> list[TwinBlock]:
    """The twins of each request, integrated together, one block per request.

    Twins go through in chunks of at most :data:`CHUNK_TWINS`: the NEWS2 scores hold a
    few arrays of ``(twins, grid)`` (about 1 MB per twin at the default grid).
    """
    if not requests:
        return []
    rows = [(seed, entropy, i) for seed, entropy, ids, _ in requests for i in ids]
    growth = np.concatenate([np.asarray(r[3], dtype=float) for r in requests])
    parts = [
        _simulate_rows(settings, rows[a : a + CHUNK_TWINS], growth[a : a + CHUNK_TWINS])
        for a in range(0, len(rows), CHUNK_TWINS)
    ]
    every = TwinBlock(*(np.concatenate([getattr(p, f) for p in parts]) for f in BLOCK_FIELDS))
    bounds = np.cumsum([0] + [len(r[2]) for r in requests])
    return [
        TwinBlock(*(getattr(every, f)[a:b] for f in BLOCK_FIELDS))
        for a, b in itertools.pairwise(bounds)
    ]


#: Most twins integrated and scored at once.
CHUNK_TWINS = 128


def _simulate_rows(
    settings: TwinCourseSettings, rows: Sequence[tuple[int, int, int]], growth: FloatArray
) -> TwinBlock:
    """Twins ``(seed, replication entropy, patient id)`` with their growth multipliers."""
    s = settings
    grid = np.arange(0.0, s.horizon_hours + 0.5 * s.step_hours, s.step_hours)
    gens = [np.random.default_rng(np.random.SeedSequence(list(row))) for row in rows]
    z = np.array([g.standard_normal(4) for g in gens]).reshape(len(gens), 4)
    x0, theta = twin_initial_state(s, z[:, 0], z[:, 1], growth)
    states, _ = integrate_twins(x0, theta, s)
    assert states is not None
    deterioration = first_crossing(grid, states[:, :, D_INDEX], s.deterioration_damage)
    death = first_crossing(grid, states[:, :, D_INDEX], s.death_damage)
    resolved = resolution_hours(states, s, grid)
    total, single_3 = news2_scores(states, z[:, 2:], gens, s)
    return TwinBlock(deterioration, death, resolved, total, single_3, np.asarray(growth, float))


def growth_multipliers(values: FloatArray) -> FloatArray:
    """``values`` as a flat float array, checked finite and positive.

    Examples
    --------
    >>> growth_multipliers(np.array([[1.0, 2.0]])).tolist()
    [1.0, 2.0]
    """
    out = np.asarray(values, dtype=float).reshape(-1)
    if not (np.isfinite(out) & (out > 0)).all():
        raise InvalidParameterError(
            "growth_multiplier must be finite and > 0 for every patient; got "
            f"{out[~(np.isfinite(out) & (out > 0))][:3].tolist()}"
        )
    return out
