"""Hospital twins kept in a store: read back after a restart, listed, ids kept apart."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from healthtwin.errors import ConflictError, NotFoundError
from healthtwin.scenarios.hospital_twins import (
    HOSPITAL_INDEX,
    HospitalRegistry,
    hospital_key,
    load_hospital_twin,
    make_hospital_twin,
    save_hospital_twin,
)
from healthtwin.store import Store, open_store

SMALL = {
    "units": {
        "ed": {"kind": "ed", "beds": 4, "los_hours": {"dist": "exponential", "mean": 2.0}},
        "ward": {"kind": "ward", "beds": 6, "los_hours": {"dist": "gamma", "mean": 30, "cv": 0.5}},
    },
    "arrivals": [{"unit": "ed", "rate_per_hour": 1.0}],
    "pathways": {"ed": {"ward": 0.2, "discharge": 0.8}, "ward": {"discharge": 1.0}},
}
T0 = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[Store]:
    with open_store("sqlite://") as opened:
        yield opened


def test_a_saved_twin_reads_back_equal(store: Store) -> None:
    twin = make_hospital_twin(
        hospital_id="h1", name="St Elsewhere", config=SMALL, census={"ward": [1.5, 30.25]}, now=T0
    )
    save_hospital_twin(store, twin, ["job-a", "job-b"])
    found = load_hospital_twin(store, "h1")
    assert found is not None
    again, runs = found
    assert again == twin
    assert runs == ["job-a", "job-b"]
    assert again.census_model() == twin.census_model()


def test_the_latest_save_counts(store: Store) -> None:
    twin = make_hospital_twin(hospital_id="h1", preset="demo", now=T0)
    for runs in ([], ["j1"], ["j1", "j2"]):
        save_hospital_twin(store, twin, runs)
    assert load_hospital_twin(store, "h1") == (twin, ["j1", "j2"])


def test_a_registry_over_the_same_store_finds_twins_and_runs_again(store: Store) -> None:
    first = HospitalRegistry(store=store)
    older = first.add(make_hospital_twin(hospital_id="b-older", preset="demo", now=T0))
    newer = first.add(
        make_hospital_twin(hospital_id="a-newer", config=SMALL, now=T0 + timedelta(hours=1))
    )
    first.add_run("b-older", "job-1")
    restarted = HospitalRegistry(store)
    assert restarted.get("a-newer") == newer
    assert restarted.runs("b-older") == ["job-1"]
    assert [t.hospital_id for t in HospitalRegistry(store).all()] == ["b-older", "a-newer"]
    with pytest.raises(ConflictError, match="exists"):
        restarted.add(make_hospital_twin(hospital_id="b-older", config=SMALL))
    restarted.add_run("b-older", "job-2")
    assert HospitalRegistry(store).runs("b-older") == ["job-1", "job-2"]
    assert HospitalRegistry(store).get("b-older") == older


def test_a_registry_without_a_store_keeps_nothing(store: Store) -> None:
    memory = HospitalRegistry()
    memory.add(make_hospital_twin(hospital_id="h1", preset="demo"))
    assert load_hospital_twin(store, "h1") is None
    with pytest.raises(NotFoundError):
        store.twin_state_history(HOSPITAL_INDEX)


def test_attaching_a_store_once_and_only_one(store: Store) -> None:
    registry = HospitalRegistry()
    assert registry.attach(store).attach(store) is registry
    registry.add(make_hospital_twin(hospital_id="h1", preset="demo"))
    assert load_hospital_twin(store, "h1") is not None
    with open_store("sqlite://") as other, pytest.raises(ConflictError, match="another store"):
        registry.attach(other)


def test_unknown_twins_are_not_found(store: Store) -> None:
    registry = HospitalRegistry(store)
    with pytest.raises(NotFoundError, match="no hospital 'nowhere'"):
        registry.get("nowhere")
    with pytest.raises(NotFoundError):
        registry.add_run("nowhere", "job-1")
    assert registry.runs("nowhere") == []
    assert registry.all() == []


def test_long_ids_are_kept_under_a_digest_without_mixing_twins(store: Store) -> None:
    long_id = "h" * 64
    assert hospital_key("h" * 55) == "hospital." + "h" * 55
    key = hospital_key(long_id)
    assert len(key) <= 64
    assert key != hospital_key("h" * 63)
    registry = HospitalRegistry(store)
    registry.add(make_hospital_twin(hospital_id=long_id, preset="demo", now=T0))
    # A short id spelled like the digest key's tail shares the key, but not the twin.
    lookalike = key.removeprefix("hospital.")
    assert HospitalRegistry(store).get(long_id).hospital_id == long_id
    with pytest.raises(NotFoundError):
        HospitalRegistry(store).get(lookalike)
    registry.add(make_hospital_twin(hospital_id=lookalike, config=SMALL, now=T0))
    again = HospitalRegistry(store)
    assert again.get(lookalike).config.units.keys() == {"ed", "ward"}
    assert again.get(long_id).config.units.keys() == {"ed", "ward", "icu"}


def test_a_state_of_another_model_under_the_key_is_not_a_hospital(store: Store) -> None:
    store.save_twin_state(
        hospital_key("h1"), model="patient", model_version="1", valid_time=T0, arrays={}
    )
    assert load_hospital_twin(store, "h1") is None
    HospitalRegistry(store).add(make_hospital_twin(hospital_id="h1", preset="demo"))
    assert HospitalRegistry(store).get("h1").hospital_id == "h1"
