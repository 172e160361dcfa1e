"""A recommendation that reports each plan's forecast is the one made without reports."""

from __future__ import annotations

import json

from healthtwin.scenarios.recommendations import plan_meal_bolus


def test_plan_by_plan_forecasts_give_the_same_recommendation() -> None:
    def plan() -> object:
        return plan_meal_bolus("adult#001", 40.0, boluses=[0.0, 2.0, 4.0], hours=1.0, members=8)

    reports: list[tuple[int, int]] = []
    counted = plan().run(on_progress=lambda d, t: reports.append((d, t)))  # type: ignore[attr-defined]
    plain = plan().run()  # type: ignore[attr-defined]
    assert reports == [(1, 3), (2, 3), (3, 3)]
    same = json.dumps(counted.to_dict(), default=float, sort_keys=True)
    assert same == json.dumps(plain.to_dict(), default=float, sort_keys=True)
