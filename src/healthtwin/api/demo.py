"""A demo dataset for ``healthtwin serve --demo`` and the dashboard tests.

:func:`load_demo` fills a running application's store and registries with synthetic data
only: three FHIR Patients with three hours of CGM (each simulated with its own UVA/Padova
virtual patient eating 50 g at 30 min, plus sensor noise), one set of vital signs (so the
patient view can show NEWS2), a two-region epidemic scenario with a "distancing" variant
running as a background job, a demo hospital twin (ED, ward, ICU; today's census) simulated
forward as a background job, a small two-country world run (14 days x 2 replicates,
:data:`~healthtwin.scenarios.demo_world.DEMO_WORLD`) as a background job for the Worlds
view, and a global alarm board: weekly counts of measles, influenza
and salmonellosis in eight countries through the cross-border monitor, with outbreaks of
measles in France and Belgium and of influenza in Spain, and one series (influenza in
Sweden) whose latest count is missing. Each demo patient has a Consent on file (for the
governance view's consent state): Ada agrees to research for a stated period, Ben's
privacy consent permits all but marketing, Cleo has opted out of research.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from healthtwin.api.hospitals import SimulateIn, simulation_work
from healthtwin.api.jobs import Job, JobRunner
from healthtwin.api.regions import scenario_work
from healthtwin.api.world_runs import WORLD_JOB_KIND, world_work
from healthtwin.errors import NotFoundError
from healthtwin.interop.records import Coding, ObservationRecord
from healthtwin.scenarios import demo_world
from healthtwin.scenarios.alarm_board import AlarmBoard
from healthtwin.scenarios.demo_world import (
    DEMO_COUNTRIES,
    DEMO_FORECAST,
    DEMO_HOSPITAL_ID,
    DEMO_SCENARIO,
    demo_hospital_twin,
    demo_region_scenario,
    demo_world_run,
    fill_demo_alarms,
)
from healthtwin.scenarios.patient_session import CGM_GLUCOSE, GlucoseReading, PatientTwinSession
from healthtwin.scenarios.twin_store import ingest, load_stored_vitals
from healthtwin.store import Store

__all__ = [
    "DEMO_COUNTRIES",
    "DEMO_HOSPITAL_ID",
    "DEMO_PATIENTS",
    "DEMO_SCENARIO",
    "Demo",
    "load_demo",
    "simulated_cgm",
]

#: (FHIR Patient id, virtual patient) of the demo twins.
DEMO_PATIENTS = (
    ("demo-ada", "adolescent#001"),
    ("demo-ben", "adult#001"),
    ("demo-cleo", "child#001"),
)
#: (Patient id, scope, policy rule, period, denied purposes) of the demo's Consents.
_CONSENTS = (
    ("demo-ada", "research", "OPTIN", ("2024-01-01", "2027-12-31"), ()),
    ("demo-ben", "patient-privacy", "OPTIN", None, ("HMARKT",)),
    ("demo-cleo", "research", "OPTOUT", ("2025-03-01", None), ()),
)
_VITALS = (  # LOINC, value, unit: a patient with a raised NEWS2
    ("9279-1", 22.0, "/min"),
    ("59408-5", 95.0, "%"),
    ("8480-6", 105.0, "mm[Hg]"),
    ("8867-4", 96.0, "/min"),
    ("8310-5", 38.3, "Cel"),
)


@dataclass(frozen=True)
class Demo:
    """What :func:`load_demo` made: twin ids and the scenario, hospital and world jobs."""

    twin_ids: tuple[str, ...]
    scenario_job: Job
    hospital_id: str = DEMO_HOSPITAL_ID
    hospital_job: Job | None = None
    world_job: Job | None = None


def simulated_cgm(
    profile: str, *, hours: float = 3.0, meal_g: float = 50.0, seed: int = 0
) -> list[GlucoseReading]:
    """Five-minute CGM of one virtual patient eating ``meal_g`` at 30 min (noise SD 5 mg/dL).

    See :func:`healthtwin.scenarios.demo_world.simulated_cgm`.

    Examples
    --------
    >>> readings = simulated_cgm("adult#001", hours=1.0)
    >>> len(readings), readings[0].t_min, 60 < readings[0].glucose_mg_dl < 250
    (12, 5.0, True)
    """
    t_min, glucose = demo_world.simulated_cgm(profile, hours=hours, meal_g=meal_g, seed=seed)
    return [GlucoseReading(float(t), float(g)) for t, g in zip(t_min, glucose, strict=True)]


def load_demo(state: Any, store: Store, *, now: datetime | None = None) -> Demo:
    """Fill ``state`` (an app's ``app.state``) and ``store`` with the demo dataset.

    Loading is idempotent, so ``healthtwin serve --demo`` can restart on a persistent
    store: Patients and vital signs already there are kept, and the CGM readings an earlier
    load stored for a demo twin (ids ``twin-<patient>-cgm-...``) are replaced by the fresh
    ones, so each demo patient always holds one three-hour record. Twins are made afresh
    with ids ``twin-<patient>``. The alarm board and the demo hospital are kept in the
    store (the hospital by ``state.hospitals``' store): a later load keeps them and
    forecasts the hospital again, and a restart without the demo still finds them.
    """
    now = now or datetime.now(UTC)
    start = now - timedelta(hours=3)
    for pid, _ in DEMO_PATIENTS:
        if not _exists(store, pid):
            store.create({"resourceType": "Patient", "id": pid, "gender": "unknown"})
    vitals = [
        ObservationRecord(
            id=f"demo-ada-vitals-{code}",
            patient_id="demo-ada",
            code=Coding(system="http://loinc.org", code=code),
            effective=now - timedelta(minutes=10),
            value=value,
            unit=unit,
            category="vital-signs",
        )
        for code, value, unit in _VITALS
        if not store.observations("demo-ada", code, limit=1)
    ]
    store.add_observations(vitals)
    twin_ids = []
    for number, (pid, profile) in enumerate(DEMO_PATIENTS):
        session = PatientTwinSession.create(
            f"twin-{pid}", patient_id=pid, profile=profile, members=32, seed=number, start=start
        )
        state.twins.add(session)
        _forget_earlier_readings(store, pid, session.twin_id)
        session.apply_plan(30.0, 50.0, 0.0, "meal logged by the patient")
        ingest(store, session, simulated_cgm(profile, seed=number))
        load_stored_vitals(store, session)  # the live NEWS2 panel starts with them
        twin_ids.append(session.twin_id)
    _demo_consents(store)
    runner: JobRunner = state.jobs
    job = runner.submit(
        "population-scenario",
        scenario_work(demo_region_scenario(), None),
        actor="Device/healthtwin-demo",
        description="demo: two regions, 60 days x 6 replicates",
    )
    _demo_alarms(state, store)
    hospital_job = _demo_hospital(state, runner)
    world = demo_world_run()
    world_job = runner.submit(
        WORLD_JOB_KIND,
        world_work(world),
        actor="Device/healthtwin-demo",
        description=f"demo: world {world.world.name}, {len(world.world.countries)} countries, "
        f"{world.world.days} days x {world.world.replicates} replicates",
    )
    return Demo(tuple(twin_ids), job, DEMO_HOSPITAL_ID, hospital_job, world_job)


def _demo_alarms(state: Any, store: Store) -> None:
    """Fill the alarm board, kept in ``store``, unless an earlier load kept one there."""
    board: AlarmBoard = state.alarms.attach(store)
    if board.n_series == 0:
        fill_demo_alarms(board)


def _demo_hospital(state: Any, runner: JobRunner) -> Job:
    """Forecast the demo hospital, made now or kept by an earlier load (the registry's store)."""
    try:
        twin = state.hospitals.get(DEMO_HOSPITAL_ID)
    except NotFoundError:
        twin = state.hospitals.add(demo_hospital_twin())
    settings = SimulateIn(
        days=DEMO_FORECAST.days, replications=DEMO_FORECAST.replications, seed=DEMO_FORECAST.seed
    )
    job = runner.submit(
        "hospital-forecast",
        simulation_work(twin, settings),
        actor="Device/healthtwin-demo",
        description=f"demo: hospital {twin.hospital_id}, 14 days x 20 replications",
    )
    state.hospitals.add_run(twin.hospital_id, job.id)
    return job


def _forget_earlier_readings(store: Store, pid: str, twin_id: str) -> None:
    """Remove the CGM an earlier demo load stored for ``twin_id`` (and nothing else)."""
    earlier = [
        o.id for o in store.observations(pid, CGM_GLUCOSE) if o.id.startswith(f"{twin_id}-cgm-")
    ]
    store.delete_observations(earlier)


def _demo_consents(store: Store) -> None:
    for pid, scope, rule, period, denied in _CONSENTS:
        consent_id = f"{pid}-consent"
        if _exists(store, consent_id, "Consent"):
            continue
        provision: dict[str, Any] = {}
        if period is not None:
            provision["period"] = {k: v for k, v in zip(("start", "end"), period, strict=True) if v}
        if denied:
            provision["provision"] = [
                {"type": "deny", "purpose": [{"system": _ACT_REASON, "code": c} for c in denied]}
            ]
        store.create(
            {
                "resourceType": "Consent",
                "id": consent_id,
                "status": "active",
                "scope": {"coding": [{"system": _CONSENT_SCOPE, "code": scope}]},
                "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                "patient": {"reference": f"Patient/{pid}"},
                "policyRule": {"coding": [{"code": rule}]},
                "provision": provision,
            }
        )


_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"


def _exists(store: Store, pid: str, resource_type: str = "Patient") -> bool:
    try:
        store.read(resource_type, pid)
    except NotFoundError:
        return False
    return True
