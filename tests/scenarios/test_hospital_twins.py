"""Hospital twins and their registry: census validation, presets, ids and runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from healthtwin.errors import ConflictError, InvalidInputError, NotFoundError
from healthtwin.scenarios.hospital_twins import (
    DEMO_CENSUS,
    HospitalRegistry,
    make_hospital_twin,
)


def test_the_demo_preset_brings_its_census_and_a_given_census_replaces_it() -> None:
    twin = make_hospital_twin(preset="demo")
    assert {u: len(h) for u, h in twin.census.items()} == DEMO_CENSUS
    assert twin.name == "Demo general hospital"
    assert twin.hospital_id.startswith("hospital-")
    custom = make_hospital_twin(preset="demo", census={"icu": [1.5, 0.0]}, name="x")
    assert custom.census == {"ed": (), "ward": (), "icu": (1.5, 0.0)}
    assert len(custom.census_model().entries) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "not neither"),
        ({"preset": "demo", "config": {}}, "not both"),
        ({"preset": "big"}, "unknown hospital preset"),
        ({"config": {"units": {}}}, "config is invalid"),
        ({"preset": "demo", "census": {"cafe": 1}}, "unknown unit"),
        ({"preset": "demo", "census": {"ed": -2}}, "count >= 0"),
        ({"preset": "demo", "census": {"ed": [float("nan")]}}, "finite and >= 0"),
        ({"preset": "demo", "census": {"icu": 11}}, "at most one patient per bed"),
    ],
)
def test_bad_twins_are_refused_with_the_reason(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        make_hospital_twin(**kwargs)


def test_the_registry_keeps_twins_oldest_first_with_their_runs() -> None:
    registry = HospitalRegistry()
    late = make_hospital_twin(hospital_id="b", preset="demo", now=datetime(2025, 1, 2, tzinfo=UTC))
    early = make_hospital_twin(hospital_id="a", preset="demo", now=datetime(2025, 1, 1, tzinfo=UTC))
    registry.add(late)
    registry.add(early)
    assert [t.hospital_id for t in registry.all()] == ["a", "b"]
    with pytest.raises(ConflictError, match="exists"):
        registry.add(early)
    with pytest.raises(NotFoundError, match="no hospital 'c'"):
        registry.get("c")
    registry.add_run("a", "job-1")
    registry.add_run("a", "job-2")
    assert registry.runs("a") == ["job-1", "job-2"]
    assert registry.runs("b") == []
    state = registry.get("a").to_dict(registry.runs("a"))
    assert state["latest_run"] == "job-2"
    assert state["census"] == DEMO_CENSUS
    assert [u["beds"] for u in state["units"]] == [14, 64, 10]
