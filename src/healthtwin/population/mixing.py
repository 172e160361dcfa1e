"""Who meets whom: age-structured contact matrices by setting.

``matrices[s, i, j]`` is the mean number of daily contacts that one person of age group
``i`` has with people of age group ``j`` in setting ``s`` (the convention of Prem, Cook &
Jit 2017, PLoS Comput Biol 13:e1005697, and Prem et al. 2021). The total matrix is the sum
over settings; interventions scale settings separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, ShapeError

__all__ = ["SETTINGS", "ContactMatrices"]

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
