"""ConceptMap translation (FHIR R4 semantics) and the cell readers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from healthtwin.interop.codes import ICD10, SNOMED
from healthtwin.interop.harmonize import ConceptMap, Translator, normalize_label
from healthtwin.interop.harmonize.transforms import (
    Failure,
    parse_date,
    parse_datetime,
    parse_number,
    translate_label,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "harmonisation"

# Spanish diagnosis names to ICD-10, with FHIR's equivalence kinds.
SPANISH = ConceptMap.model_validate(
    {
        "resourceType": "ConceptMap",
        "url": "urn:example:es-site:diagnosticos",
        "group": [
            {
                "source": "urn:example:es-site:diagnosticos",
                "target": ICD10,
                "element": [
                    {
                        "code": "Diabetes mellitus tipo 2",
                        "target": [{"code": "E11", "display": "Type 2 diabetes mellitus"}],
                    },
                    {
                        "code": "Hipertensión esencial",
                        "target": [{"code": "I10", "equivalence": "equal"}],
                    },
                    {
                        "code": "Diabetes tipo 2 con cetoacidosis",
                        "target": [{"code": "E11", "equivalence": "wider"}],
                    },
                    {
                        "code": "Obesidad",
                        "target": [{"code": "E66.01", "equivalence": "narrower"}],
                    },
                    {"code": "Gripe", "target": [{"equivalence": "unmatched"}]},
                    {"code": "Asma", "target": [{"code": "J45", "equivalence": "disjoint"}]},
                ],
            },
            {
                "source": "urn:example:es-site:diagnosticos",
                "target": SNOMED,
                "element": [
                    {"code": "Asma", "target": [{"code": "195967001", "display": "Asthma"}]},
                ],
            },
        ],
    }
)


def test_equivalent_equal_and_wider_map() -> None:
    translator = Translator(SPANISH)
    t2dm = translator.translate("Diabetes mellitus tipo 2")
    assert t2dm.coding is not None
    assert (t2dm.coding.system, t2dm.coding.code) == (ICD10, "E11")
    assert t2dm.equivalence == "equivalent"
    assert translator.translate("Hipertensión esencial").coding.code == "I10"  # type: ignore[union-attr]
    assert translator.translate("Diabetes tipo 2 con cetoacidosis").equivalence == "wider"


def test_narrower_maps_only_when_accepted() -> None:
    refused = Translator(SPANISH).translate("Obesidad")
    assert refused.coding is None
    assert "equivalence narrower" in refused.reason
    accepted = Translator(SPANISH, accepted=frozenset({"equivalent", "narrower"}))
    assert accepted.translate("Obesidad").coding.code == "E66.01"  # type: ignore[union-attr]


def test_unmatched_and_disjoint_never_map_even_if_accepted() -> None:
    translator = Translator(SPANISH, accepted=frozenset({"unmatched", "disjoint", "equivalent"}))
    assert translator.translate("Gripe").coding is None
    # Disjoint to ICD-10 is skipped; the SNOMED group still maps asthma.
    asthma = translator.translate("Asma").coding
    assert asthma is not None
    assert (asthma.system, asthma.code) == (SNOMED, "195967001")


def test_labels_match_ignoring_case_spaces_and_unicode_form() -> None:
    translator = Translator(SPANISH)
    decomposed = "Hipertensio\u0301n  ESENCIAL "
    assert translator.translate(decomposed).coding.code == "I10"  # type: ignore[union-attr]
    assert normalize_label("Ärztlich  Ab") == normalize_label("ärztlich ab")


def test_unknown_codes_say_so_and_source_system_filters_groups() -> None:
    assert (
        Translator(SPANISH).translate("Varicela").reason == "'Varicela' is not in the concept map"
    )
    other = Translator(SPANISH, source_system="urn:example:other")
    assert other.translate("Asma").coding is None


def test_targets_lists_what_the_map_can_produce() -> None:
    codes = {(c.system, c.code) for c in Translator(SPANISH).targets()}
    assert codes == {(ICD10, "E11"), (ICD10, "I10"), (SNOMED, "195967001")}


def test_a_fhir_conceptmap_json_file_is_read_as_is() -> None:
    resource = json.loads((DATA / "fr_measures.conceptmap.json").read_text(encoding="utf-8"))
    concept_map = ConceptMap.model_validate(resource)
    assert concept_map.name == "FrSiteMesures"
    coding = Translator(concept_map).translate("glycémie").coding
    assert coding is not None
    assert coding.code == "2345-7"


# -- cell readers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decimal", "thousands", "expected"),
    [
        ("37.5", ".", None, 37.5),
        ("37,5", ",", None, 37.5),
        (" -1,25 ", ",", None, -1.25),
        ("1.234,5", ",", ".", 1234.5),
        ("1,234.5", ".", ",", 1234.5),
        ("1e3", ".", None, 1000.0),
        (72, ".", None, 72.0),
        (36.6, ",", None, 36.6),
    ],
)
def test_numbers(text: object, decimal: str, thousands: str | None, expected: float) -> None:
    assert parse_number(text, decimal=decimal, thousands=thousands) == expected


@pytest.mark.parametrize(
    ("text", "decimal", "message"),
    [
        ("37.5", ",", "has a '.', but this source writes decimals with ','"),
        ("37,5", ".", "is not a number (decimal mark '.')"),
        ("abc", ".", "is not a number"),
        ("nan", ".", "is not a number"),
        (float("inf"), ".", "is not a finite number"),
        (True, ".", "boolean"),
        ("1 000", ".", "is not a number"),
    ],
)
def test_unreadable_numbers(text: object, decimal: str, message: str) -> None:
    failure = parse_number(text, decimal=decimal)
    assert isinstance(failure, Failure)
    assert failure.kind == "unparseable_number"
    assert message in failure.message


BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "formats", "zone", "utc"),
    [
        ("05.03.2024 14:30", ["%d.%m.%Y %H:%M"], BERLIN, datetime(2024, 3, 5, 13, 30)),
        ("02.04.2024 09:45", ["%d.%m.%Y %H:%M"], BERLIN, datetime(2024, 4, 2, 7, 45)),
        ("03/12/2024 10:00", ["%m/%d/%Y %H:%M"], NEW_YORK, datetime(2024, 3, 12, 14, 0)),
        ("03/05/2024 08:30", ["%m/%d/%Y %H:%M"], NEW_YORK, datetime(2024, 3, 5, 13, 30)),
        ("2024-03-05T14:30:00+01:00", ["iso"], NEW_YORK, datetime(2024, 3, 5, 13, 30)),
        ("2024-03-05T13:30:00Z", ["iso"], BERLIN, datetime(2024, 3, 5, 13, 30)),
        ("2024-03-05", ["%d.%m.%Y", "iso"], BERLIN, datetime(2024, 3, 4, 23, 0)),
        # The repeated autumn hour is read as its first occurrence (summer time).
        ("2024-10-27 02:30", ["iso"], BERLIN, datetime(2024, 10, 27, 0, 30)),
    ],
)
def test_datetimes_in_the_source_zone_become_utc(
    text: str, formats: list[str], zone: ZoneInfo, utc: datetime
) -> None:
    assert parse_datetime(text, formats, zone) == utc.replace(tzinfo=UTC)


def test_datetime_objects_are_accepted() -> None:
    naive = datetime(2024, 3, 5, 14, 30)
    assert parse_datetime(naive, [], BERLIN) == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)
    aware = datetime(2024, 3, 5, 9, 30, tzinfo=timezone(timedelta(hours=-4)))
    assert parse_datetime(aware, [], BERLIN) == datetime(2024, 3, 5, 13, 30, tzinfo=UTC)
    assert parse_datetime(date(2024, 3, 5), [], UTC) == datetime(2024, 3, 5, tzinfo=UTC)


def test_bad_and_nonexistent_times() -> None:
    bad = parse_datetime("31.02.2024 10:00", ["%d.%m.%Y %H:%M"], BERLIN)
    assert isinstance(bad, Failure)
    assert bad.kind == "unparseable_date"
    assert "matches none of the date formats ['%d.%m.%Y %H:%M']" in bad.message
    gap = parse_datetime("10.03.2024 02:30", ["%d.%m.%Y %H:%M"], NEW_YORK)
    assert isinstance(gap, Failure)
    assert gap.kind == "nonexistent_time"
    assert "America/New_York" in gap.message
    edge = parse_datetime("9999-12-31 23:00", ["iso"], NEW_YORK)
    assert isinstance(edge, Failure)
    assert "outside the range of dates" in edge.message


def test_dates_day_first_and_month_first() -> None:
    assert parse_date("03.04.1956", ["%d.%m.%Y"]) == date(1956, 4, 3)
    assert parse_date("04/03/1956", ["%m/%d/%Y"]) == date(1956, 4, 3)
    assert parse_date("03/04/1956", ["%d/%m/%Y"]) == date(1956, 4, 3)
    assert parse_date("1956-04-03", ["iso"]) == date(1956, 4, 3)
    assert parse_date(datetime(1956, 4, 3, 12), []) == date(1956, 4, 3)
    failure = parse_date("13/13/1956", ["%m/%d/%Y", "%d/%m/%Y"])
    assert isinstance(failure, Failure)
    assert failure.kind == "unparseable_date"


def test_labels_in_other_languages() -> None:
    labels = {normalize_label(k): v for k, v in {"Männlich": "male", "femme": "female"}.items()}
    assert translate_label("MÄNNLICH", labels, "gender") == "male"
    assert translate_label(" Femme", labels, "gender") == "female"
    failure = translate_label("divers", labels, "gender")
    assert isinstance(failure, Failure)
    assert failure.kind == "unmapped_code"
