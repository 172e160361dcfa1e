"""Refused moves as message ids with parameters: raised by the engine, read in any locale."""

from __future__ import annotations

import functools
import math
import re

import pytest

from healthtwin.education.case import Case, load_case
from healthtwin.education.engine import Session
from healthtwin.education.i18n import Localizer, placeholders, supported_locales
from healthtwin.education.learner_errors import (
    ERR_ACTION_NOT_YET,
    ERR_DOSE_NOT_A_NUMBER,
    ERR_DOSE_OUT_OF_RANGE,
    ERR_ENDED_DIED,
    ERR_ENDED_TIME,
    ERR_INFO_NEEDS,
    ERR_INFO_NOT_YET,
    ERR_MINUTES_NOT_POSITIVE,
    ERR_NO_DOSE,
    ERR_NOT_A_NUMBER,
    ERR_NOT_A_NUMBER_HINT,
    ERR_NOT_FINITE,
    ERR_SESSION_CLOSED,
    ERR_UNKNOWN_ACTION,
    ERR_UNKNOWN_INFO,
    LEARNER_MESSAGES,
    LearnerConflictError,
    LearnerError,
    LearnerMessageError,
)
from healthtwin.education.record import Quantity
from healthtwin.errors import ConflictError, InvalidInputError, InvalidParameterError


@functools.cache
def _loc(locale: str) -> Localizer:
    return Localizer(locale)


@functools.cache
def _case(case_id: str) -> Case:
    return load_case(case_id)


def _refusal(session: Session, move: str, *args: object) -> LearnerError:
    with pytest.raises(LearnerError) as info:
        getattr(session, move)(*args)
    return info.value


# --- the engine raises them ----------------------------------------------------------------


def test_an_out_of_range_dose_keeps_its_english_text_and_carries_canonical_params() -> None:
    err = _refusal(Session(_case("hypoglycaemia")), "act", "give_dextrose_iv", 500.0)
    assert isinstance(err, InvalidInputError)
    assert str(err) == (
        "dose 500 g for 'give_dextrose_iv' is outside the allowed range 5-30 g; "
        "give a dose in that range"
    )
    assert err.msgid == ERR_DOSE_OUT_OF_RANGE
    assert err.params["dose"] == Quantity(500.0, "g")
    assert err.plain_params()["low"] == {"value": 5.0, "unit": "g"}
    de = _loc("de").render_error(err)
    assert de.startswith("Die Dosis 500,0\u00a0g für „")
    assert de.endswith("von 5,0\u00a0g bis 30,0\u00a0g; geben Sie eine Dosis in diesem Bereich.")
    assert "Give intravenous glucose" not in de  # the label is translated too
    assert (
        _loc("zh")
        .render_error(err)
        .endswith("超出允许范围 5.0\u00a0g 至 30.0\u00a0g；请给予该范围内的剂量。")
    )


@pytest.mark.parametrize(
    ("move", "args", "msgid"),
    [
        ("act", ("give_dextrose_iv", math.nan), ERR_DOSE_NOT_A_NUMBER),
        ("act", ("give_magic",), ERR_UNKNOWN_ACTION),
        ("request", ("mri",), ERR_UNKNOWN_INFO),
        ("request", ("history_relative",), ERR_INFO_NEEDS),
        ("advance", (0,), ERR_MINUTES_NOT_POSITIVE),
        ("advance", (-2.5,), ERR_MINUTES_NOT_POSITIVE),
        ("advance", (math.inf,), ERR_MINUTES_NOT_POSITIVE),
    ],
)
def test_each_refused_move_has_its_message_id(
    move: str, args: tuple[object, ...], msgid: str
) -> None:
    session = Session(_case("hypoglycaemia"))
    err = _refusal(session, move, *args)
    assert err.msgid == msgid
    for locale in supported_locales():
        text = _loc(locale).render_error(err)
        assert text
        assert "{" not in text
    assert session.record().actions == ()  # nothing refused was recorded


def test_an_action_that_takes_no_dose_and_one_not_available_yet() -> None:
    case = _case("septic_shock")
    plain = next(a for a in case.actions if a.dose is None)
    err = _refusal(Session(case), "act", plain.id, 5.0)
    assert err.msgid == ERR_NO_DOSE
    assert str(err) == f"action {plain.id!r} takes no dose; got 5.0"
    later = plain.model_copy(update={"available_after_min": 15.0})
    delayed = case.model_copy(
        update={"actions": [later if a.id == plain.id else a for a in case.actions]}
    )
    err = _refusal(Session(delayed), "act", plain.id)
    assert err.msgid == ERR_ACTION_NOT_YET
    assert (err.params["from_min"], err.params["now_min"]) == (15.0, 0.0)
    assert "Minute 15" in _loc("de").render_error(err)
    late = next(i for i in case.information if i.available_after_min > 0)
    err = _refusal(Session(case), "request", late.id)
    assert err.msgid == ERR_INFO_NOT_YET
    assert late.id not in str(err.params["available"]).split(", ")


def test_a_finished_session_refuses_moves_saying_why() -> None:
    session = Session(_case("hypoglycaemia"))
    session.advance(_case("hypoglycaemia").duration_min)
    err = _refusal(session, "advance", 1.0)
    assert err.msgid in (ERR_ENDED_TIME, ERR_ENDED_DIED)
    assert err.msgid == (ERR_ENDED_DIED if session.dead else ERR_ENDED_TIME)
    assert str(err).startswith("the session has finished at minute")
    assert "Minute" in _loc("de").render_error(err)


# --- numbers typed the wrong way -------------------------------------------------------------


def test_numbers_typed_the_wrong_way_are_explained_in_the_learners_language() -> None:
    with pytest.raises(LearnerError) as info:
        _loc("de").parse_number("2.5")
    assert info.value.msgid == ERR_NOT_A_NUMBER_HINT
    assert info.value.params["suggestion"] == "2,5"
    assert _loc("de").render_error(info.value) == (
        "„2.5“ ist keine Zahl in der Schreibweise Ihrer Sprache (Dezimaltrennzeichen „,“); "
        "meinten Sie „2,5“?"
    )
    with pytest.raises(LearnerError) as info:
        _loc("zh").parse_number("viel")
    assert info.value.msgid == ERR_NOT_A_NUMBER
    assert "“viel”" in _loc("zh").render_error(info.value)
    with pytest.raises(LearnerError) as info:
        _loc("en").parse_number("1e400")
    assert info.value.msgid == ERR_NOT_FINITE
    assert str(info.value) == "'1e400' is not a finite number; type a plain value"


# --- the error classes -----------------------------------------------------------------------


def _params_for(msgid: str) -> dict[str, str | float | Quantity]:
    values: dict[str, str | float | Quantity] = {
        "dose": Quantity(2.5, "mg"),
        "low": Quantity(0.5, "mg"),
        "high": Quantity(1.0, "mg"),
        "from_min": 12.5,
        "now_min": 3.0,
        "minute": 60.0,
        "minutes": -1.0,
    }
    return {key: values.get(key, f"x_{key}") for key in placeholders(msgid)}


@pytest.mark.parametrize("msgid", LEARNER_MESSAGES)
def test_every_message_renders_in_every_language(msgid: str) -> None:
    err = LearnerError(msgid, _params_for(msgid))
    texts = {locale: _loc(locale).render_error(err) for locale in supported_locales()}
    assert texts["en"] == str(err).replace("2.5 mg", "2.5\u00a0mg").replace(
        "0.5 mg", "0.5\u00a0mg"
    ).replace("1 mg", "1.0\u00a0mg")
    for locale, text in texts.items():
        assert not re.search(r"\{\w+\}", text), (locale, text)
        if locale != "en":
            assert text != texts["en"], locale
    if "{dose}" in msgid:
        assert "2,5\u00a0mg" in texts["de"]
        assert "2,5\u00a0mg" in texts["fr"]


def test_only_registered_message_ids_are_accepted() -> None:
    with pytest.raises(InvalidParameterError, match="LEARNER_MESSAGES"):
        LearnerError("Something no catalog has.")


def test_a_conflict_is_a_conflict_error_with_the_same_text_machinery() -> None:
    err = LearnerConflictError(ERR_SESSION_CLOSED, {"report": "/r"}, english="ended; see /r")
    assert isinstance(err, ConflictError)
    assert isinstance(err, LearnerMessageError)
    assert not isinstance(err, InvalidInputError)
    assert str(err) == "ended; see /r"
    assert _loc("es").render_error(err) == (
        "Esta sesión de entrenamiento ha terminado; lea su informe en /r."
    )
