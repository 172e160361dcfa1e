"""The Safe Harbor report and rules: 18 identifiers, ZIP3, ages 90+, years only."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from healthtwin.errors import InvalidInputError
from healthtwin.governance.generalise import (
    age_years,
    date_to_year,
    generalise_age,
    is_fhir_date,
    shift_date,
    zip3,
)
from healthtwin.governance.safe_harbor import (
    HIPAA_IDENTIFIERS,
    FindingLog,
    Handling,
    HipaaIdentifier,
    restricted_zip3,
)

# HHS de-identification guidance (2012), from the 2000 Census; see governance/data/README.md.
HHS_2000_RESTRICTED = {
    "036", "059", "063", "102", "203", "556", "692", "790", "821",
    "823", "830", "831", "878", "879", "884", "890", "893",
}  # fmt: skip


def test_the_eighteen_identifiers_are_listed_in_the_regulations_order() -> None:
    assert [i.value for i in HipaaIdentifier] == list("ABCDEFGHIJKLMNOPQR")
    assert set(HIPAA_IDENTIFIERS) == set(HipaaIdentifier)
    assert HipaaIdentifier.G.description == "Social security numbers"


def test_an_empty_log_reports_every_identifier_as_not_present() -> None:
    report = FindingLog().report()
    assert len(report.findings) == 18
    assert all(f.handling == (Handling.NOT_PRESENT,) and f.count == 0 for f in report.findings)
    assert report.meets_safe_harbor
    assert report.notes == ()


def test_the_report_counts_locations_and_caveats() -> None:
    log = FindingLog()
    log.record(HipaaIdentifier.C, Handling.SHIFTED, "Encounter.period.start")
    log.record(HipaaIdentifier.C, Handling.GENERALISED, "Patient.birthDate (age 90+)")
    log.record(HipaaIdentifier.R, Handling.PSEUDONYMISED, "Patient.id")
    log.free_text_removed = 3
    report = log.report()
    dates = report.finding("C")
    assert dates.count == 2
    assert dates.handling == (Handling.GENERALISED, Handling.SHIFTED)
    assert not dates.meets_safe_harbor
    assert not report.meets_safe_harbor
    assert len(report.notes) == 2
    summary = json.loads(json.dumps(report.to_dict()))
    assert summary["identifiers"]["C"]["locations"] == [
        "Encounter.period.start",
        "Patient.birthDate (age 90+)",
    ]
    assert summary["identifiers"]["R"]["handling"] == ["pseudonymised"]
    assert summary["free_text_removed"] == 3
    with pytest.raises(InvalidInputError, match="one letter A-R"):
        report.finding("Z")


def test_pseudonyms_alone_still_meet_safe_harbor_with_a_caveat() -> None:
    log = FindingLog()
    log.record(HipaaIdentifier.R, Handling.PSEUDONYMISED, "Patient.id")
    report = log.report()
    assert report.meets_safe_harbor
    assert any("164.514(c)" in note for note in report.notes)


def test_the_restricted_zip3_list_is_the_hhs_2000_census_list() -> None:
    assert restricted_zip3() == HHS_2000_RESTRICTED


@pytest.mark.parametrize(
    ("code", "expected"),
    [("02139", "021"), ("02139-4307", "021"), ("036010000", "000"), ("89301", "000"),
     ("90210", "902"), ("K1A 0B1", None), ("1234", None)],
)  # fmt: skip
def test_zip_codes_keep_three_digits_unless_the_area_is_small(
    code: str, expected: str | None
) -> None:
    assert zip3(code, restricted_zip3()) == expected


def test_ages_over_89_are_aggregated() -> None:
    assert [generalise_age(a) for a in (0, 45, 89, 89.5, 90, 104)] == [0, 45, 89, "90+", "90+",
                                                                       "90+"]  # fmt: skip
    assert age_years("1934-06-02", dt.date(2024, 6, 1)) == 89
    assert age_years("1934-06-01", dt.date(2024, 6, 1)) == 90
    assert age_years("not a date", dt.date(2024, 6, 1)) is None


def test_dates_keep_year_or_shift_at_their_precision() -> None:
    assert date_to_year("2021-03-04T10:00:00Z") == "2021"
    assert shift_date("2024-02-28", 1) == "2024-02-29"
    assert shift_date("2023-12-31T23:00:00.123-05:00", 1) == "2024-01-01T23:00:00.123-05:00"
    assert shift_date("2023-12", 20) == "2024-01"
    assert is_fhir_date("2023-12-31")
    assert not is_fhir_date("44054006")
    with pytest.raises(InvalidInputError, match="not a calendar date"):
        shift_date("2023-02-30", 1)
    with pytest.raises(InvalidInputError, match="not a FHIR date"):
        date_to_year("yesterday")
