"""Meal-bolus recommendations from a synced twin, and their human oversight (no CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthtwin.errors import ConsentError, InvalidInputError
from healthtwin.physiology import load_patient
from healthtwin.scenarios.recommendation_oversight import (
    RECOMMENDER,
    propose_recommendation,
    record_recommendation_provenance,
    require_recommender_enabled,
)
from healthtwin.scenarios.recommendations import BOLUS_FACTORS, plan_meal_bolus
from healthtwin.store import open_store


def test_default_candidates_scale_the_carb_ratio_bolus() -> None:
    plan = plan_meal_bolus("adult#001", 60.0, members=8)
    usual = 60.0 / load_patient("adult#001").carb_ratio_g_per_u
    assert plan.doses_u == (0.0, *(round(f * usual, 1) for f in BOLUS_FACTORS))
    assert plan_meal_bolus("adult#001", 60.0, boluses=[1, 2], members=8).doses_u == (1.0, 2.0)


@pytest.mark.parametrize(
    "kwargs",
    [{"members": 4}, {"hours": 0.0}, {"hours": 25.0}, {"meal_g": -1.0}, {"max_tbr": 101.0}],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    settings = {"meal_g": 60.0, "members": 8, **kwargs}
    with pytest.raises(InvalidInputError, match="need --members >= 8"):
        plan_meal_bolus(
            "adult#001",
            settings["meal_g"],
            members=int(settings["members"]),
            hours=settings.get("hours", 6.0),
            max_tbr=settings.get("max_tbr", 4.0),
        )


def test_readings_move_the_twin_to_the_last_one(tmp_path: Path) -> None:
    cgm = tmp_path / "cgm.csv"
    cgm.write_text("t_min,glucose_mg_dl\n0,130\n5,132\n10,135\n")
    plan = plan_meal_bolus("adult#001", 30.0, observations=cgm, members=8)
    assert plan.twin.t == 10.0
    early = tmp_path / "early.csv"
    early.write_text("t_min,glucose_mg_dl\n-5,130\n")
    with pytest.raises(InvalidInputError, match=">= 0 min"):
        plan_meal_bolus("adult#001", 30.0, observations=early, members=8)


def test_a_large_meal_gets_a_bolus_over_none() -> None:
    plan = plan_meal_bolus("adult#001", 80.0, boluses=[0.0, 8.0], hours=4.0, members=8)
    result = plan.run().to_dict()
    assessed = {a["plan"]: a for a in result["plans"]}
    assert set(assessed) == {"bolus 0 U", "bolus 8 U"}
    # Without insulin 80 g of carbohydrate spends hours above 180 mg/dL.
    tir = {name: a["objective"]["mean"] for name, a in assessed.items()}
    assert tir["bolus 8 U"] > tir["bolus 0 U"]
    assert result["chosen"] == "bolus 8 U"


def test_proposals_wait_for_the_kill_switch_and_carry_their_provenance(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'twin.db'}"
    require_recommender_enabled(db)
    made = propose_recommendation(db, {"chosen": "bolus 4 U", "x": np.float64(1.5)},
                                  patient="adult#001", actor="cli")  # fmt: skip
    inputs = {"urn:file:cgm.csv": b"t_min,glucose_mg_dl\n0,130\n"}
    record_recommendation_provenance(db, made, {"chosen": "bolus 4 U"}, {"meal_g": 60.0},
                                     inputs, actor="cli")  # fmt: skip
    with open_store(db) as store:
        [proposed] = store.oversight().recommendations()
        provenance = store.read("Provenance", f"prov-{made}")
        store.oversight().disable(RECOMMENDER, "*", reason="review", actor="cmo")
    assert proposed.id == made
    assert proposed.status == "proposed"
    assert proposed.value["virtual_patient"] == "adult#001"
    assert proposed.value["x"] == 1.5
    assert provenance["target"][0]["reference"] == f"GuidanceResponse/{made}"
    assert "signature" not in provenance
    with pytest.raises(ConsentError, match=RECOMMENDER):
        require_recommender_enabled(db)
