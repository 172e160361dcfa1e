"""The world scenario file: strict validation whose errors name the field and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthtwin.cli import main
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
        ("disease: {r0: 2.0}", "disease: {rzero: 2.0}", "countries.0.disease.rzero.[key]", 8),
        (
            "    disease: {r0: 2.0}",
            "    disease: {r0: 2.0}\n    initial_infected: {city: 5, town: 3}",
            "countries.0.initial_infected",
            9,
        ),
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


def test_disease_typos_and_unknown_seed_regions_say_what_to_write(tmp_path: Path) -> None:
    with pytest.raises(ResourceValidationError, match="parameter 'r_0'; did you mean 'r0'"):
        load_world(_write(tmp_path, GOOD.replace("{r0: 2.0}", "{r_0: 2.0}")))
    seeded = GOOD.replace("{r0: 2.0}", "{r0: 2.0}\n    initial_infected: {town: 3}")
    with pytest.raises(ResourceValidationError, match="region 'town', which is not one of"):
        load_world(_write(tmp_path, seeded))
    # Every known parameter and a listed region pass.
    fine = GOOD.replace(
        "{r0: 2.0}", "{r0: 2.0, icu_fraction: 0.2}\n    initial_infected: {city: 3}"
    )
    assert load_world(_write(tmp_path, fine)).countries[0].disease["icu_fraction"] == 0.2


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [("--days", "5", "days"), ("--replicates", "0", "replicates"), ("--seed", "-1", "seed")],
)
def test_bad_command_line_overrides_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, field: str
) -> None:
    path = _write(tmp_path, GOOD)
    code = main(["run", str(path), "--out", str(tmp_path / "out"), option, value])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert f"with {option}: invalid world scenario: {field}:" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
