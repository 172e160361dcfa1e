"""Patient twins kept in a store: opened, fed, saved, re-created after a restart, listed.

A live twin is a :class:`~healthtwin.scenarios.patient_session.PatientTwinSession`; this
module is what ties it to a :class:`~healthtwin.store.Store`:

- :func:`open_patient_twin` makes a twin, for a stored FHIR Patient (its CGM readings and
  vital-signs sets on file since the twin's start are assimilated and scored) or from
  parameters alone;
- :func:`ingest` and :func:`record_vitals` assimilate or score new data and store it (as
  Observations) under the twin's lock; :func:`snapshot` saves the twin's state with its
  definition and logged events;
- :func:`restore` re-creates a twin from its latest definition and the data on file (what
  a service does after a restart; :func:`restorer` binds it to a store);
- :func:`kept_twin_rows` lists the twins on file without re-creating them.

The HTTP face (:mod:`healthtwin.api.twins`) only adapts requests to these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from datetime import UTC, datetime
from typing import Any

from healthtwin.errors import ConflictError, NotFoundError
from healthtwin.scenarios.patient_session import (
    CGM_GLUCOSE,
    MAX_GAP_MIN,
    MODEL,
    MODEL_VERSION,
    GlucoseReading,
    PatientTwinSession,
)
from healthtwin.scenarios.patient_vitals import VitalSigns, stored_vital_signs
from healthtwin.store import Store

__all__ = [
    "ingest",
    "kept_twin_rows",
    "load_stored_vitals",
    "open_patient_twin",
    "record_vitals",
    "restore",
    "restorer",
    "snapshot",
    "twin_definitions",
    "twin_row",
]

#: A time after every valid time: a twin's latest snapshot is the one valid "as of" it.
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


def open_patient_twin(
    store: Store,
    twin_id: str,
    *,
    patient_id: str | None = None,
    profile: str = "nominal-adult",
    members: int = 32,
    seed: int = 0,
    start: datetime | None = None,
    sensor_sd_mg_dl: float = 8.0,
) -> PatientTwinSession:
    """A new twin ``twin_id``, given its patient's data on file (nothing is saved yet).

    With ``patient_id`` the FHIR Patient must be in ``store``; the twin starts at
    ``start`` or else at the patient's first stored CGM reading (so its whole stored
    history is assimilated), and is given the readings and vital-signs sets on file
    since its start. Save it with :func:`snapshot` once it is registered.

    Raises
    ------
    NotFoundError
        ``patient_id`` is not a stored Patient.
    ConflictError
        A twin ``twin_id`` is on file already (from an earlier run of the service).

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     s = open_patient_twin(store, "o1", members=8)
    ...     snapshot(store, s)
    ...     open_patient_twin(store, "o1", members=8)
    Traceback (most recent call last):
    ...
    healthtwin.errors.ConflictError: twin 'o1' already exists; choose another id or omit it
    """
    if patient_id is not None:
        store.read("Patient", patient_id)  # NotFoundError when it is not on file
        if start is None:
            first = store.observations(patient_id, CGM_GLUCOSE, limit=1)
            start = first[0].effective if first else None
    if twin_definitions(store, twin_id):
        # A twin of an earlier run of the service (it is re-created on first use).
        raise ConflictError(f"twin {twin_id!r} already exists; choose another id or omit it")
    session = PatientTwinSession.create(
        twin_id,
        patient_id=patient_id,
        profile=profile,
        members=members,
        seed=seed,
        start=start,
        sensor_sd_mg_dl=sensor_sd_mg_dl,
    )
    if patient_id is not None:
        _assimilate_stored(store, session)
        load_stored_vitals(store, session)
    return session


def ingest(store: Store, session: PatientTwinSession, readings: list[GlucoseReading]) -> int:
    """Assimilate ``readings`` and store them (with a state snapshot) under the twin's lock.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     s = PatientTwinSession.create("d1", members=8)
    ...     ingest(store, s, [GlucoseReading(5.0, 150.0)]), len(store.observations("d1"))
    (1, 1)
    """
    with session.lock:
        records = session.assimilate(readings)
        store.add_observations(records)
        snapshot(store, session)
    return len(records)


def record_vitals(store: Store, session: PatientTwinSession, sets: list[VitalSigns]) -> int:
    """Score and keep ``sets`` and store them as Observations, under the twin's lock.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> v = VitalSigns(5.0, respiratory_rate_per_min=18, spo2_percent=97, systolic_bp_mm_hg=120,
    ...                heart_rate_per_min=80, temperature_c=37.0, consciousness="A")
    >>> with open_store("sqlite://") as store:
    ...     s = PatientTwinSession.create("d2", members=8)
    ...     record_vitals(store, s, [v]), len(store.observations("d2"))
    (1, 8)
    """
    with session.lock:
        store.add_observations(session.record_vitals(sets))
    return len(sets)


def snapshot(store: Store, session: PatientTwinSession) -> None:
    """Save the twin's state with what re-creates it after a restart (:func:`restore`).

    The metadata hold the twin's definition (:meth:`PatientTwinSession.definition`) and
    its events (meals and boluses given); readings and vital signs are on file already.
    """
    with session.lock:
        state = session.twin.state
        definition = session.definition()
        store.save_twin_state(
            session.twin_id,
            model=MODEL,
            model_version=MODEL_VERSION,
            valid_time=session.when(session.twin.t),
            arrays={"x": state.x, "theta": state.theta},
            metadata={
                "patient_id": session.patient_id,
                "n_readings": len(session.readings),
                "definition": {**definition, "start": session.start.isoformat()},
                "events": [dict(e) for e in session.events],
            },
        )


def restore(store: Store, twin_id: str) -> PatientTwinSession | None:
    """Re-create twin ``twin_id`` from the store (after a restart); ``None`` if not on file.

    The twin is made again from its saved definition, given its logged meals and boluses,
    and corrected with its patient's CGM readings since its start, then given the
    vital-signs sets on file: the state it had, up to the ensemble's random draws, which
    are seeded. (A patient with several twins gives each all its readings since its start.)

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     s = PatientTwinSession.create("d4", members=8)
    ...     _ = ingest(store, s, [GlucoseReading(5.0, 150.0), GlucoseReading(10.0, 160.0)])
    ...     again = restore(store, "d4")
    ...     missing = restore(store, "nobody")
    >>> again.twin.t, len(again.readings), bool(again.twin.state.x.sum() == s.twin.state.x.sum())
    (10.0, 2, True)
    >>> missing is None
    True
    """
    kept = twin_definitions(store, twin_id)
    if not kept:
        return None
    latest = kept[-1]
    definition = dict(latest["definition"])
    definition["start"] = datetime.fromisoformat(definition["start"])
    session = PatientTwinSession.create(**definition)
    for event in latest.get("events", []):
        session.apply_plan(
            float(event["t_min"]),
            float(event["meal_g"]),
            float(event["bolus_u"]),
            str(event.get("source", "")),
        )
    _assimilate_stored(store, session)
    load_stored_vitals(store, session)
    return session


def restorer(store: Store) -> Callable[[str], PatientTwinSession | None]:
    """:func:`restore` over ``store``, for :class:`~healthtwin.api.twin_sessions.TwinRegistry`."""

    def restore_from_store(twin_id: str) -> PatientTwinSession | None:
        return restore(store, twin_id)

    return restore_from_store


def twin_definitions(store: Store, twin_id: str) -> list[dict[str, Any]]:
    """The metadata of the twin's snapshots that define it, oldest recorded first."""
    try:
        history = store.twin_state_history(twin_id)
    except NotFoundError:
        return []
    kept = sorted((h for h in history if "definition" in h.metadata), key=lambda h: h.recorded_time)
    return [dict(h.metadata) for h in kept]


def load_stored_vitals(store: Store, session: PatientTwinSession) -> int:
    """Give ``session`` its patient's complete vital-signs sets on file since its start.

    They are scored (NEWS2) and kept like posted sets, but not stored again; a set more
    than :data:`MAX_GAP_MIN` ahead of the twin is left out. Answers how many were taken.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> v = VitalSigns(5.0, respiratory_rate_per_min=22, spo2_percent=95, systolic_bp_mm_hg=105,
    ...                heart_rate_per_min=96, temperature_c=38.3, consciousness="A")
    >>> with open_store("sqlite://") as store:
    ...     first = PatientTwinSession.create("d3", members=8)
    ...     _ = record_vitals(store, first, [v])
    ...     again = PatientTwinSession.create("d3", members=8, start=first.start)
    ...     taken, stored = load_stored_vitals(store, again), len(store.observations("d3"))
    >>> taken, again.news2[-1]["total"], stored
    (1, 6, 8)
    """
    with session.lock:
        limit = session.twin.t + MAX_GAP_MIN
        found = stored_vital_signs(store, session.patient_id, session.minutes, since=session.start)
        sets = [v for v in found if v.t_min <= limit]
        if sets:
            session.record_vitals(sets)  # the records are on file already
    return len(sets)


def _assimilate_stored(store: Store, session: PatientTwinSession) -> None:
    """Correct the twin with its patient's CGM readings on file since its start."""
    found = store.observations(session.patient_id, CGM_GLUCOSE, start=session.start)
    readings = [
        GlucoseReading(session.minutes(o.effective), o.value) for o in found if o.value is not None
    ]
    if readings:
        session.assimilate(readings)


def twin_row(session: PatientTwinSession) -> dict[str, Any]:
    """A live twin's row in a list: id, patient, profile, readings and time."""
    return {
        "twin_id": session.twin_id,
        "patient_id": session.patient_id,
        "profile": session.profile,
        "n_readings": len(session.readings),
        "t_min": session.twin.t,
    }


def kept_twin_rows(
    store: Store, *, skip: Container[str] = (), reserved: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The list rows of the patient twins kept in ``store``, by id.

    Ids in ``skip`` and ids starting with a prefix in ``reserved`` (states the store keeps
    for other things: jobs, training sessions, hospitals...) are left out, as is any state
    that is not a patient twin's. Each row is read from the twin's latest snapshot
    (:func:`snapshot`), without re-creating the twin.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     s = PatientTwinSession.create("k1", members=8)
    ...     _ = ingest(store, s, [GlucoseReading(5.0, 150.0), GlucoseReading(10.0, 155.0)])
    ...     rows, skipped = kept_twin_rows(store), kept_twin_rows(store, skip={"k1"})
    ...     hidden = kept_twin_rows(store, reserved=("k",))
    >>> rows == [twin_row(s)], skipped, hidden
    (True, [], [])
    """
    rows = []
    for twin_id in store.twin_state_ids():
        if twin_id in skip or (reserved and twin_id.startswith(reserved)):
            continue
        latest = store.twin_state_as_of(twin_id, _END_OF_TIME)
        meta = latest.metadata
        definition = meta.get("definition")
        if latest.model != MODEL or not isinstance(definition, dict):
            continue
        start = datetime.fromisoformat(definition["start"])
        rows.append(
            {
                "twin_id": twin_id,
                "patient_id": str(meta["patient_id"]),
                "profile": str(definition["profile"]),
                "n_readings": int(meta["n_readings"]),
                "t_min": (latest.valid_time - start).total_seconds() / 60.0,
            }
        )
    return rows
