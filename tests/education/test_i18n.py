"""The localisation layers: locales, units, numbers, drug names, culture and rendering."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from healthtwin.education import units
from healthtwin.education.culture import CULTURE_FIELDS, CultureProfile, culture_for
from healthtwin.education.drugs import load_drug_names
from healthtwin.education.i18n import (
    Localizer,
    placeholders,
    resolve_locale,
    supported_locales,
)
from healthtwin.education.record import Message, Quantity
from healthtwin.errors import InvalidInputError, NotFoundError, UnknownModelError

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "education"
LOCALES = ("en", "en_US", "de", "es", "fr", "fr_CA", "zh")


@functools.cache
def _localizer(locale: str) -> Localizer:
    return Localizer(locale)


@pytest.fixture(scope="module")
def localizers() -> dict[str, Localizer]:
    return {locale: _localizer(locale) for locale in LOCALES}


# --- locales -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "language", "glucose"),
    [
        ("de_DE", "de", "mg/dL"),
        ("de-AT", "de", "mg/dL"),
        ("zh_CN", "zh", "mmol/L"),
        ("zh_Hans", "zh", "mmol/L"),
        ("en_GB", "en", "mmol/L"),
        ("en_US", "en", "mg/dL"),
        ("es_MX", "es", "mg/dL"),
        ("fr_FR", "fr", "g/L"),
        ("fr_CA", "fr", "mmol/L"),
    ],
)
def test_region_tags_are_aliases_with_their_units(tag: str, language: str, glucose: str) -> None:
    choice = resolve_locale(tag)
    assert (choice.language, choice.units.glucose) == (language, glucose)


@pytest.mark.parametrize("tag", ["xx", "klingon", "ja", "zh_TW", "", "de_DE_bogus_1"])
def test_unknown_locale_error_lists_the_supported_ones(tag: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        Localizer(tag)
    for locale in supported_locales():
        assert locale in str(info.value)
    assert repr(tag) in str(info.value)


# --- units ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en", "2.2\u00a0mmol/L"),
        ("en_US", "40\u00a0mg/dL"),
        ("de", "40\u00a0mg/dl"),
        ("es", "40\u00a0mg/dL"),
        ("fr", "0,40\u00a0g/L"),
        ("fr_CA", "2,2\u00a0mmol/L"),
        ("zh", "2.2\u00a0mmol/L"),
    ],
)
def test_glucose_is_shown_in_the_locale_unit(
    localizers: dict[str, Localizer], locale: str, expected: str
) -> None:
    # 2.2 mmol/L x 18.016 = 39.6 mg/dL = 0.396 g/L
    assert localizers[locale].quantity(Quantity(2.2, "mmol/L"), "glucose_mmol_per_l") == expected


def test_other_mmol_quantities_are_never_converted(localizers: dict[str, Localizer]) -> None:
    for loc in localizers.values():
        text = loc.quantity(Quantity(4.5, "mmol/L"), "potassium_mmol_per_l")
        assert text.startswith(("4.5", "4,5"))
        assert text.endswith(("mmol/L", "mmol/l"))
        # Without a measure name a mmol/L value cannot be glucose: left as it is.
        assert loc.quantity(Quantity(4.5, "mmol/L")).startswith(("4.5", "4,5"))


def test_temperature_is_fahrenheit_only_in_the_us(localizers: dict[str, Localizer]) -> None:
    assert localizers["en_US"].quantity(Quantity(38.5, "degC"), "temp_c") == "101.3\u00a0°F"
    for locale in ("en", "de", "es", "fr", "zh"):
        assert localizers[locale].quantity(Quantity(38.5, "degC"), "temp_c").endswith("°C")


def test_unit_override_beats_the_locale(localizers: dict[str, Localizer]) -> None:
    assert Localizer("de", units="si").quantity(Quantity(2.2, "mmol/L"), "glucose") == (
        "2,2\u00a0mmol/l"
    )
    assert Localizer("zh", units="conventional").unit("glucose") == "mg/dL"
    assert Localizer("fr", units="conventional").unit("glucose") == "g/L"
    assert Localizer("en_US", units="conventional").unit("temp_c") == "°F"
    assert Localizer("en_US", units="si").unit("temp_c") == "°C"
    with pytest.raises(InvalidInputError, match="si, conventional"):
        Localizer("en", units="imperial")


def test_glucose_conversion_factor() -> None:
    # 1 mmol/L glucose = 180.16 g/mol x 1 mmol/L = 18.016 mg/dL.
    assert units.to_local(1.0, "glucose", units.CONVENTIONAL) == pytest.approx(18.016)
    assert units.to_local(1.0, "glucose", units.FRENCH) == pytest.approx(0.18016)
    assert units.to_local(-40.0, "temperature", units.US) == pytest.approx(-40.0)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(LOCALES),
    st.sampled_from(["glucose_mmol_per_l", "temp_c", "map_mmhg", "lactate_mmol_per_l", "mg"]),
    st.floats(min_value=-50.0, max_value=2000.0, allow_nan=False),
)
def test_local_canonical_round_trip(locale: str, kind: str, local: float) -> None:
    loc = _localizer(locale)
    assert loc.to_local(loc.to_canonical(local, kind), kind) == pytest.approx(local, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(LOCALES),
    st.sampled_from(["glucose_mmol_per_l", "temp_c", "hr_per_min"]),
    st.floats(min_value=0.0, max_value=60.0, allow_nan=False),
)
def test_displayed_value_reads_back_within_rounding(locale: str, kind: str, x: float) -> None:
    """What a learner reads, typed back in, is the canonical value to the shown precision."""
    loc = _localizer(locale)
    unit = units.local_unit(kind, loc.units)
    shown = loc.number(loc.to_local(x, kind), unit.digits)
    back = loc.to_canonical(loc.parse_number(shown), kind)
    half_step = 0.5 * 10.0**-unit.digits / unit.scale
    assert abs(back - x) <= half_step * (1 + 1e-9)


def test_unknown_unit_kind_lists_the_known_ones(localizers: dict[str, Localizer]) -> None:
    with pytest.raises(InvalidInputError, match="glucose_mmol_per_l"):
        localizers["en"].to_canonical(1.0, "furlongs")


# --- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["de", "fr", "es"])
def test_comma_decimals_parse_in_continental_locales(locale: str) -> None:
    loc = Localizer(locale)
    assert loc.parse_number("2,5") == 2.5
    assert loc.parse_number(" -0,25 ") == -0.25
    assert loc.number(2.5) == "2,5"


@pytest.mark.parametrize("locale", ["de", "es"])
def test_a_dot_decimal_is_refused_not_read_as_thousands(locale: str) -> None:
    """'2.5' in German must never become 25 mg."""
    with pytest.raises(InvalidInputError, match="2,5"):
        Localizer(locale).parse_number("2.5")


def test_french_reads_a_dot_as_a_decimal_since_it_groups_with_spaces() -> None:
    assert Localizer("fr").parse_number("2.5") == 2.5


@pytest.mark.parametrize("locale", ["en", "en_US", "zh"])
def test_dot_decimals_parse_in_en_and_zh(locale: str) -> None:
    loc = Localizer(locale)
    assert loc.parse_number("2.5") == 2.5
    assert loc.number(2.5) == "2.5"
    with pytest.raises(InvalidInputError):
        loc.parse_number("2,5")


def test_grouping_and_garbage() -> None:
    assert Localizer("fr").parse_number("1 234,5") == 1234.5
    assert Localizer("fr").parse_number(Localizer("fr").number(1234.5)) == 1234.5
    assert Localizer("de").parse_number("1.234,5") == 1234.5
    for text in ("", "abc", "2,5,5", "NaN"):
        with pytest.raises(InvalidInputError):
            Localizer("en").parse_number(text)


# --- drugs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "generic_id", "name"),
    [
        ("en", "adrenaline", "adrenaline"),
        ("en_US", "adrenaline", "epinephrine"),
        ("en_US", "suxamethonium", "succinylcholine"),
        ("en_US", "paracetamol", "acetaminophen"),
        ("de", "noradrenaline", "Noradrenalin"),
        ("es", "suxamethonium", "suxametonio"),
        ("fr", "piperacillin_tazobactam", "pipéracilline/tazobactam"),
        ("zh", "propofol", "丙泊酚"),
        ("en", "tranexamic_acid", "tranexamic acid"),
        ("de", "tranexamic_acid", "Tranexamsäure"),
        ("es", "tranexamic_acid", "ácido tranexámico"),
        ("fr", "tranexamic_acid", "acide tranexamique"),
        ("zh", "tranexamic_acid", "氨甲环酸"),
        ("en", "red_cell_concentrate", "red cells"),
        ("en_US", "red_cell_concentrate", "red blood cells"),
        ("de", "red_cell_concentrate", "Erythrozytenkonzentrat"),
        ("es", "red_cell_concentrate", "concentrado de hematíes"),
        ("fr", "red_cell_concentrate", "concentré de globules rouges"),
        ("zh", "red_cell_concentrate", "悬浮红细胞"),
    ],
)
def test_drug_names_follow_the_locale(locale: str, generic_id: str, name: str) -> None:
    assert Localizer(locale).drug(generic_id) == name


def test_every_drug_has_every_column_and_unknown_ids_are_listed() -> None:
    table = load_drug_names()
    assert len(table.names) >= 20
    with pytest.raises(UnknownModelError, match="adrenaline"):
        table.name("unobtainium", "de")


# --- culture and rendering -----------------------------------------------------------------


def test_culture_profile_is_local_or_kept_foreign() -> None:
    case = SimpleNamespace(id="fixture_case", culture=SimpleNamespace(origin="en"))
    local = culture_for(case, "zh_CN", directory=FIXTURES / "cultures")
    foreign = culture_for(case, "zh_CN", keep_foreign=True, directory=FIXTURES / "cultures")
    assert (local.locale, local.name) == ("zh", "王建国")
    assert (foreign.locale, foreign.name) == ("en", "Mr Tom Hughes")
    with pytest.raises(NotFoundError, match="cultural profiles"):
        culture_for(SimpleNamespace(id="nope", culture=case.culture), "en", directory=FIXTURES)


def test_render_fills_quantities_numbers_drugs_and_culture(
    localizers: dict[str, Localizer],
) -> None:
    message = Message(
        "{name}: glucose {glucose_mmol_per_l} after {drug} {dose} at {minutes} min.",
        {
            "glucose_mmol_per_l": Quantity(5.0, "mmol/L"),
            "drug": "drug:dextrose",
            "dose": Quantity(15.0, "g"),
            "minutes": 12.0,
        },
        "result",
    )
    profile = CultureProfile("en", "Mr Tom Hughes", "his wife", "his lunch")
    text = localizers["en_US"].render(message, profile)
    assert text == "Mr Tom Hughes: glucose 90\u00a0mg/dL after dextrose 15.0\u00a0g at 12 min."
    neutral = localizers["en"].render(Message("{relative} is here; {name} is not."))
    assert neutral == "A relative is here; the patient is not."


def test_render_reports_a_missing_parameter(localizers: dict[str, Localizer]) -> None:
    with pytest.raises(InvalidInputError, match="glucose"):
        localizers["de"].render(Message("Glucose {glucose}."))


def test_culture_fields_are_the_placeholders_the_layer_fills() -> None:
    assert set(CULTURE_FIELDS) == placeholders("{name}{relative}{diet}")
    assert not math.isnan(Localizer("en").parse_number("1"))


# --- the shipped cases ---------------------------------------------------------------------

CASE_FILES = sorted(
    (Path(__file__).resolve().parents[2] / "src/healthtwin/education/cases").glob("*.yaml")
)


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_every_drug_and_dose_unit_of_a_case_is_localised(path: Path) -> None:
    doc = yaml.safe_load(path.read_text("utf-8"))
    for action in doc["actions"]:
        for locale in LOCALES:
            loc = _localizer(locale)
            if action.get("drug"):
                assert loc.drug(action["drug"]).strip()
            if action.get("dose"):
                unit = action["dose"]["unit"]
                assert loc.unit(unit)
                dose = float(action["dose"]["default"])
                assert loc.to_canonical(loc.to_local(dose, unit), unit) == pytest.approx(dose)


def test_a_case_kept_foreign_is_still_in_the_learners_language() -> None:
    case = SimpleNamespace(id="hypoglycaemia", culture=SimpleNamespace(origin="en"))
    zh = _localizer("zh")
    message = Message(
        "{relative} says {name} has had several lows at home recently and did not feel them coming."
    )
    foreign = zh.render(message, culture_for(case, "zh", keep_foreign=True))
    local = zh.render(message, culture_for(case, "zh"))
    assert foreign.startswith("她的女儿说，Mrs Margaret Evans")
    assert local.startswith("她的儿子说，李秀英女士")


def test_a_dose_smaller_than_the_units_last_digit_keeps_its_digits() -> None:
    """A typed 0,02 g is echoed as 0,02 g, not 0,0 g (issue 16)."""
    from healthtwin.education.record import Quantity

    de = Localizer("de")
    assert de.quantity(Quantity(0.02, "g")) == "0,02\u00a0g"
    assert de.quantity(Quantity(0.0, "g")) == "0,0\u00a0g"
    assert de.quantity(Quantity(3.4, "mmHg"), "cvp_mmhg") == "3\u00a0mmHg"


@pytest.mark.parametrize(
    ("language", "one", "five"),
    [
        ("en", "Result expected in 1 minute.", "Result expected in 5 minutes."),
        ("de", "Ergebnis in 1 Minute erwartet.", "Ergebnis in 5 Minuten erwartet."),
        ("fr", "Résultat attendu dans 1 minute.", "Résultat attendu dans 5 minutes."),
    ],
)
def test_counted_messages_take_the_languages_plural_form(
    language: str, one: str, five: str
) -> None:
    """No "1 minutes" (issue 16): counted messages go through ngettext."""
    from healthtwin.education.engine import MSG_RESULT_PENDING
    from healthtwin.education.record import Message

    loc = Localizer(language)
    assert loc.render(Message(MSG_RESULT_PENDING, {"wait_min": 1.0})) == one
    assert loc.render(Message(MSG_RESULT_PENDING, {"wait_min": 5.0})) == five
