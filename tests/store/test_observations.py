"""Observations: bulk insert, time-ordered range queries, the index, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from healthtwin.errors import ConflictError, InvalidInputError
from healthtwin.interop.codes import LOINC
from healthtwin.interop.records import Coding, ObservationComponent, ObservationRecord
from healthtwin.store import Store

T0 = datetime(2024, 6, 1, tzinfo=UTC)
CGM = Coding(system=LOINC, code="105272-9", display="Glucose in interstitial fluid")
HR = Coding(system=LOINC, code="8867-4")


def reading(
    i: int, code: Coding = CGM, patient_id: str = "p1", minutes: float = 5.0
) -> ObservationRecord:
    return ObservationRecord(
        id=f"{code.code}-{patient_id}-{i}",
        patient_id=patient_id,
        code=code,
        effective=T0 + timedelta(minutes=minutes * i),
        value=5.0 + 0.1 * i,
        unit="mmol/L",
        category="laboratory",
    )


def test_bulk_insert_and_time_ordered_queries(store: Store) -> None:
    shuffled = [reading(i) for i in range(0, 40, 2)] + [reading(i) for i in range(1, 40, 2)]
    others = [reading(i, HR) for i in range(10)] + [reading(i, patient_id="p2") for i in range(5)]
    assert store.add_observations(shuffled + others, batch_size=7) == 55
    cgm = store.observations("p1", "105272-9")
    assert [o.id for o in cgm] == [f"105272-9-p1-{i}" for i in range(40)]
    assert cgm[3] == reading(3)
    assert len(store.observations("p1")) == 50
    window = store.observations(
        "p1", CGM, start=T0 + timedelta(minutes=10), end=T0 + timedelta(minutes=30)
    )
    assert [o.effective - T0 for o in window] == [timedelta(minutes=m) for m in (10, 15, 20, 25)]
    latest = store.observations("p1", CGM, limit=3, newest_first=True)
    assert [o.id for o in latest] == [f"105272-9-p1-{i}" for i in (39, 38, 37)]
    assert store.observations("p1", CGM, limit=2) == [reading(0), reading(1)]
    assert store.observations("nobody") == []


def test_the_code_system_is_respected_when_a_coding_is_given(store: Store) -> None:
    local = Coding(system="urn:oid:1.2.3", code="105272-9")
    store.add_observations([reading(0), reading(1, local)])
    assert len(store.observations("p1", "105272-9")) == 2
    assert [o.id for o in store.observations("p1", CGM)] == ["105272-9-p1-0"]
    assert store.observations("p1", local)[0].code == local


def test_times_come_back_in_utc_whatever_zone_went_in(store: Store) -> None:
    paris = timezone(timedelta(hours=2))
    record = ObservationRecord(
        id="t1",
        patient_id="p1",
        code=HR,
        effective=datetime(2024, 6, 1, 10, 30, 0, 123456, paris),
        value=72.0,
        unit="/min",
    )
    store.add_observations([record])
    (back,) = store.observations("p1", start=datetime(2024, 6, 1, 8, 30, tzinfo=UTC))
    assert back.effective == datetime(2024, 6, 1, 8, 30, 0, 123456, tzinfo=UTC)
    assert back.effective.tzinfo == UTC
    with pytest.raises(InvalidInputError, match="start 2024-06-01T00:00:00 has no time zone"):
        store.observations("p1", start=datetime(2024, 6, 1))


def test_panels_keep_their_components_and_missing_values(store: Store) -> None:
    panel = ObservationRecord(
        id="bp1",
        patient_id="p1",
        code=Coding(system=LOINC, code="85354-9"),
        effective=T0,
        status="amended",
        encounter_id="e1",
        components=(
            ObservationComponent(
                code=Coding(system=LOINC, code="8480-6"), value=120.0, unit="mm[Hg]"
            ),
            ObservationComponent(code=Coding(system=LOINC, code="8462-4"), value=None, unit=None),
        ),
    )
    store.add_observations([panel])
    assert store.observations("p1") == [panel]


def test_duplicates_conflict_and_write_nothing(store: Store) -> None:
    store.add_observations([reading(0)])
    with pytest.raises(ConflictError, match="conflicts with data already stored"):
        store.add_observations([reading(1), reading(0)])
    with pytest.raises(ConflictError):
        store.add_observations([reading(2), reading(2)])
    assert [o.id for o in store.observations("p1")] == ["105272-9-p1-0"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"value": float("nan")}, "has value nan; store finite values only"),
        ({"value": float("inf")}, "has value inf"),
        ({"id": "x" * 65}, "ids are at most 64 characters"),
        ({"patient_id": "p" * 65}, "ids are at most 64 characters"),
    ],
)
def test_bad_records_are_refused(store: Store, changes: dict[str, object], message: str) -> None:
    fields = {"id": "o1", "patient_id": "p1", "code": HR, "effective": T0, "value": 1.0}
    record = ObservationRecord(**{**fields, **changes})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=message):
        store.add_observations([reading(0), record])
    assert store.observations("p1") == []


def test_bad_arguments_are_refused(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="batch_size must be at least 1"):
        store.add_observations([reading(0)], batch_size=0)
    with pytest.raises(InvalidInputError, match="limit must be non-negative"):
        store.observations("p1", limit=-1)
    assert store.add_observations([]) == 0


def test_delete_observations_by_id(store: Store) -> None:
    store.add_observations(reading(i) for i in range(1200))
    assert store.delete_observations(f"105272-9-p1-{i}" for i in range(0, 1200, 2)) == 600
    assert store.delete_observations(["not-there"]) == 0
    assert len(store.observations("p1")) == 600


def test_the_time_range_query_uses_the_composite_index(store: Store) -> None:
    store.add_observations(reading(i) for i in range(50))
    query = (
        "SELECT id FROM observations WHERE patient_id = 'p1' AND code = '105272-9' "
        "AND effective >= '2024-06-01' ORDER BY effective"
    )
    with store.engine.connect() as connection:
        if store.backend == "sqlite":
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}").all()
            assert "ix_observations_patient_code_effective" in str(plan)
            assert "TEMP B-TREE" not in str(plan)
        else:
            connection.execute(text("SET enable_seqscan = off"))
            plan = connection.execute(text(f"EXPLAIN {query}")).all()
            assert "ix_observations_patient_code_effective" in str(plan)
            assert "Sort" not in str(plan)


def test_bulk_rows_compare_like_rows_sqlalchemy_writes(store: Store) -> None:
    whole_second = reading(0)  # 2024-06-01 00:00:00 exactly
    store.add_observations([whole_second, reading(1)])
    assert store.observations("p1", start=T0, end=T0 + timedelta(minutes=5)) == [whole_second]
    assert store.observations("p1", start=T0 + timedelta(microseconds=1))[0].id.endswith("-1")
    if store.backend == "sqlite":
        with store.engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT effective FROM observations").scalars()
            assert sorted(stored) == ["2024-06-01 00:00:00.000000", "2024-06-01 00:05:00.000000"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"unit": "u" * 65}, "unit 'uuuu.*has 65 characters; the store keeps at most 64"),
        ({"status": "s" * 33}, "status .* at most 32"),
        ({"category": "c" * 65}, "category .* at most 64"),
        ({"encounter_id": "e" * 65}, "encounter_id .* at most 64"),
        ({"code": Coding(system="s" * 256, code="1")}, "code.system .* at most 255"),
        ({"code": Coding(system="s", code="1" * 65)}, "code.code .* at most 64"),
        ({"code": Coding(system="s", code="1", display="d" * 256)}, "code.display .* at most 255"),
    ],
)
def test_texts_wider_than_their_columns_are_refused_on_every_backend(
    store: Store, changes: dict[str, object], message: str
) -> None:
    fields = {"id": "o1", "patient_id": "p1", "code": HR, "effective": T0, "value": 1.0}
    record = ObservationRecord(**{**fields, **changes})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=message):
        store.add_observations([record])
    assert store.observations("p1") == []
