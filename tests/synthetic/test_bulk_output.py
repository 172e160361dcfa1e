"""FHIR Bulk Data NDJSON of synthetic patients: the fast path equals the validated one.

The oracle is :func:`synthetic_bundle` (every resource through the R4B models, then
flagged, then the whole Bundle validated): each NDJSON line must load to exactly the
JSON of the same resource in that Bundle.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fhir.resources.R4B.bundle import Bundle

from healthtwin.errors import InvalidParameterError, ResourceValidationError
from healthtwin.interop.fhir_json import dump_resource, parse_resource
from healthtwin.interop.records import ObservationRecord
from healthtwin.synthetic.demographics import sample_demographics
from healthtwin.synthetic.fhir_output import (
    NDJSON_TYPES,
    SyntheticBundleFile,
    is_flagged_synthetic,
    synthetic_bundle,
    write_synthetic_ndjson,
)
from healthtwin.synthetic.longitudinal import (
    LongitudinalConfig,
    SyntheticPatient,
    generate_patients,
)

CONFIG = LongitudinalConfig(follow_up_days=40.0, cgm_days=1, dropout_start_probability=0.02)


@pytest.fixture(scope="module")
def patients() -> tuple[SyntheticPatient, ...]:
    demo = sample_demographics(5, np.random.default_rng(5), diabetes_prevalence=0.5)
    pats = generate_patients(demo, config=CONFIG, seed=11)
    assert sum(p.diabetic for p in pats) >= 2  # CGM readings, insulin given and ordered
    # Deaths with and without fractions of a second, as the longitudinal model cuts them.
    first, second = pats[0], pats[1]
    end = max(e.end for e in first.data.encounters if e.end is not None)
    dead = dataclasses.replace(first, deceased=end + timedelta(days=2))
    odd = dataclasses.replace(second, deceased=end + timedelta(days=3, microseconds=120_000))
    return (dead, odd, *pats[2:])


@pytest.fixture(scope="module")
def oracle(patients: tuple[SyntheticPatient, ...]) -> dict[str, Any]:
    """The JSON of the validated Bundle (the slow path, built once)."""
    return dump_resource(synthetic_bundle(patients))


def _lines(folder: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for path in sorted(folder.glob("*.ndjson")):
        out[path.stem] = [json.loads(line) for line in path.read_text().splitlines()]
    return out


def test_every_line_is_the_validated_bundle_resource(
    patients: tuple[SyntheticPatient, ...], oracle: dict[str, Any], tmp_path: Path
) -> None:
    counts = write_synthetic_ndjson(patients, tmp_path, validate_sample=1)
    expected: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in oracle["entry"]:
        expected[entry["resource"]["resourceType"]].append(entry["resource"])
    written = _lines(tmp_path)
    assert set(written) == set(expected) == set(NDJSON_TYPES)
    for rtype, resources in expected.items():
        assert written[rtype] == resources, rtype
        assert counts[rtype] == len(resources)
    assert sum(counts.values()) > 300  # CGM readings dominate
    deceased = [r["deceasedDateTime"] for r in written["Patient"] if "deceasedDateTime" in r]
    assert len(deceased) == 2
    assert deceased[1].endswith(".120000Z")
    assert all(is_flagged_synthetic(r) for rs in written.values() for r in rs)
    assert all(
        any(s["code"] == "HTEST" for s in r["meta"]["security"])
        for rs in written.values()
        for r in rs
    )


def test_chunks_append_to_the_same_files_as_one_call(
    patients: tuple[SyntheticPatient, ...], tmp_path: Path
) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    write_synthetic_ndjson(patients, whole)
    write_synthetic_ndjson(patients[:3], parts)
    write_synthetic_ndjson(patients[3:], parts, validate_sample=0)
    for path in whole.glob("*.ndjson"):
        assert (parts / path.name).read_bytes() == path.read_bytes()
        lines = path.read_text().splitlines()
        assert all(line.startswith('{"resourceType":') for line in lines)


def test_streamed_bundle_file_is_the_validated_bundle(
    patients: tuple[SyntheticPatient, ...], oracle: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "bundle.json"
    with SyntheticBundleFile(path) as bundle:
        bundle.add(patients[:2])
        bundle.add(patients[2:])
    assert bundle.n_entries == len(oracle["entry"])
    assert json.loads(path.read_text()) == oracle
    parsed = parse_resource(path.read_bytes(), types=["Bundle"])
    assert isinstance(parsed, Bundle)
    assert parsed.entry is not None
    assert len(parsed.entry) == len(oracle["entry"])
    with SyntheticBundleFile(tmp_path / "empty.json"):
        pass
    empty = json.loads((tmp_path / "empty.json").read_text())
    assert "entry" not in empty
    assert is_flagged_synthetic(empty)


def test_a_sampled_resource_that_is_not_valid_fhir_is_refused(
    patients: tuple[SyntheticPatient, ...], tmp_path: Path
) -> None:
    first = patients[0]
    bad = ObservationRecord(
        id="bad obs id with spaces",
        patient_id=first.data.patient.id,
        code=first.data.observations[0].code,
        effective=first.data.observations[0].effective,
        value=1.0,
        unit="%",
    )
    broken = dataclasses.replace(first, data=dataclasses.replace(first.data, observations=(bad,)))
    with pytest.raises(ResourceValidationError, match="Observation"):
        write_synthetic_ndjson([broken], tmp_path)  # the first of each type is validated
    write_synthetic_ndjson([broken], tmp_path / "unchecked", validate_sample=0)
    with pytest.raises(InvalidParameterError, match="validate_sample"):
        write_synthetic_ndjson([first], tmp_path, validate_sample=-1)


def test_start_index_numbers_ids_and_leaves_the_records_alone() -> None:
    demo = sample_demographics(3, np.random.default_rng(1), diabetes_prevalence=0.0)
    plain = generate_patients(demo, config=CONFIG, seed=4)
    shifted = generate_patients(demo, config=CONFIG, seed=4, start_index=250)
    assert [p.data.patient.id for p in shifted] == [
        "synthetic-00250",
        "synthetic-00251",
        "synthetic-00252",
    ]
    for a, b in zip(plain, shifted, strict=True):
        assert [o.value for o in a.data.observations] == [o.value for o in b.data.observations]
        assert b.data.observations[0].id.startswith(b.data.patient.id)
    with pytest.raises(InvalidParameterError, match="start_index"):
        generate_patients(demo, config=CONFIG, start_index=-1)
