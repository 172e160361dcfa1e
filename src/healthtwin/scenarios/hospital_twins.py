"""Hospital twins: a hospital configuration and today's census, kept in a registry.

A :class:`HospitalTwin` is a :class:`~healthtwin.hospital.config.HospitalConfig` (units,
arrivals, pathways) and the patients in beds now (``census[unit]``: the hours each has
already spent there, so that their remaining stays are drawn given those hours).
:func:`make_hospital_twin` builds one from a config (or the :data:`DEMO_HOSPITAL` preset)
and a census given as counts or hours, validating both; :class:`HospitalRegistry` keeps an
application's twins and the ids of their forecast runs (thread-safe). Forecasting a twin
forward is :mod:`healthtwin.scenarios.hospital_forecast`.

With a store, the registry keeps every twin there too, so that a restarted service finds
them again: a twin is a twin-state snapshot of id :func:`hospital_key` (model
:data:`HOSPITAL_MODEL`; its config, census and runs as JSON metadata), saved when it is
created and again when a run is added; the twin state :data:`HOSPITAL_INDEX` lists the ids
kept. A twin that is not in memory is read back on first use (:func:`load_hospital_twin`),
and the whole list on the first listing. One store serves one service process at a time.
"""

from __future__ import annotations

import hashlib
import math
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from healthtwin.errors import ConflictError, InvalidInputError, NotFoundError
from healthtwin.hospital.census import Census, CensusEntry
from healthtwin.hospital.config import HospitalConfig
from healthtwin.store import Store, TwinStateSnapshot

__all__ = [
    "DEMO_CENSUS",
    "DEMO_HOSPITAL",
    "HOSPITAL_INDEX",
    "HOSPITAL_MODEL",
    "HOSPITAL_PREFIX",
    "HospitalRegistry",
    "HospitalTwin",
    "hospital_key",
    "load_hospital_twin",
    "make_hospital_twin",
    "save_hospital_twin",
]

#: A small general hospital: ED, ward and ICU, with a ward that runs close to full.
DEMO_HOSPITAL: dict[str, Any] = {
    "units": {
        "ed": {
            "kind": "ed",
            "beds": 14,
            "los_hours": {"dist": "lognormal", "mean": 3.0, "cv": 0.6},
        },
        "ward": {
            "kind": "ward",
            "beds": 64,
            "los_hours": {"dist": "lognormal", "mean": 76.0, "cv": 0.8},
            "deterioration_per_day": 0.03,
        },
        "icu": {
            "kind": "icu",
            "beds": 10,
            "los_hours": {"dist": "lognormal", "mean": 72.0, "cv": 0.7},
            "deterioration_per_day": 0.05,
        },
    },
    "arrivals": [{"unit": "ed", "rate_per_hour": 2.5}],
    "pathways": {
        "ed": {"ward": 0.25, "icu": 0.03, "discharge": 0.72},
        "ward": {"icu": 0.02, "discharge": 0.95, "death": 0.03},
        "icu": {"ward": 0.8, "discharge": 0.1, "death": 0.1},
    },
}
#: Today's census of the demo hospital (patients in beds by unit).
DEMO_CENSUS = {"ed": 6, "ward": 58, "icu": 8}
#: The ``model`` of the twin states that keep hospital twins.
HOSPITAL_MODEL = "hospital-twin"
#: Prefix of the twin-state ids that keep hospital twins.
HOSPITAL_PREFIX = "hospital."
#: The twin state that lists the ids of the hospital twins kept in a store.
HOSPITAL_INDEX = "hospital-registry"
_INDEX_MODEL = "hospital-registry"
#: Longest hospital id kept under its own name (twin-state ids have at most 64 characters).
_PLAIN_ID_LENGTH = 64 - len(HOSPITAL_PREFIX)


@dataclass(frozen=True)
class HospitalTwin:
    """A hospital and today's census (``census[unit]``: hours each patient has spent there)."""

    hospital_id: str
    name: str
    config: HospitalConfig
    census: Mapping[str, tuple[float, ...]]
    created: datetime

    def census_model(self) -> Census:
        """The census as the engine takes it."""
        return Census(tuple(CensusEntry(u, h) for u, hours in self.census.items() for h in hours))

    def to_dict(self, runs: list[str]) -> dict[str, Any]:
        """The twin's state as JSON, with the ids of its forecast runs (oldest first)."""
        return {
            "hospital_id": self.hospital_id,
            "name": self.name,
            "created": self.created.isoformat(),
            "units": [
                {
                    "name": name,
                    "kind": unit.kind,
                    "beds": unit.beds,
                    "census": len(self.census.get(name, ())),
                    "mean_los_hours": unit.los_hours.mean_hours(),
                }
                for name, unit in self.config.units.items()
            ],
            "census": {name: len(self.census.get(name, ())) for name in self.config.units},
            "runs": runs,
            "latest_run": runs[-1] if runs else None,
        }


@dataclass
class HospitalRegistry:
    """The hospital twins of one application and their forecast runs (thread-safe).

    With a ``store`` (given, or attached later with :meth:`attach`), every twin and run
    is kept there too, and twins not in memory (the service restarted) are read back.

    Examples
    --------
    >>> registry = HospitalRegistry()
    >>> twin = make_hospital_twin(hospital_id="h1", preset="demo")
    >>> registry.add(twin).hospital_id, registry.get("h1").config.units["icu"].beds
    ('h1', 10)
    >>> registry.add_run("h1", "job-1"); registry.runs("h1")
    ['job-1']
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     _ = HospitalRegistry(store=store).add(twin)
    ...     HospitalRegistry(store).add_run("h1", "job-2")  # a restarted service
    ...     again = HospitalRegistry(store)
    ...     [t.hospital_id for t in again.all()], again.runs("h1")
    (['h1'], ['job-2'])
    """

    store: Store | None = None
    _twins: dict[str, HospitalTwin] = field(default_factory=dict)
    _runs: dict[str, list[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _all_loaded: bool = False

    def attach(self, store: Store) -> HospitalRegistry:
        """Keep the twins in ``store`` from now on (once; the same store again is a no-op).

        Raises
        ------
        ConflictError
            If another store is attached already.
        """
        with self._lock:
            if self.store is None:
                self.store = store
            elif self.store is not store:
                raise ConflictError(
                    "this hospital registry keeps its twins in another store; make one "
                    "registry per store"
                )
        return self

    def add(self, twin: HospitalTwin) -> HospitalTwin:
        """Register ``twin`` (and keep it in the store); ``ConflictError`` if its id is taken."""
        with self._lock:
            taken = twin.hospital_id in self._twins
            if not taken and self.store is not None:
                taken = _stored(self.store, twin.hospital_id) is not None
            if taken:
                raise ConflictError(
                    f"hospital {twin.hospital_id!r} exists; choose another hospital_id"
                )
            if self.store is not None:
                save_hospital_twin(self.store, twin, [])
                _index(self.store, twin.hospital_id)
            self._twins[twin.hospital_id] = twin
            self._runs[twin.hospital_id] = []
        return twin

    def get(self, hospital_id: str) -> HospitalTwin:
        """The twin (read back from the store if need be); ``NotFoundError`` if unknown."""
        with self._lock:
            twin = self._loaded(hospital_id)
        if twin is None:
            raise NotFoundError(f"no hospital {hospital_id[:80]!r}; list them at /api/v1/hospitals")
        return twin

    def all(self) -> list[HospitalTwin]:
        """Every twin, oldest first (with a store, those kept by earlier runs too)."""
        with self._lock:
            if self.store is not None and not self._all_loaded:
                for hospital_id in _indexed_ids(self.store):
                    self._loaded(hospital_id)
                self._all_loaded = True
            return sorted(self._twins.values(), key=lambda t: t.created)

    def add_run(self, hospital_id: str, run_id: str) -> None:
        """Remember that run ``run_id`` forecasts ``hospital_id`` (in the store too)."""
        with self._lock:
            twin = self._loaded(hospital_id)
            if twin is None:
                raise NotFoundError(f"no hospital {hospital_id[:80]!r} to add run {run_id!r} to")
            self._runs[hospital_id].append(run_id)
            if self.store is not None:
                save_hospital_twin(self.store, twin, self._runs[hospital_id])

    def runs(self, hospital_id: str) -> list[str]:
        """The twin's forecast runs, oldest first."""
        with self._lock:
            self._loaded(hospital_id)
            return list(self._runs.get(hospital_id, ()))

    def _loaded(self, hospital_id: str) -> HospitalTwin | None:
        """The twin in memory, else read back from the store (caller holds the lock)."""
        twin = self._twins.get(hospital_id)
        if twin is not None or self.store is None:
            return twin
        found = load_hospital_twin(self.store, hospital_id)
        if found is None:
            return None
        self._twins[hospital_id], self._runs[hospital_id] = found
        return found[0]


def hospital_key(hospital_id: str) -> str:
    """The twin-state id that keeps hospital twin ``hospital_id`` in a store.

    Ids too long for a twin-state id are kept under a digest of the id.

    Examples
    --------
    >>> hospital_key("h1")
    'hospital.h1'
    >>> hospital_key("x" * 64)[:13], len(hospital_key("x" * 64))
    ('hospital.sha-', 53)
    """
    if len(hospital_id) <= _PLAIN_ID_LENGTH:
        return f"{HOSPITAL_PREFIX}{hospital_id}"
    digest = hashlib.sha256(hospital_id.encode()).hexdigest()[:40]
    return f"{HOSPITAL_PREFIX}sha-{digest}"


def save_hospital_twin(store: Store, twin: HospitalTwin, runs: Sequence[str]) -> TwinStateSnapshot:
    """Keep ``twin`` and the ids of its runs (oldest first) in ``store``.

    Each save is a new snapshot (valid since the twin's creation); the latest one counts.
    """
    return store.save_twin_state(
        hospital_key(twin.hospital_id),
        model=HOSPITAL_MODEL,
        model_version="1",
        valid_time=twin.created,
        arrays={},
        metadata={
            "hospital_id": twin.hospital_id,
            "name": twin.name,
            "created": twin.created.isoformat(),
            "config": twin.config.model_dump(mode="json"),
            "census": {unit: list(hours) for unit, hours in twin.census.items()},
            "runs": list(runs),
        },
    )


def load_hospital_twin(store: Store, hospital_id: str) -> tuple[HospitalTwin, list[str]] | None:
    """The twin kept in ``store`` and its runs, or ``None`` if none is kept.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> twin = make_hospital_twin(hospital_id="h2", preset="demo", census={"icu": [5.0]})
    >>> with open_store("sqlite://") as store:
    ...     _ = save_hospital_twin(store, twin, ["job-1"])
    ...     again, runs = load_hospital_twin(store, "h2") or (None, [])
    ...     missing = load_hospital_twin(store, "h3")
    >>> again == twin, runs, missing
    (True, ['job-1'], None)
    """
    meta = _stored(store, hospital_id)
    if meta is None:
        return None
    twin = HospitalTwin(
        hospital_id=hospital_id,
        name=str(meta["name"]),
        config=HospitalConfig.model_validate(meta["config"]),
        census={unit: tuple(float(h) for h in hours) for unit, hours in meta["census"].items()},
        created=datetime.fromisoformat(str(meta["created"])),
    )
    return twin, [str(r) for r in meta["runs"]]


def _stored(store: Store, hospital_id: str) -> dict[str, Any] | None:
    """The metadata of the latest snapshot of ``hospital_id``, or ``None``.

    A snapshot of another model or another id (a digest's) is not this twin. Runs only
    grow, so the snapshot with the most runs is the latest, whatever the clock's ties.
    """
    try:
        history = store.twin_state_history(hospital_key(hospital_id))
    except NotFoundError:
        return None
    kept = [
        s.metadata
        for s in history
        if s.model == HOSPITAL_MODEL and s.metadata.get("hospital_id") == hospital_id
    ]
    if not kept:
        return None
    return max(kept, key=lambda m: len(m.get("runs", ())))


def _indexed_ids(store: Store) -> list[str]:
    """The ids of the hospital twins kept in ``store``, oldest first."""
    try:
        history = store.twin_state_history(HOSPITAL_INDEX)
    except NotFoundError:
        return []
    lists = [s.metadata.get("ids", []) for s in history if s.model == _INDEX_MODEL]
    return [str(i) for i in max(lists, key=len, default=[])]


def _index(store: Store, hospital_id: str) -> None:
    """Add ``hospital_id`` to the ids kept in ``store`` (caller holds the registry's lock)."""
    ids = _indexed_ids(store)
    if hospital_id not in ids:
        store.save_twin_state(
            HOSPITAL_INDEX,
            model=_INDEX_MODEL,
            model_version="1",
            valid_time=datetime.now(UTC),
            arrays={},
            metadata={"ids": [*ids, hospital_id]},
        )


def make_hospital_twin(
    *,
    hospital_id: str | None = None,
    name: str = "",
    preset: str | None = None,
    config: Mapping[str, Any] | None = None,
    census: Mapping[str, int | Sequence[float]] | None = None,
    now: datetime | None = None,
) -> HospitalTwin:
    """A hospital twin from a config (or the ``"demo"`` preset) and today's census.

    Parameters
    ----------
    hospital_id
        The twin's id (default: ``hospital-<random hex>``).
    name
        Display name (default: the preset's, else ``"hospital"``).
    preset, config
        Exactly one: ``"demo"`` (:data:`DEMO_HOSPITAL`) or a ``HospitalConfig`` as JSON.
    census
        Per unit, a count of patients just admitted or the hours each has spent there
        (default: :data:`DEMO_CENSUS` with the preset, else an empty hospital).
    now
        Creation time (default: the current UTC time).

    Returns
    -------
    HospitalTwin
        With every unit of the config in its census (empty ones as ``()``).

    Raises
    ------
    InvalidInputError
        If both or neither of ``preset`` and ``config`` are given, the preset is unknown,
        the config is invalid, or the census names an unknown unit, holds a negative count
        or time, or more patients than the unit has beds.

    Examples
    --------
    >>> twin = make_hospital_twin(preset="demo", census={"icu": [2.0, 30.0]})
    >>> twin.census["icu"], twin.census["ward"]
    ((2.0, 30.0), ())
    """
    if (preset is None) == (config is None):
        raise InvalidInputError(
            "give either a hospital 'config' or 'preset': 'demo', not "
            + ("both" if preset else "neither")
        )
    if preset is not None and preset != "demo":
        raise InvalidInputError(f"unknown hospital preset {preset[:64]!r}; presets are ['demo']")
    try:
        hospital = HospitalConfig.model_validate(DEMO_HOSPITAL if preset else config)
    except ValidationError as err:
        raise InvalidInputError(f"hospital config is invalid: {err}") from err
    raw = census if census is not None else (DEMO_CENSUS if preset else {})
    beds_in_use: dict[str, tuple[float, ...]] = dict.fromkeys(hospital.units, ())
    for unit, value in raw.items():
        beds_in_use[unit] = _census_hours(hospital, unit, value)
    return HospitalTwin(
        hospital_id=hospital_id or f"hospital-{uuid.uuid4().hex[:10]}",
        name=name or ("Demo general hospital" if preset else "hospital"),
        config=hospital,
        census=beds_in_use,
        created=now or datetime.now(UTC),
    )


def _census_hours(
    config: HospitalConfig, unit: str, value: int | Sequence[float]
) -> tuple[float, ...]:
    """The hours spent by each patient of ``unit``'s census entry (validated)."""
    if unit not in config.units:
        raise InvalidInputError(
            f"census.{unit[:64]}: unknown unit; units are {sorted(config.units)}"
        )
    hours = (0.0,) * value if isinstance(value, int) else tuple(float(h) for h in value)
    if isinstance(value, int) and value < 0:
        raise InvalidInputError(f"census.{unit}: {value} patients; give a count >= 0")
    if not all(math.isfinite(h) and h >= 0 for h in hours):
        raise InvalidInputError(
            f"census.{unit}: hours spent must be finite and >= 0, got {list(hours)[:10]}"
        )
    if len(hours) > config.units[unit].beds:
        raise InvalidInputError(
            f"census.{unit}: {len(hours)} patients in {config.units[unit].beds} beds; "
            "a census holds at most one patient per bed"
        )
    return hours
