"""Ages from region to hospital: admitted patients matched to cohort members by age band.

The epidemic (run with ``keep_ages=True``) gives each day's admissions by region and age
group; :func:`~healthtwin.coupling.region_hospital.route_admissions` splits them over the
hospitals keeping the age axis. A hospital's patients are numbered in arrival order and
day ``d``'s arrivals form one contiguous block (admission times are sorted and lie in day
``d``'s 24 hours), so :func:`patient_bands` gives each patient of that block an age band
by shuffling the day's band labels (the order within a day is exchangeable).
:func:`match_members` then picks, for each patient, a member of the synthetic cohort in
the same band (in turn, cycling), or of the nearest band that has members when the
cohort has none in it (a cohort of adults has no one for a ``0-19`` band).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError

__all__ = ["age_band_edges", "match_members", "patient_bands"]


def age_band_edges(labels: Sequence[str]) -> FloatArray | None:
    """Lower age edges (years) of age-group labels such as ``"0-19"``, ``"65+"``.

    None when a label does not start with a number or the edges do not increase (the
    bands are then unknown and patients are not matched by age).

    Examples
    --------
    >>> age_band_edges(["0-19", "20-64", "65+"]).tolist()
    [0.0, 20.0, 65.0]
    >>> age_band_edges(["all"]) is None
    True
    """
    edges = []
    for label in labels:
        m = re.match(r"\s*(\d+(?:\.\d+)?)", str(label))
        if m is None:
            return None
        edges.append(float(m.group(1)))
    out = np.asarray(edges, dtype=float)
    if out.size == 0 or (np.diff(out) <= 0).any():
        return None
    return out


def patient_bands(by_day_and_band: IntArray, rng: np.random.Generator) -> IntArray:
    """Age band of each patient in arrival order, from admissions by day and band.

    Parameters
    ----------
    by_day_and_band : ndarray of int, shape (days, A)
        A hospital's admissions per day and age band.
    rng
        Shuffles the bands within each day.

    Returns
    -------
    ndarray of int, shape (sum(by_day_and_band),)

    Examples
    --------
    >>> bands = patient_bands(np.array([[2, 1], [0, 3]]), np.random.default_rng(0))
    >>> sorted(bands[:3].tolist()), bands[3:].tolist()
    ([0, 0, 1], [1, 1, 1])
    """
    counts = np.asarray(by_day_and_band, dtype=np.int64)
    if counts.ndim != 2 or (counts < 0).any():
        raise InvalidInputError(
            f"by_day_and_band must be (days, A) counts >= 0; got {counts.shape}"
        )
    parts = [rng.permutation(np.repeat(np.arange(counts.shape[1]), row)) for row in counts]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def match_members(bands: IntArray, member_ages: FloatArray, edges: FloatArray) -> IntArray:
    """A cohort member for each patient, in the patient's age band (else the nearest).

    Parameters
    ----------
    bands : ndarray of int, shape (n,)
        Each patient's age band (index into ``edges``).
    member_ages : ndarray, shape (m,)
        Ages of the cohort members (years), ``m >= 1``.
    edges : ndarray, shape (A,)
        Lower edges of the bands; band ``b`` is ``[edges[b], edges[b + 1])``.

    Returns
    -------
    ndarray of int, shape (n,)
        Member index of each patient: the ``k``-th patient of a band gets that band's
        members in turn (``k mod`` their number).

    Examples
    --------
    >>> match_members(np.array([1, 0, 1, 1]), np.array([30.0, 70.0, 80.0]),
    ...               np.array([0.0, 65.0])).tolist()
    [1, 0, 2, 1]
    """
    ages = np.asarray(member_ages, dtype=float)
    if ages.size == 0:
        raise InvalidInputError("match_members needs at least one cohort member")
    lower = np.asarray(edges, dtype=float)
    member_band = np.searchsorted(lower, ages, side="right") - 1  # below the first: -1
    members = [np.flatnonzero(member_band == b) for b in range(lower.size)]
    filled = [b for b in range(lower.size) if members[b].size]
    pool = [np.arange(ages.size)] if not filled else []
    out = np.zeros(np.asarray(bands).size, dtype=np.int64)
    for b in range(lower.size):
        mine = np.flatnonzero(np.asarray(bands) == b)
        if not mine.size:
            continue
        if pool:
            chosen = pool[0]
        else:
            nearest = min(filled, key=lambda f: (abs(f - b), f))
            chosen = members[nearest]
        out[mine] = chosen[np.arange(mine.size) % chosen.size]
    return out
