"""The sepsis responder against the Responder contract and its own documented behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.education.case import load_case
from healthtwin.education.engine import Session
from healthtwin.education.responders import Responder, make_responder
from healthtwin.education.responders.sepsis import SepsisResponder
from healthtwin.errors import InvalidInputError, InvalidParameterError


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_registered_and_implements_the_protocol() -> None:
    r = make_responder("sepsis")
    assert isinstance(r, SepsisResponder)
    assert isinstance(r, Responder)
    s = r.initial({}, {}, _rng())
    assert set(r.measure(s)) == set(r.measures)
    assert all(np.isfinite(v) for v in r.measure(s).values())


def test_advance_is_deterministic_and_split_invariant() -> None:
    r = SepsisResponder()
    s = r.apply(r.initial({}, {}, _rng()), {"type": "fluid_bolus"}, 500.0, 0.0)
    one = r.measure(r.advance(s, 0.0, 10.0, _rng()))
    two = r.measure(r.advance(r.advance(s, 0.0, 3.0, _rng()), 3.0, 10.0, _rng()))
    again = r.measure(r.advance(s, 0.0, 10.0, _rng()))
    assert one == again
    for name in r.measures:
        assert two[name] == pytest.approx(one[name], rel=1e-9)


def test_fluid_bolus_is_delivered_in_full_and_then_stops() -> None:
    r = SepsisResponder()
    s0 = r.initial({}, {}, _rng())
    s = r.apply(s0, {"type": "fluid_bolus", "over_min": 10}, 1000.0, 0.0)
    s = r.advance(s, 0.0, 10.0, _rng())
    assert s.infusions == ()
    assert s.fluid_given_ml == 1000.0
    # Blood volume rose by less than the bolus: part has already left the circulation.
    assert 0.0 < s.blood_volume_ml - s0.blood_volume_ml < 1000.0


def test_antibiotics_lower_the_inflammatory_drive() -> None:
    r = SepsisResponder()
    s0 = r.initial({}, {}, _rng())
    treated = r.advance(r.apply(s0, {"type": "antibiotic"}, 4.5, 0.0), 0.0, 120.0, _rng())
    untreated = r.advance(s0, 0.0, 120.0, _rng())
    ineffective = r.apply(s0, {"type": "antibiotic", "effective": False}, 4.5, 0.0)
    assert treated.inflammation < 1.0 < untreated.inflammation
    assert ineffective.antibiotic_min == np.inf


def test_oxygen_raises_spo2() -> None:
    r = SepsisResponder()
    s0 = r.initial({}, {}, _rng())
    s = r.apply(s0, {"type": "oxygen", "fio2": 0.4}, None, 0.0)
    assert r.measure(s)["spo2_percent"] > r.measure(s0)["spo2_percent"] + 5.0


def test_event_worsens_infection() -> None:
    r = SepsisResponder()
    s0 = r.initial({}, {}, _rng())
    s = r.event(s0, {"event": "infection_worsens", "factor": 1.5}, 10.0)
    assert s.inflammation == pytest.approx(1.5)
    assert r.measure(s)["map_mmhg"] < r.measure(s0)["map_mmhg"]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda r, s: r.apply(s, {"type": "dance"}, None, 0.0), "valid types"),
        (lambda r, s: r.apply(s, {"type": "fluid_bolus"}, None, 0.0), "needs a dose"),
        (lambda r, s: r.apply(s, {"type": "noradrenaline_rate"}, 9.0, 0.0), r"\[0.0, 3.0\]"),
        (lambda r, s: r.apply(s, {"type": "oxygen", "fio2": 2.0}, None, 0.0), "fio2"),
        (lambda r, s: r.event(s, {"event": "meteor"}, 0.0), "valid events"),
        (lambda r, s: r.advance(s, 5.0, 1.0, _rng()), "backwards"),
        (lambda r, s: r.initial({}, {"volume": 1}, _rng()), "initial_state"),
    ],
)
def test_bad_inputs_are_rejected_with_a_reason(call: object, match: str) -> None:
    r = SepsisResponder()
    s = r.initial({}, {}, _rng())
    with pytest.raises(InvalidInputError, match=match):
        call(r, s)  # type: ignore[operator]


def test_unknown_parameter_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidParameterError, match="valid names: weight_kg"):
        SepsisResponder().initial({"wieght_kg": 70.0}, {}, _rng())


def test_sample_parameters_reproducible_and_respects_cv() -> None:
    r = SepsisResponder()
    a = r.sample_parameters({"capillary_leak_ml_per_min_cv": 0.0}, np.random.default_rng(3))
    b = r.sample_parameters({"capillary_leak_ml_per_min_cv": 0.0}, np.random.default_rng(3))
    assert a == b
    assert a["capillary_leak_ml_per_min"] == 4.0
    assert a["infection_growth_per_min"] != 0.006
    assert all(v > 0 for k, v in a.items() if not k.endswith("_cv"))


def test_shipped_case_plays_through_the_engine() -> None:
    case = load_case("septic_shock")
    untreated = Session(case, seed=0)
    untreated.start()
    untreated.advance(30.0)
    session = Session(case, seed=0)
    session.start()
    session.act("give_crystalloid_bolus", 1000.0)
    session.act("give_antibiotics")
    session.advance(30.0)
    assert session.vitals()["map_mmhg"].value > untreated.vitals()["map_mmhg"].value + 3.0
    session.advance(case.duration_min)
    assert session.finished
    assert not session.dead
    assert session.record().measures["map_mmhg"].shape == session.record().times_min.shape


def test_haemorrhage_event_formats_and_haemostasis() -> None:
    r = SepsisResponder()
    s0 = r.initial({}, {"inflammation": 0.0}, _rng())
    timed = r.event(s0, {"event": "haemorrhage", "volume_ml": 500.0, "over_min": 10.0}, 0.0)
    rate = r.event(s0, {"event": "haemorrhage", "rate_ml_per_min": 50.0, "over_min": 10.0}, 0.0)
    # volume_ml over over_min and rate_ml_per_min for over_min lose the same blood.
    a, b = r.advance(timed, 0.0, 30.0, _rng()), r.advance(rate, 0.0, 30.0, _rng())
    assert a.bled_ml == pytest.approx(500.0)
    assert b.bled_ml == pytest.approx(500.0)
    # until: haemostasis goes on past over_min, slowing as the pressure falls ...
    open_ = r.event(
        s0, {"event": "haemorrhage", "rate_ml_per_min": 50.0, "until": "haemostasis"}, 0
    )
    c = r.advance(open_, 0.0, 30.0, _rng())
    assert 500.0 < c.bled_ml < 30 * 50.0 * 1.5
    # ... until haemostasis stops it.
    stopped = r.apply(open_, {"type": "haemostasis"}, None, 0.0)
    assert r.advance(stopped, 0.0, 30.0, _rng()).bled_ml == pytest.approx(0.0)
    for bad in ({"volume_ml": 500.0, "rate_ml_per_min": 10.0}, {"rate_ml_per_min": -1.0},
                {"volume_ml": 500.0, "until": "dawn"}, {}):  # fmt: skip
        with pytest.raises(InvalidInputError):
            r.event(s0, {"event": "haemorrhage", **bad}, 0.0)


def test_blood_and_crystalloid_are_measured_and_crystalloid_dilutes() -> None:
    r = SepsisResponder()
    s0 = r.initial({}, {"inflammation": 0.0, "blood_loss_ml": 1000.0}, _rng())
    fluid = r.apply(s0, {"type": "fluid_bolus"}, 1000.0, 0.0)
    blood = r.apply(s0, {"type": "blood_transfusion"}, 1000.0, 0.0)
    f, b = r.measure(r.advance(fluid, 0, 60, _rng())), r.measure(r.advance(blood, 0, 60, _rng()))
    assert f["crystalloid_given_ml"] == 1000.0
    assert f["blood_given_ml"] == 0.0
    assert b["blood_given_ml"] == 1000.0
    assert b["crystalloid_given_ml"] == 0.0
    assert f["haemoglobin_g_per_dl"] < 11.0 < b["haemoglobin_g_per_dl"]
    assert f["lactate_mmol_per_l"] > b["lactate_mmol_per_l"]


def test_sepsis_onset_brings_an_infection_to_a_well_patient() -> None:
    r = SepsisResponder()
    well = r.initial({}, {"inflammation": 0.0}, _rng())
    onset = r.event(well, {"event": "sepsis_onset"}, 10.0)
    assert onset.inflammation == pytest.approx(1.0)
    after, control = r.advance(onset, 10.0, 70.0, _rng()), r.advance(well, 10.0, 70.0, _rng())
    assert r.measure(after)["map_mmhg"] < r.measure(control)["map_mmhg"] - 5.0
    assert r.measure(after)["lactate_mmol_per_l"] > r.measure(control)["lactate_mmol_per_l"]
    # an infection already worse than the onset's drive is left as it is
    worse = r.event(r.initial({}, {"inflammation": 2.0}, _rng()), {"event": "sepsis_onset"}, 0.0)
    assert worse.inflammation == pytest.approx(2.0)
    with pytest.raises(InvalidInputError, match="drive"):
        r.event(well, {"event": "sepsis_onset", "drive": 0.0}, 0.0)
