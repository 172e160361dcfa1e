"""``healthtwin data import|export``: site exports and FHIR bundles through the store."""

from __future__ import annotations

import csv
import gc
import json
from pathlib import Path

import pytest

from healthtwin.cli import main
from healthtwin.cli.data import IMPORT_MAX_BYTES, IMPORT_MAX_ENTRIES, import_file
from healthtwin.interop.harmonize import harmonize
from healthtwin.store import open_store

SITES = Path(__file__).resolve().parents[1] / "data" / "harmonisation"


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


def _import(url: str, *args: str) -> int:
    return main(["data", "import", *args, "--database", url])


def test_site_export_round_trips_through_the_store(tmp_path: Path) -> None:
    url = _url(tmp_path)
    expected = harmonize(SITES / "de_site.csv", SITES / "de_site.yaml")
    n_obs = sum(len(p.observations) for p in expected.patients)
    assert _import(url, str(SITES / "de_site.csv"), "--mapping", str(SITES / "de_site.yaml")) == 0
    store = open_store(url)
    assert len(list(store.iter_resources("Patient"))) == len(expected.patients)
    stored = sum(len(store.observations(p.patient.id)) for p in expected.patients)
    assert stored == n_obs

    out = tmp_path / "fhir"
    assert main(["data", "export", "--out", str(out), "--database", url]) == 0
    patients = (out / "Patient.ndjson").read_text().splitlines()
    assert len(patients) == len(expected.patients)
    observations = [json.loads(x) for x in (out / "Observation.ndjson").read_text().splitlines()]
    assert len(observations) == n_obs
    assert all(o["subject"]["reference"].startswith("Patient/") for o in observations)

    omop = tmp_path / "omop"
    assert main(["data", "export", "--format", "omop", "--out", str(omop), "--database", url]) == 0
    with (omop / "person.csv").open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(expected.patients)
    with (omop / "measurement.csv").open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == n_obs


def test_bundle_import_is_idempotent_and_feeds_the_series(tmp_path: Path) -> None:
    url = _url(tmp_path)
    assert _import(url, str(SITES / "fr_site.csv"), "--mapping", str(SITES / "fr_site.yaml")) == 0
    out = tmp_path / "fhir"
    assert main(["data", "export", "--out", str(out), "--database", url]) == 0
    entries = [
        {"resource": json.loads(line)}
        for name in ("Patient", "Observation")
        for line in (out / f"{name}.ndjson").read_text().splitlines()
    ]
    bundle = tmp_path / "bundle.json"
    bundle.write_text(
        json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})
    )
    fresh = _url(tmp_path / "b")
    (tmp_path / "b").mkdir()
    for _ in range(2):
        assert _import(fresh, str(bundle)) == 0
    store = open_store(fresh)
    patient_ids = [p["id"] for p in store.iter_resources("Patient")]
    series = sum(len(store.observations(pid)) for pid in patient_ids)
    assert series == len(entries) - len(patient_ids)
    assert len(store.history("Patient", patient_ids[0])) == 2  # re-import is a new version


def test_bad_files_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _url(tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceType": "Bundle", "type": "collection", "entry": [')
    assert _import(url, str(broken)) == 2
    assert "JSON" in capsys.readouterr().err
    bad_ref = tmp_path / "bad_ref.json"
    observation = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "not-a-status",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-01-01T00:00:00Z",
        "valueQuantity": {"value": 60, "system": "http://unitsofmeasure.org", "code": "/min"},
    }
    bad_ref.write_text(json.dumps(observation))
    assert _import(url, str(bad_ref)) == 2
    assert "status" in capsys.readouterr().err
    assert _import(url, str(SITES / "de_site.csv")) == 2
    assert "--mapping" in capsys.readouterr().err
    store = open_store(url)
    assert list(store.iter_resources("Observation")) == []
    assert main(["data", "export", "--out", str(tmp_path / "x"), "--database", url]) == 2


def _cgm_bundle(n: int) -> dict[str, object]:
    patient = {"resourceType": "Patient", "id": "cgm-p1", "gender": "female"}
    readings = [
        {
            "fullUrl": f"urn:uuid:5b0c6f1e-3d2a-4c8b-9e7f-{i:012d}",
            "resource": {
                "resourceType": "Observation",
                "id": f"cgm-{i}",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "105272-9"}]},
                "subject": {"reference": "Patient/cgm-p1"},
                "effectiveDateTime": f"2024-01-01T{i // 12:02d}:{5 * (i % 12):02d}:00Z",
                "valueQuantity": {
                    "value": round(6.1 + i / 10, 1),
                    "unit": "mmol/L",
                    "system": "http://unitsofmeasure.org",
                    "code": "mmol/L",
                },
            },
        }
        for i in range(n)
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": patient}, *readings],
    }


def test_import_stores_the_entries_as_sent_and_times_its_phases(tmp_path: Path) -> None:
    path = tmp_path / "cgm.json"
    path.write_text(json.dumps(_cgm_bundle(24)))
    timings: dict[str, float] = {}
    with open_store(_url(tmp_path)) as store:
        counts = import_file(store, path, None, "tester", timings=timings)
        assert counts == {"resources": 25, "observations": 24, "patients": 1}
        assert sorted(timings) == ["checks", "map", "parse", "store"]
        assert all(seconds >= 0 for seconds in timings.values())
        stored = store.read("Observation", "cgm-3")
        sent = _cgm_bundle(24)["entry"][4]["resource"]  # type: ignore[index]
        assert {k: v for k, v in stored.items() if k != "meta"} == sent
        assert [o.value for o in store.observations("cgm-p1")][:2] == [6.1, 6.2]
        assert gc.isenabled()


def test_entry_and_size_limits_refuse_a_file_and_can_be_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _url(tmp_path)
    path = tmp_path / "cgm.json"
    path.write_text(json.dumps(_cgm_bundle(30)))
    assert _import(url, str(path), "--max-entries", "20") == 2
    assert "more than 20 Bundle entries" in capsys.readouterr().err
    assert _import(url, str(path), "--max-mb", "0.01") == 2
    assert "over the limit of 10486 bytes" in capsys.readouterr().err
    assert gc.isenabled()
    with open_store(url) as store:
        assert list(store.iter_resources("Observation")) == []
    assert _import(url, str(path), "--max-entries", "31") == 0
    with open_store(url) as store:
        assert len(store.observations("cgm-p1")) == 30


def test_default_limits_take_a_100000_observation_bundle() -> None:
    # ~57 MB of JSON and 100,004 entries (see benchmarks/interop.py) fit; 10^6 entries do not.
    assert IMPORT_MAX_BYTES >= 60_000_000
    assert 100_004 <= IMPORT_MAX_ENTRIES < 1_000_000
