"""Drug presets: derived constants recomputed by hand from the papers' equations."""

from __future__ import annotations

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError, UnknownModelError
from healthtwin.physiology.pkpd import Covariates, james_lbm_kg, parse_covariates, preset
from healthtwin.physiology.pkpd.presets import marsh, marsh_modified, minto, schnider

# (age yr, weight kg, height cm, sex)
PATIENTS = [
    (53, 77, 177, "male"),
    (25, 60, 165, "female"),
    (80, 90, 180, "male"),
    (40, 55, 158, "female"),
]


def _lbm(weight: float, height: float, sex: str) -> float:
    if sex == "male":
        return 1.1 * weight - 128 * (weight / height) ** 2
    return 1.07 * weight - 148 * (weight / height) ** 2


def _micro(v1: float, v2: float, v3: float, cl1: float, cl2: float, cl3: float) -> list[float]:
    return [v1, cl1 / v1, cl2 / v1, cl2 / v2, cl3 / v1, cl3 / v3]


def _got(p: object) -> list[float]:
    return [float(getattr(p, k)[0]) for k in ("v1_l", "k10", "k12", "k21", "k13", "k31")]


@pytest.mark.parametrize(("age", "weight", "height", "sex"), PATIENTS)
def test_schnider_by_hand(age: float, weight: float, height: float, sex: str) -> None:
    cov = Covariates(age_yr=age, weight_kg=weight, height_cm=height, sex=sex)
    lbm = _lbm(weight, height, sex)
    assert james_lbm_kg(cov)[0] == pytest.approx(lbm, rel=1e-14)
    v2 = 18.9 - 0.391 * (age - 53)
    cl1 = 1.89 + 0.0456 * (weight - 77) - 0.0681 * (lbm - 59) + 0.0264 * (height - 177)
    cl2 = 1.29 - 0.024 * (age - 53)
    p = schnider(cov)
    assert _got(p) == pytest.approx(_micro(4.27, v2, 238, cl1, cl2, 0.836), rel=1e-13)
    assert float(p.ke0[0]) == 0.456
    assert (float(p.e0[0]), float(p.emax[0]), float(p.ec50[0]), float(p.gamma[0])) == (
        97.4,
        -97.4,
        4.47,
        1.43,
    )


@pytest.mark.parametrize(("age", "weight", "height", "sex"), PATIENTS)
def test_marsh_by_hand(age: float, weight: float, height: float, sex: str) -> None:
    cov = Covariates(age_yr=age, weight_kg=weight, height_cm=height, sex=sex)
    for build, ke0 in ((marsh, 0.26), (marsh_modified, 1.2)):
        p = build(cov)
        assert _got(p) == pytest.approx([0.228 * weight, 0.119, 0.112, 0.055, 0.0419, 0.0033])
        assert float(p.ke0[0]) == ke0


@pytest.mark.parametrize(("age", "weight", "height", "sex"), PATIENTS)
def test_minto_by_hand(age: float, weight: float, height: float, sex: str) -> None:
    cov = Covariates(age_yr=age, weight_kg=weight, height_cm=height, sex=sex)
    lbm = _lbm(weight, height, sex)
    v1 = 5.1 - 0.0201 * (age - 40) + 0.072 * (lbm - 55)
    v2 = 9.82 - 0.0811 * (age - 40) + 0.108 * (lbm - 55)
    cl1 = 2.6 - 0.0162 * (age - 40) + 0.0191 * (lbm - 55)
    cl2 = 2.05 - 0.0301 * (age - 40)
    cl3 = 0.076 - 0.00113 * (age - 40)
    p = minto(cov)
    assert _got(p) == pytest.approx(_micro(v1, v2, 5.42, cl1, cl2, cl3), rel=1e-13)
    assert float(p.ke0[0]) == pytest.approx(0.595 - 0.007 * (age - 40), rel=1e-14)
    assert float(p.ec50[0]) == 19.3


def test_presets_vectorize_over_patients() -> None:
    ages, weights, heights, sexes = zip(*PATIENTS, strict=True)
    cov = Covariates(age_yr=ages, weight_kg=weights, height_cm=heights, sex=sexes)
    p = schnider(cov)
    for i, row in enumerate(PATIENTS):
        one = schnider(Covariates(*row))
        np.testing.assert_allclose(p.member(i).to_matrix(), one.to_matrix(), rtol=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"age_yr": -1}, r"age_yr must be in \[0\.0, 120\.0\]"),
        ({"weight_kg": 0.0}, r"weight_kg must be in \[1\.0, 350\.0\]"),
        ({"height_cm": 400}, r"height_cm must be in \[30\.0, 250\.0\]"),
        ({"sex": "x"}, r"sex must be 'male' or 'female'"),
        ({"age_yr": float("nan")}, "age_yr must be in"),
    ],
)
def test_impossible_covariates_are_rejected(kwargs: dict[str, object], match: str) -> None:
    base: dict[str, object] = {"age_yr": 50, "weight_kg": 70, "height_cm": 170, "sex": "male"}
    with pytest.raises(InvalidParameterError, match=match):
        Covariates(**{**base, **kwargs})  # type: ignore[arg-type]


def test_covariates_outside_the_equations_are_rejected() -> None:
    obese = Covariates(age_yr=50, weight_kg=140, height_cm=160, sex="female")
    with pytest.raises(InvalidParameterError, match="James lean body mass stops rising"):
        schnider(obese)
    with pytest.raises(InvalidParameterError, match="James"):
        minto(obese)
    assert float(marsh(obese).v1_l[0]) == pytest.approx(0.228 * 140)
    with pytest.raises(InvalidParameterError, match=r"V2 = .* is not positive"):
        schnider(Covariates(age_yr=110, weight_kg=70, height_cm=170, sex="male"))


def test_preset_lookup_and_covariate_text() -> None:
    assert preset("schnider").drug == "propofol"
    with pytest.raises(UnknownModelError, match="schnider, marsh, marsh-modified, minto"):
        preset("propofol")
    cov = parse_covariates("age=53,weight_kg=77,height_cm=177,sex=male")
    assert cov.sex == ("male",)
    assert float(cov.age_yr[0]) == 53.0
