"""Who meets whom: age-structured contact matrices by setting.

``matrices[s, i, j]`` is the mean number of daily contacts that one person of age group
``i`` has with people of age group ``j`` in setting ``s`` (the convention of Prem, Cook &
Jit 2017, PLoS Comput Biol 13:e1005697, and Prem et al. 2021). The total matrix is the sum
over settings; interventions scale settings separately.

Reciprocity: contacts counted by group ``i`` with ``j`` (``C_ij N_i``) must equal those
counted by ``j`` with ``i`` (``C_ji N_j``). Survey matrices break it; the correction of
Arregui, Aleta, Sanz & Moreno (2018), PLoS Comput Biol 14:e1006638, is
``C'_ij = (C_ij N_i + C_ji N_j) / (2 N_i)`` (:meth:`ContactMatrices.symmetrized`).

From R0 to a transmission rate: with the force of infection on a susceptible of group
``i`` equal to ``beta sigma_i sum_j C_ij tau_j I_j / N_j`` (``sigma`` relative
susceptibility, ``tau`` relative infectiousness) and a mean infectious period ``D``, the
next-generation matrix (Diekmann, Heesterbeek & Metz 1990) is
``K_ij = beta D sigma_i C_ij tau_j N_i / N_j`` and ``R0 = beta D rho(K / (beta D))``, so
``beta = R0 / (D * next_generation_radius(...))``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, ShapeError
from healthtwin.population.geography import AGE_GROUPS_16, age_group_spans

__all__ = ["SETTINGS", "ContactMatrices", "synthetic_contacts"]

#: The four settings of Prem et al.; "community" is their "other locations".
SETTINGS: tuple[str, ...] = ("home", "work", "school", "community")


@dataclass(frozen=True)
class ContactMatrices:
    """Daily contacts by setting and age group.

    Parameters
    ----------
    settings
        Setting names, length ``S`` (usually :data:`SETTINGS`).
    age_groups
        Age-group labels, length ``A``.
    matrices
        Shape ``(S, A, A)``; entry ``[s, i, j]`` is contacts per day of one person in
        group ``i`` with people in group ``j`` in setting ``s``; finite and >= 0.

    Examples
    --------
    >>> m = ContactMatrices(settings=("home", "community"), age_groups=("young", "old"),
    ...                     matrices=np.array([[[2.0, 1.0], [1.0, 1.0]],
    ...                                        [[5.0, 1.0], [1.0, 2.0]]]))
    >>> m.total().tolist()
    [[7.0, 2.0], [2.0, 3.0]]
    >>> m.setting("home").tolist()
    [[2.0, 1.0], [1.0, 1.0]]
    """

    settings: tuple[str, ...]
    age_groups: tuple[str, ...]
    matrices: FloatArray

    def __post_init__(self) -> None:
        settings = tuple(str(s) for s in self.settings)
        ages = tuple(str(a) for a in self.age_groups)
        if not settings or len(set(settings)) != len(settings):
            raise InvalidInputError(f"settings must be unique and non-empty; got {settings}")
        mats = np.array(self.matrices, dtype=float)
        expected = (len(settings), len(ages), len(ages))
        if mats.shape != expected:
            raise ShapeError(
                f"contact matrices have shape {mats.shape}; expected (settings, age groups, "
                f"age groups) = {expected}"
            )
        if not np.all(np.isfinite(mats)) or np.any(mats < 0):
            raise InvalidInputError(
                "contact matrices must be finite and >= 0; found "
                f"{int(np.sum(~np.isfinite(mats) | (mats < 0)))} bad entries"
            )
        mats.setflags(write=False)
        object.__setattr__(self, "settings", settings)
        object.__setattr__(self, "age_groups", ages)
        object.__setattr__(self, "matrices", mats)

    @property
    def n_ages(self) -> int:
        """Number of age groups ``A``."""
        return len(self.age_groups)

    def total(self) -> FloatArray:
        """All settings together, shape ``(A, A)``."""
        return np.asarray(self.matrices.sum(axis=0))

    def setting(self, name: str) -> FloatArray:
        """The matrix of one setting; unknown names list the known ones."""
        if name not in self.settings:
            raise InvalidInputError(f"unknown setting {name!r}; known settings: {self.settings}")
        return np.asarray(self.matrices[self.settings.index(name)])

    def scaled(self, factors: Mapping[str, float]) -> ContactMatrices:
        """Each named setting's contacts multiplied by its factor; others unchanged.

        Raises
        ------
        InvalidInputError
            An unknown setting (the known ones are listed).
        InvalidParameterError
            A negative or non-finite factor.

        Examples
        --------
        >>> m = ContactMatrices(settings=("home", "school"), age_groups=("all",),
        ...                     matrices=np.array([[[3.0]], [[6.0]]]))
        >>> m.scaled({"school": 0.0}).total().tolist()
        [[3.0]]
        """
        scale = np.ones(len(self.settings))
        for name, factor in factors.items():
            if name not in self.settings:
                raise InvalidInputError(
                    f"unknown setting {name!r}; known settings: {self.settings}"
                )
            if not np.isfinite(factor) or factor < 0:
                raise InvalidParameterError(
                    f"contact factor for {name!r} is {factor}; it must be finite and >= 0"
                )
            scale[self.settings.index(name)] = float(factor)
        return self._replace(self.matrices * scale[:, None, None])

    def symmetrized(self, population: ArrayLike) -> ContactMatrices:
        """Reciprocal contacts for ``population`` (Arregui et al. 2018), per setting.

        ``C'_ij = (C_ij N_i + C_ji N_j) / (2 N_i)``, so that ``C'_ij N_i == C'_ji N_j``
        and the total number of contacts is unchanged.

        Parameters
        ----------
        population
            People per age group ``N``, shape ``(A,)``, all > 0.

        Examples
        --------
        >>> m = ContactMatrices(settings=("all",), age_groups=("young", "old"),
        ...                     matrices=np.array([[[4.0, 2.0], [1.0, 3.0]]]))
        >>> m.symmetrized([100.0, 50.0]).matrices[0].tolist()
        [[4.0, 1.25], [2.5, 3.0]]
        """
        n = self._population(population, positive=True)
        flows = self.matrices * n[None, :, None]
        return self._replace((flows + flows.transpose(0, 2, 1)) / (2.0 * n[None, :, None]))

    def aggregated(
        self, population: ArrayLike, groups: Mapping[str, Sequence[str]]
    ) -> ContactMatrices:
        """Contacts between coarser age groups, preserving the total number of contacts.

        ``C_IJ = sum_{i in I} N_i sum_{j in J} C_ij / sum_{i in I} N_i``: rows weighted by
        population, columns summed. A coarse group with no people gets the plain mean of
        its rows.

        Parameters
        ----------
        population
            People per fine age group, shape ``(A,)``, >= 0.
        groups
            New label -> the fine labels it merges, in the new order; every fine group
            must appear exactly once.

        Examples
        --------
        >>> m = ContactMatrices(settings=("all",), age_groups=("0-9", "10-19", "20+"),
        ...                     matrices=np.array([[[2.0, 1.0, 1.0], [1.0, 4.0, 1.0],
        ...                                         [1.0, 1.0, 3.0]]]))
        >>> a = m.aggregated([100, 300, 600], {"0-19": ["0-9", "10-19"], "20+": ["20+"]})
        >>> a.matrices[0].tolist()
        [[4.5, 1.0], [2.0, 3.0]]
        """
        n = self._population(population, positive=False)
        members = self._membership(groups)
        weighted = self.matrices * n[None, :, None]
        rows = np.einsum("Ii,sij->sIj", members, weighted)
        weight = members @ n
        plain = np.einsum("Ii,sij->sIj", members, self.matrices) / members.sum(axis=1)[:, None]
        safe = np.where(weight > 0, weight, 1.0)
        mean_rows = np.where(weight[None, :, None] > 0, rows / safe[None, :, None], plain)
        coarse = np.einsum("sIj,Jj->sIJ", mean_rows, members)
        return ContactMatrices(settings=self.settings, age_groups=tuple(groups), matrices=coarse)

    def spectral_radius(self) -> float:
        """Largest absolute eigenvalue of the total matrix (all settings).

        Examples
        --------
        >>> m = ContactMatrices(settings=("all",), age_groups=("a", "b"),
        ...                     matrices=np.array([[[2.0, 1.0], [1.0, 2.0]]]))
        >>> m.spectral_radius()
        3.0
        """
        return float(np.max(np.abs(np.linalg.eigvals(self.total()))))

    def next_generation_radius(
        self,
        population: ArrayLike,
        *,
        susceptibility: ArrayLike | None = None,
        infectiousness: ArrayLike | None = None,
    ) -> float:
        """Spectral radius of ``sigma_i C_ij tau_j N_i / N_j`` (the NGM per unit beta D).

        ``beta = R0 / (D * radius)`` gives the transmission rate per contact for a basic
        reproduction number ``R0`` and a mean infectious period ``D`` (see the module
        docstring). Age groups with no people are left out. Without susceptibility and
        infectiousness profiles it equals :meth:`spectral_radius` (the ``N_i / N_j``
        factor is a similarity transform); apply :meth:`symmetrized` first to make the
        population matter through reciprocity.

        Parameters
        ----------
        population
            People per age group, shape ``(A,)``, >= 0 with at least one > 0.
        susceptibility, infectiousness
            Relative profiles ``sigma`` and ``tau``, shape ``(A,)``, >= 0 (default ones).

        Examples
        --------
        >>> m = ContactMatrices(settings=("all",), age_groups=("a", "b"),
        ...                     matrices=np.array([[[2.0, 1.0], [1.0, 2.0]]]))
        >>> round(m.next_generation_radius([10.0, 30.0], susceptibility=[1.0, 0.0]), 12)
        2.0
        """
        n = self._population(population, positive=False)
        sigma = self._profile("susceptibility", susceptibility)
        tau = self._profile("infectiousness", infectiousness)
        alive = n > 0
        if not alive.any():
            raise InvalidInputError("population is zero in every age group; nobody to infect")
        k = sigma[:, None] * self.total() * tau[None, :] * n[:, None] / np.where(alive, n, 1.0)
        k = k[np.ix_(alive, alive)]
        return float(np.max(np.abs(np.linalg.eigvals(k))))

    def _replace(self, matrices: FloatArray) -> ContactMatrices:
        return ContactMatrices(
            settings=self.settings, age_groups=self.age_groups, matrices=matrices
        )

    def _population(self, population: ArrayLike, *, positive: bool) -> FloatArray:
        n = np.asarray(population, dtype=float)
        if n.shape != (self.n_ages,):
            raise ShapeError(
                f"population has shape {n.shape}; expected one number per age group "
                f"({self.n_ages},)"
            )
        low = (n <= 0) if positive else (n < 0)
        if not np.all(np.isfinite(n)) or low.any():
            bound = "> 0" if positive else ">= 0"
            raise InvalidInputError(
                f"population by age group must be finite and {bound}; got {n.tolist()}"
            )
        return n

    def _profile(self, name: str, values: ArrayLike | None) -> FloatArray:
        if values is None:
            return np.ones(self.n_ages)
        arr = np.asarray(values, dtype=float)
        if arr.shape != (self.n_ages,) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise InvalidParameterError(
                f"{name} must be {self.n_ages} finite numbers >= 0 (one per age group); got "
                f"{np.asarray(values).tolist()!r}"
            )
        return arr

    def _membership(self, groups: Mapping[str, Sequence[str]]) -> FloatArray:
        """Indicator matrix ``(new groups, old groups)``; each old group used once."""
        if not groups:
            raise InvalidInputError("aggregation needs at least one coarse age group")
        members = np.zeros((len(groups), self.n_ages))
        for row, (label, fine) in enumerate(groups.items()):
            if isinstance(fine, str) or not fine:
                raise InvalidInputError(
                    f"coarse group {label!r} must list the fine age groups it merges; got {fine!r}"
                )
            for name in fine:
                if name not in self.age_groups:
                    raise InvalidInputError(
                        f"coarse group {label!r} lists unknown age group {name!r}; known: "
                        f"{self.age_groups}"
                    )
                members[row, self.age_groups.index(name)] += 1.0
        used = members.sum(axis=0)
        if np.any(used != 1):
            missing = [a for a, u in zip(self.age_groups, used, strict=True) if u == 0]
            repeated = [a for a, u in zip(self.age_groups, used, strict=True) if u > 1]
            raise InvalidInputError(
                "every fine age group must be in exactly one coarse group; missing: "
                f"{missing}, in more than one: {repeated}"
            )
        return members


# Synthetic contacts per person per day, averaged over a flat age distribution, and the
# spread (years) of the Gaussian age kernels. Chosen to resemble the magnitudes of
# published surveys (Mossong et al. 2008: about 13 contacts a day in all), not fitted.
_MEAN_CONTACTS = {"home": 4.0, "work": 3.5, "school": 2.5, "community": 4.0}


def synthetic_contacts(age_groups: Sequence[str] = AGE_GROUPS_16) -> ContactMatrices:
    """A deterministic, plausible set of contact matrices built from simple rules.

    Not derived from any data set; for tests and examples. With ``x`` the mid-age of a
    group (labels ``"a-b"`` or ``"a+"``, an open group spanning 10 years), each setting
    has a symmetric age kernel ``k(x_i, x_j)`` and ``C_ij = c k(x_i, x_j) w_j``, ``w_j``
    the group's width in years, so the matrices are reciprocal for a flat age pyramid:

    - home: partners and siblings (same age), parents and children (30 years apart),
      grandparents (60 years apart), Gaussian kernels of 5 years;
    - school: pupils 5-19 with pupils of about their age (2.5 years) plus teachers
      (ages 25-64) at a fortieth of that intensity;
    - work: ages 20-64 with each other, broad (12 years);
    - community: everyone, broad (15 years) plus a uniform floor.

    Each setting is scaled to a mean of (home 4, work 3.5, school 2.5, community 4)
    contacts a day over a flat population.

    Examples
    --------
    >>> m = synthetic_contacts()
    >>> m.settings, m.matrices.shape
    (('home', 'work', 'school', 'community'), (4, 16, 16))
    >>> bool(m.setting("school")[2, 2] > m.setting("school")[12, 12])
    True
    """
    mid, width = age_group_spans(age_groups)
    gap = mid[:, None] - mid[None, :]

    def bump(centre: float, spread: float) -> FloatArray:
        return np.asarray(np.exp(-((np.abs(gap) - centre) ** 2) / (2.0 * spread**2)))

    pupil = ((mid >= 5) & (mid < 20)).astype(float)
    teacher = ((mid >= 25) & (mid < 65)).astype(float)
    worker = ((mid >= 20) & (mid < 65)).astype(float)
    kernels = {
        "home": bump(0.0, 5.0) + 0.6 * bump(30.0, 5.0) + 0.2 * bump(60.0, 5.0),
        "work": np.outer(worker, worker) * bump(0.0, 12.0),
        "school": np.outer(pupil, pupil) * bump(0.0, 2.5)
        + (np.outer(pupil, teacher) + np.outer(teacher, pupil)) / 40.0,
        "community": bump(0.0, 15.0) + 0.2,
    }
    matrices = []
    for setting in SETTINGS:
        raw = kernels[setting] * width[None, :]
        mean = float((raw.sum(axis=1) * width).sum() / width.sum())
        matrices.append(raw * (_MEAN_CONTACTS[setting] / mean if mean > 0 else 0.0))
    return ContactMatrices(
        settings=SETTINGS, age_groups=tuple(age_groups), matrices=np.array(matrices)
    )
