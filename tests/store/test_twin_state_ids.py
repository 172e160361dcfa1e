"""Listing the ids of saved twin states by prefix, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.store import Store

T0 = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


def save(store: Store, twin_id: str, hours: float = 0.0) -> None:
    store.save_twin_state(
        twin_id, model="m", model_version="1", valid_time=T0 + timedelta(hours=hours), arrays={}
    )


def test_an_empty_store_lists_no_ids(store: Store) -> None:
    assert store.twin_state_ids() == []
    assert store.twin_state_ids("job.") == []


def test_ids_are_distinct_sorted_and_filtered_by_an_exact_prefix(store: Store) -> None:
    for twin_id, hours in (
        ("job.b", 0),
        ("job.a", 0),
        ("job.a", 1),  # a second snapshot does not list the id twice
        ("JOB.upper", 0),  # another case: not the same prefix
        ("jobs.x", 0),
        ("job-x", 0),  # '.' is not a wildcard
        ("twin-1", 0),
        ("hospital.h1", 0),
    ):
        save(store, twin_id, hours)
    assert store.twin_state_ids("job.") == ["job.a", "job.b"]
    assert store.twin_state_ids("job") == ["job-x", "job.a", "job.b", "jobs.x"]
    assert store.twin_state_ids("") == sorted(
        ["job.b", "job.a", "JOB.upper", "jobs.x", "job-x", "twin-1", "hospital.h1"]
    )
    assert store.twin_state_ids("twin-1") == ["twin-1"]
    assert store.twin_state_ids("nothing.") == []


def test_like_wildcards_in_a_prefix_are_taken_literally(store: Store) -> None:
    save(store, "a-b")
    save(store, "axb")
    assert store.twin_state_ids("a%") == []
    assert store.twin_state_ids("a_") == []
    assert store.twin_state_ids("a-") == ["a-b"]


@pytest.mark.parametrize("prefix", [None, 3, "x" * 65])
def test_a_bad_prefix_is_refused_with_the_value(store: Store, prefix: object) -> None:
    with pytest.raises(InvalidInputError, match="prefix"):
        store.twin_state_ids(prefix)  # type: ignore[arg-type]
