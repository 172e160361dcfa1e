"""Today's census: patients already in beds, each with the hours they have spent there."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from healthtwin.errors import InvalidInputError

__all__ = ["Census", "CensusEntry"]


@dataclass(frozen=True, slots=True)
class CensusEntry:
    """One occupied bed: the unit, hours already spent there, and the triage category."""

    unit: str
    elapsed_hours: float
    triage: int = 3

    def __post_init__(self) -> None:
        if not self.elapsed_hours >= 0:
            raise InvalidInputError(
                f"census: elapsed_hours must be >= 0, got {self.elapsed_hours!r} in unit "
                f"{self.unit!r}"
            )


@dataclass(frozen=True, slots=True)
class Census:
    """Patients in beds at time zero; their residual stays are drawn given elapsed time.

    Examples
    --------
    >>> c = Census.from_counts({"ward": [10.0, 30.0], "icu": [5.0]})
    >>> c.count("ward"), c.count("icu")
    (2, 1)
    """

    entries: tuple[CensusEntry, ...] = ()

    @classmethod
    def from_counts(cls, elapsed_by_unit: dict[str, Iterable[float]]) -> Census:
        """A census from ``{unit: [elapsed hours of each patient]}``."""
        return cls(
            tuple(CensusEntry(u, float(e)) for u, hours in elapsed_by_unit.items() for e in hours)
        )

    def count(self, unit: str) -> int:
        """Patients in ``unit``."""
        return sum(1 for e in self.entries if e.unit == unit)
