"""Ensemble state: frozen dataclasses of arrays that share a leading member axis.

A model's state subclasses :class:`ArrayState`. Every field is an array whose first axis
has length ``n`` (ensemble members, patients, replications). ``to_array`` and
``from_array`` give assimilators a flat ``(n, k)`` view without knowing the fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self

import numpy as np

from healthtwin.core.types import FloatArray, IntArray
from healthtwin.errors import InvalidParameterError, ShapeError

__all__ = ["ArrayState", "check_member_count"]


@dataclasses.dataclass(frozen=True)
class ArrayState:
    """Base of model states: every field an array with leading axis ``n``.

    Arrays are made read-only on construction, so a state can be shared safely between
    a twin's history and its forecasts.
    """

    def __post_init__(self) -> None:
        n: int | None = None
        for f in dataclasses.fields(self):
            arr = np.array(getattr(self, f.name), copy=True)
            if arr.ndim == 0:
                raise ShapeError(f"state field {f.name!r} needs a leading member axis")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise ShapeError(f"state field {f.name!r} has {arr.shape[0]} members, expected {n}")
            arr.setflags(write=False)
            object.__setattr__(self, f.name, arr)

    @property
    def n_members(self) -> int:
        first = dataclasses.fields(self)[0].name
        return int(getattr(self, first).shape[0])

    def arrays(self) -> dict[str, np.ndarray[Any, Any]]:
        """Field name -> array."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_array(self) -> FloatArray:
        """All fields flattened per member, shape ``(n, k)``."""
        n = self.n_members
        return np.concatenate(
            [np.asarray(a, dtype=np.float64).reshape(n, -1) for a in self.arrays().values()],
            axis=1,
        )

    def from_array(self, flat: FloatArray) -> Self:
        """A state of the same layout filled from ``flat`` (shape ``(m, k)``)."""
        flat = np.asarray(flat, dtype=np.float64)
        widths = [int(np.prod(a.shape[1:], dtype=np.int64)) for a in self.arrays().values()]
        if flat.ndim != 2 or flat.shape[1] != sum(widths):
            raise ShapeError(f"flat state must have shape (m, {sum(widths)}), got {flat.shape}")
        m = flat.shape[0]
        parts: dict[str, Any] = {}
        start = 0
        for (name, arr), w in zip(self.arrays().items(), widths, strict=True):
            parts[name] = flat[:, start : start + w].reshape(m, *arr.shape[1:]).astype(arr.dtype)
            start += w
        return dataclasses.replace(self, **parts)

    def take(self, index: IntArray | slice | list[int]) -> Self:
        """The members at ``index`` (a new state)."""
        return dataclasses.replace(
            self, **{k: np.asarray(v)[index] for k, v in self.arrays().items()}
        )

    def repeat(self, n: int) -> Self:
        """A one-member state copied to ``n`` members."""
        if self.n_members != 1:
            raise ShapeError(f"repeat needs a one-member state, got {self.n_members} members")
        return dataclasses.replace(
            self, **{k: np.repeat(v, n, axis=0) for k, v in self.arrays().items()}
        )

    @classmethod
    def concat(cls, states: list[Self]) -> Self:
        """Members of several states of the same type stacked in order."""
        if not states:
            raise ShapeError("concat needs at least one state")
        first = states[0]
        return dataclasses.replace(
            first,
            **{k: np.concatenate([s.arrays()[k] for s in states]) for k in first.arrays()},
        )


def check_member_count(n: object) -> int:
    """``n`` as a member count (a positive integer), or :class:`InvalidParameterError`."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InvalidParameterError(f"member count n must be a positive integer, got {n!r}")
    return int(n)
