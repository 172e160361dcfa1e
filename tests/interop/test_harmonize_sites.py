"""Three synthetic countries, one truth: their exports harmonise to the same records.

The US, German and French exports in ``tests/data/harmonisation`` hold the same three
patients and nine visits, with different column names and languages, units (degrees
Fahrenheit, pounds and mg/dL; Celsius, kilograms and mmol/L; g/L), date formats, time
zones (with visits on both sides of the US and EU daylight-saving changes), layouts
(wide and long) and local codes. After harmonisation they must agree: the same patients,
codes, UTC times and ids, values equal to 1e-9, and the same FHIR and OMOP output.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path

import pytest

from healthtwin.interop.fhir_bundle import patients_to_bundle
from healthtwin.interop.fhir_json import dump_resource
from healthtwin.interop.harmonize import HarmonizedSource, harmonize
from healthtwin.interop.omop import export_omop_csv
from healthtwin.interop.records import PatientData

DATA = Path(__file__).resolve().parents[1] / "data" / "harmonisation"
SITES = ("us", "de", "fr")


@pytest.fixture(scope="module")
def sites() -> dict[str, HarmonizedSource]:
    return {site: harmonize(None, DATA / f"{site}_site.yaml") for site in SITES}


def without_values(data: PatientData) -> PatientData:
    """The patient with observation values blanked (compared separately, to 1e-9)."""
    return dataclasses.replace(
        data, observations=tuple(dataclasses.replace(o, value=None) for o in data.observations)
    )


def rounded(data: PatientData) -> PatientData:
    """Observation values to 10 significant digits, for byte-identical exports."""
    return dataclasses.replace(
        data,
        observations=tuple(
            dataclasses.replace(o, value=float(f"{o.value:.10g}")) for o in data.observations
        ),
    )


def test_every_source_maps_cleanly(sites: dict[str, HarmonizedSource]) -> None:
    for site, result in sites.items():
        quality = result.quality
        assert quality.accounted, site
        assert quality.problems == (), site
        assert quality.count("mapped") == quality.n_rows, site
        assert dict(quality.records) == {
            "patients": 3, "observations": 63, "conditions": 4, "medications": 3,
        }, site  # fmt: skip
    assert sites["fr"].quality.n_rows == 63
    assert sites["us"].quality.n_rows == sites["de"].quality.n_rows == 9


def test_the_three_countries_give_the_same_records(sites: dict[str, HarmonizedSource]) -> None:
    us, de, fr = (sites[s].patients for s in SITES)
    assert [without_values(p) for p in us] == [without_values(p) for p in de]
    assert [without_values(p) for p in us] == [without_values(p) for p in fr]
    for a, b, c in zip(us, de, fr, strict=True):
        for x, y, z in zip(a.observations, b.observations, c.observations, strict=True):
            assert x.value is not None
            assert y.value is not None
            assert z.value is not None
            assert math.isclose(x.value, y.value, rel_tol=1e-9, abs_tol=0.0), (x, y)
            assert math.isclose(x.value, z.value, rel_tol=1e-9, abs_tol=0.0), (x, z)


def test_the_harmonised_truth(sites: dict[str, HarmonizedSource]) -> None:
    p001 = sites["de"].patient("P001")
    assert (p001.patient.gender, p001.patient.country, str(p001.patient.birth_date)) == (
        "female",
        "DE",
        "1956-04-03",
    )
    glucose = p001.observations_of(["2345-7"])
    assert [round(o.value or 0.0, 9) for o in glucose] == [104.49048, 117.1014, 129.71232]
    assert {o.unit for o in glucose} == {"mg/dL"}
    times = sorted({o.effective.isoformat() for o in p001.observations})
    # 08:30 EST, 10:00 EDT (US summer time started 10 March) and 03:45 EDT in New York.
    assert times == [
        "2024-03-05T13:30:00+00:00",
        "2024-03-12T14:00:00+00:00",
        "2024-04-02T07:45:00+00:00",
    ]
    weight = sites["us"].patient("P003").observations_of(["29463-7"])
    assert weight[0].value == pytest.approx(190 * 0.45359237, rel=1e-12)
    temperature = sites["us"].patient("P002").observations_of(["8310-5"])
    assert [round(o.value or 0.0, 9) for o in temperature] == [36.9, 37.1, 37.3]
    assert {c.code.code for c in sites["fr"].patient("P002").conditions} == {
        "44054006",
        "59621000",
    }
    assert [m.dose for m in sites["fr"].patient("P001").medications] == [10.0, 12.0, 14.0]


def test_the_same_fhir_bundle(sites: dict[str, HarmonizedSource]) -> None:
    bundles = [
        dump_resource(patients_to_bundle([rounded(p) for p in sites[s].patients])) for s in SITES
    ]
    assert bundles[0] == bundles[1] == bundles[2]
    kinds = Counter(entry["resource"]["resourceType"] for entry in bundles[0]["entry"])
    assert kinds["Patient"] == 3
    assert kinds["Condition"] == 4
    assert kinds["Observation"] == 63
    assert kinds["MedicationAdministration"] == 3


def test_the_same_omop_tables(sites: dict[str, HarmonizedSource], tmp_path: Path) -> None:
    contents = []
    for site in SITES:
        folder = tmp_path / site
        export_omop_csv([rounded(p) for p in sites[site].patients], folder)
        contents.append({f.name: f.read_text() for f in sorted(folder.glob("*.csv"))})
    assert contents[0] == contents[1] == contents[2]
    assert contents[0]["measurement.csv"].count("\n") > 1


def test_defects_are_reported_and_clean_rows_still_match(
    sites: dict[str, HarmonizedSource],
) -> None:
    defective = harmonize(DATA / "de_site_defects.csv", DATA / "de_site.yaml")
    quality = defective.quality
    assert quality.accounted
    assert quality.n_rows == 14
    assert dict(quality.rows) == {
        "mapped": 8, "partial": 1, "rejected": 3, "duplicate": 1, "empty": 1,
    }  # fmt: skip
    assert quality.rows_with("implausible", "Temperatur (°C)") == (9,)
    assert quality.rows_with("unparseable_date", "Zeitpunkt") == (10,)
    assert quality.rows_with("unmapped_code", "Diagnose") == (11,)
    assert quality.unmapped_codes == {"Morbus Beispiel": 1}
    assert quality.rows_with("duplicate_row") == (12,)
    assert quality.rows_with("missing_required", "Patientennummer") == (13,)
    (implausible,) = [p for p in quality.problems if p.kind == "implausible"]
    assert implausible.value == "376,0"
    assert "body_temperature 376 Cel" in implausible.message
    text = quality.to_text()
    assert "row 11 Diagnose: unmapped_code: 'Morbus Beispiel' is not in the concept map" in text
    # The clean rows give exactly the clean export's records, less the implausible value.
    clean = sites["de"].patients
    dropped = next(
        o
        for o in sites["de"].patient("P003").observations
        if o.code.code == "8310-5" and o.effective.month == 4
    )
    expected = [
        dataclasses.replace(p, observations=tuple(o for o in p.observations if o.id != dropped.id))
        for p in clean
    ]
    assert list(defective.patients) == expected
