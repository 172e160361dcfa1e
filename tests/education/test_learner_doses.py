"""Doses typed by a learner: their number format and units, the action's range, refusals."""

from __future__ import annotations

import pytest

from healthtwin.education.case import load_case
from healthtwin.education.i18n import Localizer, supported_locales
from healthtwin.education.learner_doses import canonical_dose, typed_number
from healthtwin.education.learner_errors import (
    ERR_DOSE_OUT_OF_RANGE,
    ERR_NO_DOSE,
    LearnerError,
)

CASE = load_case("hypoglycaemia")


@pytest.mark.parametrize(("locale", "typed"), [("de", "12,5"), ("fr", "12,5"), ("en", "12.5")])
def test_a_dose_typed_in_the_locales_format_is_read(locale: str, typed: str) -> None:
    assert canonical_dose(Localizer(locale), CASE, "give_dextrose_iv", typed) == 12.5


@pytest.mark.parametrize(("locale", "typed"), [("de", "12.5"), ("en", "12,5"), ("en", "abc")])
def test_a_dose_typed_the_wrong_way_for_the_locale_is_refused(locale: str, typed: str) -> None:
    with pytest.raises(LearnerError) as caught:
        canonical_dose(Localizer(locale), CASE, "give_dextrose_iv", typed)
    assert repr(typed) in str(caught.value)


def test_a_number_is_taken_as_it_is() -> None:
    assert canonical_dose(Localizer("de"), CASE, "give_glucagon_im", 0.5) == 0.5


@pytest.mark.parametrize("dose", [4.9, 30.5, "31"])
def test_a_dose_outside_the_range_is_refused_with_the_range(dose: float | str) -> None:
    with pytest.raises(LearnerError) as caught:
        canonical_dose(Localizer("en"), CASE, "give_dextrose_iv", dose)
    error = caught.value
    assert error.msgid == ERR_DOSE_OUT_OF_RANGE
    params = error.plain_params()
    assert (params["low"], params["high"]) == (
        {"value": 5.0, "unit": "g"},
        {"value": 30.0, "unit": "g"},
    )
    # Rendered in the learner's language and number format.
    assert "5" in Localizer("de").render_error(error)


def test_the_range_edges_pass_and_are_not_moved() -> None:
    loc = Localizer("en")
    assert canonical_dose(loc, CASE, "give_dextrose_iv", 5) == 5.0
    assert canonical_dose(loc, CASE, "give_dextrose_iv", "30") == 30.0


def test_a_dose_for_an_action_without_one_is_refused() -> None:
    no_dose = next(a for a in load_case("septic_shock").actions if a.dose is None)
    with pytest.raises(LearnerError) as caught:
        canonical_dose(Localizer("en"), load_case("septic_shock"), no_dose.id, "1")
    assert caught.value.msgid == ERR_NO_DOSE


def test_an_unknown_action_or_no_dose_passes_to_the_engine() -> None:
    loc = Localizer("en")
    assert canonical_dose(loc, CASE, "no_such_action", "1") is None
    assert canonical_dose(loc, CASE, "give_dextrose_iv", None) is None


@pytest.mark.parametrize("locale", supported_locales())
@pytest.mark.parametrize("value", [5.0, 12.5, 15.0, 22.25, 30.0])
def test_a_typed_default_reads_back_as_itself(locale: str, value: float) -> None:
    loc = Localizer(locale)
    typed = typed_number(loc, value)
    assert not set(typed) & {" ", "\u00a0", "\u202f"}, typed
    assert canonical_dose(loc, CASE, "give_dextrose_iv", typed) == pytest.approx(value)
