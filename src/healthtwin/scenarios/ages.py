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

Both are *prefix-consistent*: the bands and members of the patients of days ``0..d``
do not depend on later days' admissions (day ``d``'s shuffle draws from the generator
after days ``0..d-1``'s, and a patient's member depends only on the patients of its
band before it), so a hospital simulated over the first days of a run matches its
patients as the whole run does. :class:`AdmittedPatients` puts the two together for one
hospital and gives each patient's twin growth multiplier
(:mod:`~healthtwin.coupling.twin_calibration`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidInputError

__all__ = ["AdmittedPatients", "age_band_edges", "band_pools", "match_members", "patient_bands"]


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
    pools = band_pools(member_ages, edges)
    out = np.zeros(np.asarray(bands).size, dtype=np.int64)
    for b, chosen in enumerate(pools):
        mine = np.flatnonzero(np.asarray(bands) == b)
        if mine.size:
            out[mine] = chosen[np.arange(mine.size) % chosen.size]
    return out


def band_pools(member_ages: FloatArray, edges: FloatArray) -> list[IntArray]:
    """The members each band's patients are matched to (:func:`match_members`), in order.

    A band's own members, else those of the nearest band that has members (the lower
    one on a tie), else everyone.

    Examples
    --------
    >>> [p.tolist() for p in band_pools(np.array([30.0, 70.0]), np.array([0.0, 20.0, 65.0]))]
    [[0], [0], [1]]
    """
    ages = np.asarray(member_ages, dtype=float)
    if ages.size == 0:
        raise InvalidInputError("match_members needs at least one cohort member")
    lower = np.asarray(edges, dtype=float)
    member_band = np.searchsorted(lower, ages, side="right") - 1  # below the first: -1
    members = [np.flatnonzero(member_band == b) for b in range(lower.size)]
    filled = [b for b in range(lower.size) if members[b].size]
    if not filled:
        return [np.arange(ages.size) for _ in range(lower.size)]
    return [members[min(filled, key=lambda f: (abs(f - b), f))] for b in range(lower.size)]


@dataclass(frozen=True)
class AdmittedPatients:
    """One hospital's admitted patients: their age bands, cohort members and twin growth.

    Attributes
    ----------
    generator
        ``generator(rep)``: the generator that shuffles replicate ``rep``'s bands within
        each day (a fresh one per call, the same numbers each time).
    age_factor : ndarray, shape (A,)
        Twin growth factor of each age band (calibrated or 1).
    member_ages : ndarray, shape (m,), optional
        The cohort's ages (years); None without a cohort.
    member_multiplier : ndarray, shape (m,), optional
        Each member's covariate growth multiplier.
    edges : ndarray, shape (A,), optional
        Lower edges of the bands; None when the age groups are not numeric (members are
        then patient ``p``'s ``p mod m``).

    Examples
    --------
    >>> patients = AdmittedPatients(np.random.default_rng, np.array([1.0, 2.0]),
    ...     np.array([30.0, 70.0]), np.array([1.0, 1.5]), np.array([0.0, 65.0]))
    >>> bands, members = patients.match(0, np.array([[1, 0], [0, 1]]))
    >>> bands.tolist(), members.tolist(), patients.growth(bands, members).tolist()
    ([0, 1], [0, 1], [1.0, 3.0])
    """

    generator: Callable[[int], np.random.Generator]
    age_factor: FloatArray
    member_ages: FloatArray | None = None
    member_multiplier: FloatArray | None = None
    edges: FloatArray | None = None

    def match(self, rep: int, by_day_and_band: IntArray) -> tuple[IntArray, IntArray | None]:
        """Bands ``(n,)`` and cohort members ``(n,)`` (None without a cohort), arrival order."""
        bands = patient_bands(by_day_and_band, self.generator(rep))
        if self.member_ages is None:
            return bands, None
        if self.edges is None:
            return bands, np.arange(bands.size) % self.member_ages.size
        return bands, match_members(bands, self.member_ages, self.edges)

    def growth(self, bands: IntArray, members: IntArray | None) -> FloatArray:
        """Each patient's twin growth multiplier: band factor x member covariates, ``(n,)``."""
        out = np.asarray(self.age_factor, dtype=float)[np.asarray(bands, dtype=np.int64)]
        if members is not None and self.member_multiplier is not None:
            out = out * self.member_multiplier[members]
        return np.asarray(out)

    def pools(self) -> list[FloatArray]:
        """Covariate multipliers of the members each band is matched to (calibration)."""
        n_bands = np.asarray(self.age_factor).size
        if self.member_ages is None or self.member_multiplier is None:
            return [np.ones(1) for _ in range(n_bands)]
        if self.edges is None:
            return [self.member_multiplier for _ in range(n_bands)]
        return [self.member_multiplier[p] for p in band_pools(self.member_ages, self.edges)]
