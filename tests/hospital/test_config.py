"""Hospital config: the example loads; bad input names the field; capacity copies and cost."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from healthtwin.errors import ResourceValidationError
from healthtwin.hospital import load_hospital_config, parse_hospital_config

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "hospital" / "example_hospital.yaml"


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def test_example_loads() -> None:
    cfg = load_hospital_config(EXAMPLE)
    assert cfg.units["ed"].beds == 30
    assert cfg.units["acute_ward"].beds == 120
    assert cfg.units["icu"].beds == 12
    assert cfg.units["ed"].staff is not None
    assert cfg.units["ed"].staff.nurses_at_hour()[8] == 8


def _broken(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(example())
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("units.icu.beds", -2, "units.icu.beds"),
        (
            "pathways.ed",
            {"acute_ward": 0.2, "discharge": 0.7},
            "pathways.ed: probabilities sum to 0.9, must sum to 1",
        ),
        ("pathways.ed", {"wrd": 0.5, "discharge": 0.5}, "unknown destination 'wrd'"),
        ("diversion.unit", "emergency", "diversion.unit: unknown unit 'emergency'"),
        ("pathways.icu", {"step_down": 1.0}, "form a cycle with no route to discharge"),
        ("units.ed.los_hours", {"dist": "lognormal", "mean": 3.0}, "needs 'cv' > 0"),
    ],
)
def test_bad_input_names_the_field(path: str, value: Any, expected: str) -> None:
    data = _broken(path, value)
    if path == "pathways.icu":
        data["pathways"]["step_down"] = {"icu": 1.0}
    with pytest.raises(ResourceValidationError) as info:
        parse_hospital_config(data)
    assert expected in str(info.value)
    assert info.value.issues


def test_with_capacity_copies_and_cost_per_day_counts_beds_and_shifts() -> None:
    cfg = load_hospital_config(EXAMPLE)
    more = cfg.with_capacity("icu", beds=14).with_capacity("ed", nurses_per_shift=9)
    assert (cfg.units["icu"].beds, more.units["icu"].beds) == (12, 14)
    assert more.units["ed"].staff is not None
    assert {s.nurses for s in more.units["ed"].staff.shifts} == {9}
    extra = 2 * 2000 + (9 + 9 - 8 - 6) * 420
    assert more.cost_per_day() == pytest.approx(cfg.cost_per_day() + extra)
    with pytest.raises(ValueError, match="no staff roster"):
        cfg.with_capacity("icu", nurses_per_shift=3)
    with pytest.raises(ValueError, match="unknown unit"):
        cfg.with_capacity("morgue", beds=1)
