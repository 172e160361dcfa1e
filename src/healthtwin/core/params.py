"""Validated parameter sets whose values may vary per member.

A model's parameters subclass :class:`Parameters`: a frozen, keyword-only dataclass whose
fields are floats or arrays on the member axis. Construction checks every value is finite,
inside its declared domain, and that per-member arrays agree in length.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Self

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError, MemberIndexError, ShapeError

__all__ = ["Parameters"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Parameters:
    """Base of model parameter sets.

    Subclasses list their fields (``float | FloatArray``) and may set ``positive`` and
    ``nonnegative`` (field names) and ``fractions`` (fields in ``[0, 1]``). After
    construction every field is a read-only 1-D array of length 1 (shared) or ``n``.
    """

    positive: ClassVar[frozenset[str]] = frozenset()
    nonnegative: ClassVar[frozenset[str]] = frozenset()
    fractions: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        lengths: set[int] = set()
        for f in dataclasses.fields(self):
            raw = getattr(self, f.name)
            try:
                arr = np.array(raw, dtype=np.float64, ndmin=1)
            except (TypeError, ValueError) as err:
                raise InvalidParameterError(
                    f"{type(self).__name__}.{f.name} must be a number or an array of numbers, "
                    f"got {raw!r}"
                ) from err
            if arr.ndim != 1:
                raise ShapeError(f"{type(self).__name__}.{f.name} must be scalar or 1-D")
            self._check_domain(f.name, arr)
            arr.setflags(write=False)
            object.__setattr__(self, f.name, arr)
            if arr.size != 1:
                lengths.add(arr.size)
        if len(lengths) > 1:
            raise ShapeError(
                f"{type(self).__name__} fields have different member counts {sorted(lengths)}; "
                "give scalars or arrays of one common length"
            )

    def _check_domain(self, name: str, arr: FloatArray) -> None:
        where = f"{type(self).__name__}.{name}"
        if not np.all(np.isfinite(arr)):
            raise InvalidParameterError(f"{where} must be finite, got {arr.tolist()}")
        if name in self.positive and np.any(arr <= 0):
            raise InvalidParameterError(f"{where} must be > 0, got {arr.tolist()}")
        if name in self.nonnegative and np.any(arr < 0):
            raise InvalidParameterError(f"{where} must be >= 0, got {arr.tolist()}")
        if name in self.fractions and np.any((arr < 0) | (arr > 1)):
            raise InvalidParameterError(f"{where} must be in [0, 1], got {arr.tolist()}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Field names in matrix column order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @property
    def n_members(self) -> int:
        """1 when every field is shared, else the common per-member length."""
        return max(np.size(getattr(self, name)) for name in self.names())

    def to_matrix(self, n: int | None = None) -> FloatArray:
        """Values as a matrix, shape ``(n, n_parameters)``, shared fields repeated."""
        n = self.n_members if n is None else n
        if self.n_members not in (1, n):
            raise ShapeError(f"parameters are for {self.n_members} members, asked for {n}")
        cols = [np.broadcast_to(getattr(self, name), (n,)) for name in self.names()]
        return np.ascontiguousarray(np.stack(cols, axis=1))

    @classmethod
    def from_matrix(cls, matrix: FloatArray) -> Self:
        """Parameters from a matrix whose columns follow :meth:`names`."""
        matrix = np.asarray(matrix, dtype=np.float64)
        names = cls.names()
        if matrix.ndim != 2 or matrix.shape[1] != len(names):
            raise ShapeError(f"need shape (n, {len(names)}), got {matrix.shape}")
        return cls(**{name: matrix[:, i] for i, name in enumerate(names)})

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def member(self, i: int) -> Self:
        """The parameters of member ``i`` alone (negative ``i`` counts from the end)."""
        n = self.n_members
        if not -n <= i < n:
            raise MemberIndexError(f"member {i} is out of range for {n} member(s)")
        return type(self).from_matrix(self.to_matrix()[[i]])
