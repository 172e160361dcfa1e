"""Forecast accuracy metrics: RMSE, MARD and the Clarke error grid zones.

The zone boundaries are checked with points just either side of every boundary line of
the grid (Clarke et al., Diabetes Care 1987, Fig. 1), labelled by hand from the figure,
and on a dense random sample against a second formulation written the other way round
(methcomp's: start from B and let E, D, C, then A override), which agrees everywhere
except exactly on boundary lines.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_percentage_error, root_mean_squared_error

from healthtwin.errors import InvalidInputError, ShapeError
from healthtwin.prognosis.glucose_metrics import (
    CLARKE_ZONES,
    clarke_zone_percentages,
    clarke_zones,
    forecast_accuracy,
    mard,
    rmse,
)

# (reference, prediction, zone): pairs 1 mg/dL either side of each boundary line.
BOTH_SIDES = [
    # A/B: the +20 % line p = 1.2 r and the -20 % line p = 0.8 r
    (100, 119, "A"),
    (100, 121, "B"),
    (200, 239, "A"),
    (200, 241, "B"),
    (100, 81, "A"),
    (100, 79, "B"),
    (200, 161, "A"),
    (200, 159, "B"),
    # A/D: the +20 % line where it bounds the missed-hypoglycaemia zone
    (65, 77, "A"),
    (65, 79, "D"),
    # A/D: the top of the hypoglycaemic box, p = 70 (r < 175/3)
    (50, 69, "A"),
    (50, 71, "D"),
    # A/B: the right side of the hypoglycaemic box, r = 70
    (69, 50, "A"),
    (71, 50, "B"),
    # D/E: p = 180 above a hypoglycaemic reference
    (50, 179, "D"),
    (50, 181, "E"),
    # E/C and D/B: r = 70 above the A zone
    (69, 200, "E"),
    (71, 200, "C"),
    (69, 100, "D"),
    (71, 100, "B"),
    # E/B: p = 70 below a hyperglycaemic reference
    (200, 69, "E"),
    (200, 71, "B"),
    # C/E: r = 180 below p = 70
    (179, 60, "C"),
    (181, 60, "E"),
    # B/C: the upper over-correction line p = r + 110, and its end at r = 290
    (100, 209, "B"),
    (100, 211, "C"),
    (289, 400, "C"),
    (291, 400, "B"),
    # B/C: the lower over-correction line p = 7/5 (r - 130), and its start at r = 130
    (150, 27, "C"),
    (150, 29, "B"),
    (129, 0.5, "B"),
    (131, 0.5, "C"),
    # B/D: r = 240 and p = 180 around the missed-hyperglycaemia zone; D/E at p = 70
    (239, 150, "B"),
    (241, 150, "D"),
    (300, 179, "D"),
    (300, 181, "B"),
    (300, 71, "D"),
    (300, 69, "E"),
]

# Pairs exactly on a boundary: every region is closed, ties resolved in the order A, E, C, D.
ON_BOUNDARY = [
    (100, 120, "A"),
    (100, 80, "A"),
    (50, 70, "A"),
    (70, 70, "A"),
    (180, 70, "E"),
    (240, 70, "E"),
    (70, 180, "E"),
    (100, 210, "C"),
    (290, 400, "C"),
    (150, 28, "C"),
    (240, 180, "D"),
    (70, 100, "D"),
]


def _letters(ref: list[float], pred: list[float]) -> list[str]:
    return [CLARKE_ZONES[c] for c in clarke_zones(ref, pred)]


@pytest.mark.parametrize(("ref", "pred", "zone"), BOTH_SIDES)
def test_points_either_side_of_each_boundary(ref: float, pred: float, zone: str) -> None:
    assert _letters([ref], [pred]) == [zone]


@pytest.mark.parametrize(("ref", "pred", "zone"), ON_BOUNDARY)
def test_points_on_a_boundary_follow_the_documented_convention(
    ref: float, pred: float, zone: str
) -> None:
    assert _letters([ref], [pred]) == [zone]


def test_every_zone_is_reached_and_the_call_is_vectorized() -> None:
    ref = [r for r, _, _ in BOTH_SIDES]
    pred = [p for _, p, _ in BOTH_SIDES]
    assert _letters(ref, pred) == [z for _, _, z in BOTH_SIDES]
    assert set(_letters(ref, pred)) == set(CLARKE_ZONES)
    grid = clarke_zones(np.full((2, 3), 100.0), np.full((2, 3), 150.0))
    assert grid.shape == (6,)
    assert set(grid.tolist()) == {1}


def _override_reference(r: float, p: float) -> str:
    """The grid written the other way round: B unless E, D, C or A claims the point."""
    zone = "B"
    if (r <= 70 and p >= 180) or (r >= 180 and p <= 70):
        zone = "E"
    if (r < 70 or r > 240) and 70 <= p < 180:
        zone = "D"
    if (130 <= r <= 180 and p < 1.4 * (r - 130)) or (70 < r <= 290 and p > r + 110):
        zone = "C"
    if abs(p - r) <= 0.2 * r or (r < 70 and p < 70):
        zone = "A"
    return zone


def test_agrees_with_a_second_formulation_off_the_boundary_lines() -> None:
    rng = np.random.default_rng(7)
    ref, pred = rng.uniform(1.0, 400.0, 20_000), rng.uniform(0.0, 400.0, 20_000)
    expected = [_override_reference(r, p) for r, p in zip(ref, pred, strict=True)]
    got = [CLARKE_ZONES[c] for c in clarke_zones(ref, pred)]
    assert got == expected
    assert set(got) == set(CLARKE_ZONES)


def test_zone_percentages_count_the_zones() -> None:
    ref = [r for r, _, _ in BOTH_SIDES]
    pred = [p for _, p, _ in BOTH_SIDES]
    pct = clarke_zone_percentages(ref, pred)
    labels = [z for _, _, z in BOTH_SIDES]
    for zone in CLARKE_ZONES:
        assert pct[zone] == pytest.approx(100.0 * labels.count(zone) / len(labels))
    assert sum(pct.values()) == pytest.approx(100.0)


def test_rmse_and_mard_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    ref = rng.uniform(40.0, 400.0, 500)
    pred = ref + rng.normal(0.0, 20.0, 500)
    assert rmse(ref, pred) == pytest.approx(root_mean_squared_error(ref, pred), rel=1e-12)
    assert mard(ref, pred) == pytest.approx(
        100.0 * mean_absolute_percentage_error(ref, pred), rel=1e-12
    )
    acc = forecast_accuracy(ref, pred)
    assert acc.n_pairs == 500
    assert acc.rmse_mg_dl == rmse(ref, pred)
    assert acc.zone_ab_percent == pytest.approx(
        100.0 * np.isin(clarke_zones(ref, pred), [0, 1]).mean()
    )


def test_bad_inputs_say_what_is_wrong() -> None:
    with pytest.raises(ShapeError, match="same shape"):
        rmse([100.0, 120.0], [100.0])
    with pytest.raises(InvalidInputError, match="finite"):
        mard([100.0, np.nan], [100.0, 110.0])
    with pytest.raises(InvalidInputError, match="unit"):
        clarke_zones([5.5, 0.0], [5.0, 6.0])
    with pytest.raises(InvalidInputError, match="at least one"):
        forecast_accuracy([], [])
