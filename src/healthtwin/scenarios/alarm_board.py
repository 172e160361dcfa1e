"""A shared board of surveillance alarms: weekly counts in, ranked alarms out.

An :class:`AlarmBoard` holds a :class:`~healthtwin.surveillance.monitor.CrossBorderMonitor`
behind a lock (the monitor itself is not thread-safe), so that the requests of a service
can add series and weeks while others read the alarms. :meth:`AlarmBoard.report` answers
the latest week's ranked alarms with their evidence (the monitor's JSON schema
``healthtwin.surveillance.monitor/1``) plus ``series``, every monitored
``(country, disease, syndrome)``, so that a board can show the quiet ones too; an empty
board answers no alarms.

With a store (given, or attached later with :meth:`AlarmBoard.attach`), the board keeps
every change there, so that a restarted service answers the same alarms: each added series
and each appended week is a twin-state snapshot of id :data:`ALARM_BOARD_KEY` (model
:data:`ALARM_BOARD_MODEL`; the counts as an array, the keys, dates and a sequence number
as metadata), and attaching a store replays the changes kept there, in order. One store
serves one service process at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from healthtwin.errors import ConflictError, InvalidInputError, TwinError
from healthtwin.store import Store
from healthtwin.surveillance.monitor import SCHEMA, CrossBorderMonitor, MonitorConfig, SeriesKey

__all__ = ["ALARM_BOARD_KEY", "ALARM_BOARD_MODEL", "AlarmBoard", "MonitorConfig", "SeriesKey"]

#: The twin-state id under which a board keeps its changes in a store.
ALARM_BOARD_KEY = "alarms.board"
#: The model name of those snapshots.
ALARM_BOARD_MODEL = "alarm-board"


@dataclass(frozen=True)
class _Change:
    """One accepted change: a series added (``start``) or a week appended (``week``)."""

    kind: str  # "series" or "week"
    date: str
    keys: tuple[SeriesKey, ...]
    counts: tuple[float, ...]

    def apply(self, monitor: CrossBorderMonitor) -> None:
        if self.kind == "series":
            monitor.add_series(self.keys[0], list(self.counts), start=self.date)
        else:
            monitor.append_week(self.date, dict(zip(self.keys, self.counts, strict=True)))


class AlarmBoard:
    """A cross-border monitor shared by threads, kept in a store when it has one.

    Parameters
    ----------
    config
        What the monitor runs (default: EARS C2).
    store
        Where the board keeps its changes (see :meth:`attach`); none: in memory only.

    Examples
    --------
    >>> board = AlarmBoard(MonitorConfig(method="ears-c2", lookback_weeks=2))
    >>> board.report()["n_alarms"]
    0
    >>> key = SeriesKey("FR", "flu", "ili")
    >>> board.add_series(key, [5, 6, 5, 7, 6, 5, 6, 5, 6, 5, 6], "2024-01-01")
    >>> board.append_week("2024-03-18", {key: 60.0})
    >>> board.report()["alarms"][0]["country"]
    'FR'
    >>> board.report()["series"]
    [{'country': 'FR', 'disease': 'flu', 'syndrome': 'ili'}]

    Kept in a store, the board comes back after a restart:

    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     _ = board.attach(store)  # the changes made so far are kept too
    ...     again = AlarmBoard(MonitorConfig(method="ears-c2", lookback_weeks=2), store=store)
    ...     again.report() == board.report()
    True
    """

    def __init__(self, config: MonitorConfig | None = None, *, store: Store | None = None) -> None:
        self._config = config or MonitorConfig(method="ears-c2")
        self._monitor = CrossBorderMonitor(self._config)
        self._lock = threading.Lock()
        self._changes: list[_Change] = []
        self._store: Store | None = None
        if store is not None:
            self.attach(store)

    @property
    def n_series(self) -> int:
        """How many series are monitored."""
        with self._lock:
            return len(self._monitor.keys)

    def attach(self, store: Store) -> AlarmBoard:
        """Keep the board in ``store`` from now on (once; the same store again is a no-op).

        The changes kept in ``store`` are replayed first; changes made before attaching
        are then kept there too.

        Raises
        ------
        ConflictError
            If another store is attached already, or both the board and ``store`` hold
            series (two boards cannot be merged).
        """
        with self._lock:
            if self._store is store:
                return self
            if self._store is not None:
                raise ConflictError(
                    "this alarm board is kept in another store; make one board per store"
                )
            kept = _kept_changes(store)
            if kept and self._changes:
                raise ConflictError(
                    f"the store keeps an alarm board of {len(kept)} changes and this board has "
                    f"{len(self._changes)}; attach the store before adding series"
                )
            if kept:
                self._monitor = _replayed(self._config, kept)
                self._changes = kept
            else:
                for number, change in enumerate(self._changes):
                    _save(store, number, change)
            self._store = store
        return self

    def add_series(self, key: SeriesKey, counts: Sequence[float], start: str) -> None:
        """Monitor a new series starting on Monday ``start`` (``nan``: a missing week)."""
        change = _Change("series", start, (key,), tuple(float(c) for c in counts))
        self._apply(change)

    def append_week(self, week: str, counts: Mapping[SeriesKey, float]) -> None:
        """Append the counts of ``week`` (series left out get a missing value)."""
        keys = tuple(counts)
        change = _Change("week", week, keys, tuple(float(counts[k]) for k in keys))
        self._apply(change)

    def _apply(self, change: _Change) -> None:
        """Apply ``change`` (it is checked by the monitor), then keep it in the store.

        If it cannot be kept, the board is put back as it was and the error is raised.
        """
        with self._lock:
            change.apply(self._monitor)
            if self._store is not None:
                try:
                    _save(self._store, len(self._changes), change)
                except TwinError:
                    self._monitor = _replayed(self._config, self._changes)
                    raise
            self._changes.append(change)

    def report(self) -> dict[str, Any]:
        """The ranked alarms of the latest week and the monitored series (none: empty)."""
        with self._lock:
            series = [
                {"country": k.country, "disease": k.disease, "syndrome": k.syndrome}
                for k in self._monitor.keys
            ]
            if not series:
                return {
                    "schema": SCHEMA,
                    "week": None,
                    "method": self._config.method,
                    "control": {},
                    "n_series": 0,
                    "n_alarms": 0,
                    "n_undefined": 0,
                    "alarms": [],
                    "undefined": [],
                    "series": [],
                }
            return self._monitor.evaluate().to_dict() | {"series": series}


def _replayed(config: MonitorConfig, changes: Sequence[_Change]) -> CrossBorderMonitor:
    monitor = CrossBorderMonitor(config)
    for change in changes:
        change.apply(monitor)
    return monitor


def _save(store: Store, number: int, change: _Change) -> None:
    store.save_twin_state(
        ALARM_BOARD_KEY,
        model=ALARM_BOARD_MODEL,
        model_version="1",
        valid_time=datetime.now(UTC),
        arrays={"counts": np.asarray(change.counts, dtype=float)},
        metadata={
            "number": number,
            "kind": change.kind,
            "date": change.date,
            "keys": [[k.country, k.disease, k.syndrome] for k in change.keys],
        },
    )


def _kept_changes(store: Store) -> list[_Change]:
    """The changes kept in ``store``, in the order they were made."""
    if ALARM_BOARD_KEY not in store.twin_state_ids(ALARM_BOARD_KEY):
        return []
    changes: dict[int, _Change] = {}
    for snapshot in store.twin_state_history(ALARM_BOARD_KEY):
        meta = snapshot.metadata
        if snapshot.model != ALARM_BOARD_MODEL or meta.get("kind") not in ("series", "week"):
            continue  # not a change of a board (a twin may not use this id, but be safe)
        try:
            keys = tuple(SeriesKey(*(str(part) for part in k)) for k in meta["keys"])
            counts = tuple(float(c) for c in snapshot.arrays["counts"])
            changes[int(meta["number"])] = _Change(
                str(meta["kind"]), str(meta["date"]), keys, counts
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidInputError(
                f"the alarm board kept in the store has an unreadable change ({err!r}) recorded "
                f"at {snapshot.recorded_time.isoformat()}; remove twin states {ALARM_BOARD_KEY!r}"
            ) from err
    return [changes[n] for n in sorted(changes)]
