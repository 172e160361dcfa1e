"""The world scenario file: strict validation whose errors name the field and its line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from healthtwin.cli import main
from healthtwin.errors import InvalidInputError, ResourceValidationError
from healthtwin.scenarios import load_world
from healthtwin.scenarios.run import run_world
from healthtwin.scenarios.world import WorldScenario, parse_world, world_warnings

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
        # Rules about one hospital are reported at its own line, not the country's.
        (
            "catchment_share: 1.0",
            "catchment_share: 0.6",
            "countries.0.hospitals.0.catchment_share",
            12,
        ),
        ("region: city", "region: town", "countries.0.hospitals.0.region", 11),
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
    with pytest.raises(InvalidInputError, match="not valid YAML") as info:
        load_world(_write(tmp_path, "days: [1, 2\n"))
    # The file, line and column of the problem, as an editor reads them.
    assert str(info.value).startswith(f"{tmp_path}/")
    assert ".yaml:2:1: not valid YAML: while parsing a flow sequence" in str(info.value)
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


@pytest.mark.parametrize(
    ("old", "new", "echoed"),
    [
        ("catchment_share: 1.0", "catchment_share: 1.7", "(got 1.7)"),
        ("replicates: 2", "replicates: ninety", "(got 'ninety')"),
    ],
)
def test_values_out_of_range_are_echoed(tmp_path: Path, old: str, new: str, echoed: str) -> None:
    with pytest.raises(ResourceValidationError) as info:
        load_world(_write(tmp_path, GOOD.replace(old, new)))
    assert echoed in info.value.issues[0].message


def test_a_top_level_typo_gets_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ResourceValidationError) as info:
        load_world(_write(tmp_path, GOOD.replace("replicates: 2", "replicats: 2")))
    issue = info.value.issues[0]
    assert issue.path == "replicats"
    assert "(line 2)" in issue.message
    assert "in the top level; did you mean 'replicates'?" in issue.message
    assert "'countries'" in issue.message  # the keys allowed there


def test_a_nested_typo_names_its_parent_and_allowed_keys(tmp_path: Path) -> None:
    text = GOOD.replace("kind: icu, beds: 2,", "kind: icu, bedz: 2,")
    with pytest.raises(ResourceValidationError) as info:
        load_world(_write(tmp_path, text))
    message = " ".join(i.message for i in info.value.issues)
    assert "unknown key 'bedz' in countries.0.hospitals.0.config.units.icu" in message
    assert "did you mean 'beds'?" in message
    assert "'los_hours'" in message


def test_a_key_indented_too_deep_says_to_check_the_indentation(tmp_path: Path) -> None:
    text = GOOD.replace(
        "        catchment_share: 1.0\n        config:\n",
        "        config:\n          catchment_share: 1.0\n",
    )
    assert text != GOOD
    with pytest.raises(ResourceValidationError) as info:
        load_world(_write(tmp_path, text))
    messages = " ".join(i.message for i in info.value.issues)
    assert "unknown key 'catchment_share' in countries.0.hospitals.0.config" in messages
    assert "is a key of countries.0.hospitals.0: check its indentation" in messages
    assert "the keys allowed there are ['units'," in messages


def test_a_second_hospital_in_a_missing_region_is_reported_at_its_line(tmp_path: Path) -> None:
    second = """      - name: h2
        region: suburb
        catchment_share: 1.0
        icu_unit: null
        config:
          units:
            ward: {kind: ward, beds: 5, los_hours: {dist: exponential, mean: 100}}
          pathways:
            ward: {discharge: 1.0}
"""
    with pytest.raises(ResourceValidationError, match="serves region 'suburb'") as info:
        load_world(_write(tmp_path, GOOD + second))
    issue = info.value.issues[0]
    assert issue.path == "countries.0.hospitals.1.region"
    assert "(line 21)" in issue.message


def _icu_world(disease: dict[str, float]) -> WorldScenario:
    unit = {"los_hours": {"dist": "exponential", "mean": 72}}
    return parse_world(
        {
            "days": 70,
            "replicates": 3,
            "seed": 5,
            "countries": [
                {
                    "name": "X",
                    "geography": {"regions": [{"name": "c", "population": 40000}]},
                    "disease": disease,
                    "initial_infected": {"c": 40},
                    "patients": {"course": "distribution"},
                    "hospitals": [
                        {
                            "name": "h",
                            "region": "c",
                            "catchment_share": 1.0,
                            "config": {
                                "units": {
                                    "ward": {"kind": "ward", "beds": 400, **unit},
                                    "icu": {"kind": "icu", "beds": 100, **unit},
                                },
                                "pathways": {
                                    "ward": {"icu": 0.25, "discharge": 0.7, "death": 0.05},
                                    "icu": {"discharge": 0.8, "death": 0.2},
                                },
                            },
                        }
                    ],
                }
            ],
        }
    )


def test_the_epidemic_sends_to_icu_the_share_the_hospitals_do() -> None:
    # The pathway sends 25 % of ward patients to the ICU; the disease leaves icu_fraction
    # unset (its default, 0.2, would disagree). A short ward stay and a long run let
    # nearly every admitted patient leave the epidemic's ward before the end.
    world = _icu_world({"r0": 4.0, "hospitalised_fraction": 0.1, "ward_stay_days": 1.0})
    country = run_world(world).countries[0]
    admitted = float(country.epidemic.get("admissions").sum())
    epidemic_share = float(country.epidemic.get("icu_admissions").sum()) / admitted
    patients = country.patients[0]
    assert patients is not None
    assert patients["patients"] == admitted
    hospital_share = float(patients["icu_transfer_share"])
    # 99 % binomial intervals: each share around the pathway's 0.25, and their difference.
    z, p = 2.576, 0.25
    assert abs(epidemic_share - p) < z * math.sqrt(p * (1 - p) / admitted)
    assert abs(hospital_share - p) < z * math.sqrt(p * (1 - p) / admitted)
    assert abs(epidemic_share - hospital_share) < z * math.sqrt(2 * p * (1 - p) / admitted)


def test_icu_fraction_and_stay_come_from_the_hospitals_unless_set() -> None:
    derived = _icu_world({"r0": 2.0}).countries[0].epidemic_disease()
    assert derived["icu_fraction"] == pytest.approx(0.25)
    assert derived["icu_stay_days"] == pytest.approx(3.0)  # 72 h, one ICU visit each
    explicit = _icu_world({"r0": 2.0, "icu_fraction": 0.1}).countries[0].epidemic_disease()
    assert explicit["icu_fraction"] == 0.1
    assert explicit["icu_stay_days"] == pytest.approx(3.0)


def test_a_hospital_whose_pathway_fatality_disagrees_with_the_disease_is_named() -> None:
    # Pathway fatality 0.05 + 0.25 x 0.2 = 10 %; the disease's 0.75 x 0.3 + 0.25 x 0.6.
    world = _icu_world({"r0": 2.0, "ward_death_fraction": 0.3, "icu_death_fraction": 0.6})
    (warning,) = world_warnings(world)
    assert "hospital 'h'" in warning
    assert "10.0%" in warning
    assert "37.5%" in warning
    assert "change the 'death' shares of its pathways" in warning
    agreeing = _icu_world({"r0": 2.0, "ward_death_fraction": 0.067, "icu_death_fraction": 0.2})
    assert world_warnings(agreeing) == ()
    # The run's summary.json carries the same warning, and the command prints it.
    short = world.model_copy(update={"days": 14, "replicates": 1})
    assert run_world(short).summary()["warnings"] == [warning]


def test_the_examples_have_no_fatality_warnings() -> None:
    for path in sorted(EXAMPLE.parent.glob("*.yaml")):
        assert world_warnings(load_world(path)) == (), path.name
