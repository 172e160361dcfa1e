"""The opt-out registry for secondary use (EHDS art. 71-style).

A patient may object to the reuse of his data beyond his care: research, public health,
marketing, training, system development (:data:`SECONDARY_USE_PURPOSES`). An opt-out
names the purposes it covers (by default all of them; specialisations are covered with
their parent) and when it took effect; it is checked on every secondary-use request before
any consent, and primary care (``TREAT``, ``PATRQT``...) is never affected by it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from healthtwin.errors import InvalidInputError
from healthtwin.governance.purpose import SECONDARY_USE_PURPOSES, ancestors, parse_purpose

__all__ = ["OptOut", "OptOutRegistry"]


@dataclass(frozen=True)
class OptOut:
    """One patient's objection: the purposes it covers and when it took effect (UTC-aware)."""

    patient_id: str
    purposes: frozenset[str] = SECONDARY_USE_PURPOSES
    since: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.patient_id, str) or not self.patient_id:
            raise InvalidInputError(
                f"opt-out patient id must be a non-empty string, got {self.patient_id!r}"
            )
        codes = frozenset(parse_purpose(code) for code in self.purposes)
        primary = sorted(code for code in codes if not _secondary(code))
        if primary or not codes:
            raise InvalidInputError(
                f"opt-out of patient {self.patient_id!r} names purposes {primary or 'none'} "
                f"that are not secondary uses; choose among {sorted(SECONDARY_USE_PURPOSES)}"
            )
        if self.since is not None and (self.since.tzinfo is None or self.since.utcoffset() is None):
            raise InvalidInputError(
                f"opt-out time {self.since.isoformat()} has no time zone; give an aware datetime"
            )
        object.__setattr__(self, "purposes", codes)


def _secondary(purpose: str) -> bool:
    return not SECONDARY_USE_PURPOSES.isdisjoint(ancestors(purpose))


class OptOutRegistry:
    """Who has opted out of which secondary uses; one entry per patient (the latest).

    Examples
    --------
    >>> registry = OptOutRegistry([OptOut("p1"), OptOut("p2", frozenset({"HMARKT"}))])
    >>> registry.is_opted_out("p1", "CLINTRCH"), registry.is_opted_out("p2", "HRESCH")
    (True, False)
    >>> registry.is_opted_out("p1", "TREAT")
    False
    >>> registry.mask(["p1", "p2", "p3"], "HMARKT").tolist()
    [True, True, False]
    """

    def __init__(self, entries: Iterable[OptOut] = ()) -> None:
        self._entries: dict[str, OptOut] = {}
        for entry in entries:
            self.register(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def register(self, entry: OptOut) -> None:
        """Record (or replace) a patient's opt-out."""
        self._entries[entry.patient_id] = entry

    def withdraw(self, patient_id: str) -> None:
        """Remove a patient's opt-out (he agrees to secondary use again).

        Raises
        ------
        InvalidInputError
            If the patient has no opt-out on file.
        """
        if self._entries.pop(patient_id, None) is None:
            raise InvalidInputError(f"patient {patient_id!r} has no opt-out to withdraw")

    def is_opted_out(self, patient_id: str, purpose: str, at: datetime | None = None) -> bool:
        """Whether the patient's opt-out covers ``purpose`` (at time ``at``, if given)."""
        entry = self._entries.get(patient_id)
        if entry is None:
            return False
        if at is not None and entry.since is not None and at < entry.since:
            return False
        return not entry.purposes.isdisjoint(ancestors(purpose))

    def mask(
        self, patient_ids: Sequence[str], purpose: str, at: datetime | None = None
    ) -> NDArray[np.bool_]:
        """Whether each patient is opted out of ``purpose``, shape (n_patients,)."""
        chain = frozenset(ancestors(parse_purpose(purpose)))
        if chain.isdisjoint(SECONDARY_USE_PURPOSES) or not self._entries:
            return np.zeros(len(patient_ids), dtype=bool)
        covered = {
            patient
            for patient, entry in self._entries.items()
            if not entry.purposes.isdisjoint(chain)
            and (at is None or entry.since is None or at >= entry.since)
        }
        return np.fromiter((str(p) in covered for p in patient_ids), bool, len(patient_ids))

    def to_json(self) -> str:
        """The registry as JSON (a list of entries)."""
        return json.dumps(
            [
                {
                    "patient_id": e.patient_id,
                    "purposes": sorted(e.purposes),
                    "since": None if e.since is None else e.since.isoformat(),
                }
                for e in self._entries.values()
            ]
        )

    @classmethod
    def from_json(cls, text: str) -> OptOutRegistry:
        """Read a registry written by :meth:`to_json`.

        Raises
        ------
        InvalidInputError
            If the text is not such a list.
        """
        try:
            rows = json.loads(text)
            return cls(
                OptOut(
                    row["patient_id"],
                    frozenset(row["purposes"]),
                    None if row.get("since") is None else datetime.fromisoformat(row["since"]),
                )
                for row in rows
            )
        except (ValueError, KeyError, TypeError) as err:
            raise InvalidInputError(
                f"opt-out registry JSON must be a list of {{patient_id, purposes, since}}: {err}"
            ) from err
