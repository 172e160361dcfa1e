"""Patient twins kept in a store: opened from a Patient's data, restored, listed, decided."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from healthtwin.errors import ConflictError, NotFoundError
from healthtwin.governance.oversight import Recommendation
from healthtwin.interop.records import ObservationRecord
from healthtwin.scenarios.patient_session import CGM_GLUCOSE, GlucoseReading, PatientTwinSession
from healthtwin.scenarios.patient_vitals import VitalSigns
from healthtwin.scenarios.twin_decisions import apply_decision, deciding_twin, proposer
from healthtwin.scenarios.twin_store import (
    ingest,
    kept_twin_rows,
    open_patient_twin,
    record_vitals,
    restore,
    snapshot,
    twin_row,
)
from healthtwin.scenarios.twin_stream import StreamCursor, stream_news, vitals_listing
from healthtwin.store import Store, open_store

START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
VITALS = VitalSigns(
    20.0,
    respiratory_rate_per_min=22,
    spo2_percent=95,
    systolic_bp_mm_hg=105,
    heart_rate_per_min=96,
    temperature_c=38.3,
    consciousness="A",
)


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store("sqlite://") as opened:
        opened.create({"resourceType": "Patient", "id": "p1", "gender": "unknown"})
        opened.add_observations(
            [
                ObservationRecord(
                    id=f"cgm-{k}",
                    patient_id="p1",
                    code=CGM_GLUCOSE,
                    effective=START + timedelta(minutes=5 * k),
                    value=140.0 + 5 * k,
                    unit="mg/dL",
                )
                for k in range(4)
            ]
        )
        yield opened


def test_a_twin_for_a_stored_patient_starts_at_its_first_reading_and_takes_them(
    store: Store,
) -> None:
    s = open_patient_twin(store, "t1", patient_id="p1", members=8)
    assert s.start == START
    assert [r.glucose_mg_dl for r in s.readings] == [140.0, 145.0, 150.0, 155.0]
    assert s.twin.t == 15.0
    with pytest.raises(NotFoundError):
        open_patient_twin(store, "t2", patient_id="nobody", members=8)
    snapshot(store, s)
    with pytest.raises(ConflictError, match="'t1' already exists"):
        open_patient_twin(store, "t1", members=8)


def test_restore_gives_the_same_twin_with_its_events_and_vital_signs(store: Store) -> None:
    s = open_patient_twin(store, "t1", patient_id="p1", members=8)
    s.apply_plan(20.0, 40.0, 2.0, "logged")  # ahead of the twin (at 15 min)
    assert ingest(store, s, [GlucoseReading(25.0, 170.0)]) == 1
    assert record_vitals(store, s, [VITALS]) == 1
    again = restore(store, "t1")
    assert again is not None
    assert len(again.readings) == 5
    assert again.events == s.events
    np.testing.assert_allclose(again.twin.state.x, s.twin.state.x)
    assert again.news2 == s.news2
    assert restore(store, "nobody") is None


def test_kept_rows_leave_out_live_reserved_and_other_states(store: Store) -> None:
    a = open_patient_twin(store, "a1", patient_id="p1", members=8)
    b = PatientTwinSession.create("job.b", members=8)
    for s in (a, b):
        snapshot(store, s)
    assert kept_twin_rows(store) == [twin_row(a), twin_row(b)]
    assert kept_twin_rows(store, reserved=("job.",)) == [twin_row(a)]
    assert kept_twin_rows(store, skip={"a1"}, reserved=("job.",)) == []


def _decided(value: dict[str, object], patient: str = "Patient/p1") -> Recommendation:
    return Recommendation(
        id="rec-1",
        model="uva-padova",
        model_version="S2008",
        patient=patient,
        value=value,
        proposed_by="Device/x",
        proposed_time=START,
        status="accepted",
    )


def test_a_decision_goes_to_its_twin_or_to_the_patients_only_twin(store: Store) -> None:
    one = PatientTwinSession.create("one", patient_id="p1", members=8)
    two = PatientTwinSession.create("two", patient_id="p1", members=8)
    live = {"one": one, "two": two}
    with_twin = _decided({"twin": "Device/two", "bolus_u": 3.0, "meal_g": 30.0, "t_min": -5.0})
    assert proposer(with_twin) == "two"
    assert deciding_twin(with_twin, live.get, [one, two]) is two
    gone: dict[str, PatientTwinSession] = {}
    assert deciding_twin(with_twin, gone.get, [one, two]) is None
    old = _decided({"bolus_u": 1.0})
    assert deciding_twin(old, live.get, [one, two]) is None  # which of two is unknown
    assert deciding_twin(old, live.get, [one]) is one
    assert apply_decision(store, two, with_twin, with_twin.value)
    assert two.events[-1] == {
        "t_min": 0.0,  # never before the twin's start
        "meal_g": 30.0,
        "bolus_u": 3.0,
        "source": "GuidanceResponse/rec-1 (accepted)",
    }
    assert restore(store, "two") is not None  # it was saved
    assert not apply_decision(store, one, old, {"plan": None})
    assert one.events == []


def test_a_stream_sees_new_vital_signs_and_the_listing_is_in_time_order(store: Store) -> None:
    s = PatientTwinSession.create("v1", members=8)
    cursor = StreamCursor.at(s)
    record_vitals(store, s, [VITALS])
    news = stream_news(s, cursor)
    assert news.readings == []
    assert not news.glucose_changed
    assert [n["news2"]["total"] for n in news.sets] == [6]
    assert news.cursor.seen_sets == 1
    record_vitals(store, s, [VitalSigns(**{**VITALS.as_dict(), "t_min": 10.0})])
    listed = vitals_listing(s)
    assert [v["t_min"] for v in listed["vitals"]] == [10.0, 20.0]
