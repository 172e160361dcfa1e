"""The world scenario file: strict validation whose errors name the field and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthtwin.errors import InvalidInputError, ResourceValidationError
from healthtwin.scenarios import load_world

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "city-three-hospitals.yaml"

GOOD = """\
days: 21
replicates: 2
countries:
  - name: X
    geography:
      regions:
        - {name: city, population: 50000}
    disease: {r0: 2.0}
    hospitals:
      - name: h
        region: city
        catchment_share: 1.0
        config:
          units:
            ward: {kind: ward, beds: 20, los_hours: {dist: exponential, mean: 100}}
            icu: {kind: icu, beds: 2, los_hours: {dist: exponential, mean: 100}}
          pathways:
            ward: {icu: 0.1, discharge: 0.9}
            icu: {discharge: 1.0}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "world.yaml"
    path.write_text(text)
    return path


def test_the_example_and_a_small_world_validate(tmp_path: Path) -> None:
    world = load_world(EXAMPLE)
    assert len(world.countries[0].hospitals) == 4
    small = load_world(_write(tmp_path, GOOD))
    assert small.countries[0].hospitals[0].icu_beds() == 2


@pytest.mark.parametrize(
    ("old", "new", "path", "line"),
    [
        ("replicates: 2", "replicates: 0", "replicates", 2),
        ("beds: 20,", "beds: -3,", "countries.0.hospitals.0.config.units.ward.beds", 15),
        ("catchment_share: 1.0", "catchment_share: 0.6", "countries.0", 4),
        ("region: city", "region: town", "countries.0", 4),
        (
            "    disease: {r0: 2.0}",
            "    disease: {r0: 2.0}\n    colour: blue",
            "countries.0.colour",
            9,
        ),
        ("icu: {discharge: 1.0}", "icu: {discharge: 0.5}", "countries.0.hospitals.0.config", 14),
    ],
)
def test_errors_name_the_field_and_the_line(
    tmp_path: Path, old: str, new: str, path: str, line: int
) -> None:
    assert old in GOOD
    with pytest.raises(ResourceValidationError) as info:
        load_world(_write(tmp_path, GOOD.replace(old, new)))
    issue = info.value.issues[0]
    assert issue.path == path
    assert f"(line {line})" in issue.message
    assert f"world.yaml:{line}:" in str(info.value)


def test_unknown_entry_unit_is_reported_at_the_hospital(tmp_path: Path) -> None:
    text = GOOD.replace(
        "        catchment_share: 1.0", "        catchment_share: 1.0\n        entry_unit: ed"
    )
    with pytest.raises(ResourceValidationError, match="entry_unit 'ed' is not a unit") as info:
        load_world(_write(tmp_path, text))
    assert "(line 10)" in info.value.issues[0].message


def test_not_yaml_or_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_world(_write(tmp_path, "days: [1, 2\n"))
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_world(tmp_path / "none.yaml")
