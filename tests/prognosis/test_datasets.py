"""The data-set registry: shapes, targets and provenance against what the sources state."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError, MissingDependencyError, UnknownModelError
from healthtwin.prognosis.datasets import DATASETS, load_dataset

# (rows, feature columns, events) as stated by the packages' own docstrings: scikit-survival
# 0.28 sksurv/datasets/base.py ("The dataset has 500 samples and 14 features. The endpoint is
# death, which occurred for 215 patients"...), lifelines 0.30 datasets/__init__.py
# (load_rossi "Size: (432,9)", load_lung "(288,10)", a typo for the 228 patients of the R
# survival package's `lung`; both minus their time/event columns) and scikit-learn's
# diabetes description (442 patients, 10 baseline variables). flchain, lung and aids lose
# one column each on purpose (see the module docstring). Rossi's 114 arrests are the count
# reported by Allison, Survival Analysis Using SAS (1995); lung's 165 deaths that of the R
# survival package's documentation of `lung`.
STATED = {
    "diabetes": (442, 10, None),
    "whas500": (500, 14, 215),
    "gbsg2": (686, 8, 299),
    "veterans": (137, 6, 128),
    "aids": (1151, 11 - 1, 96),
    "flchain": (7874, 9 - 1, 2169),
    "breast_cancer": (198, 80, 51),
    "lung": (228, 10 - 2 - 1, 165),
    "rossi": (432, 9 - 2, 114),
}


def test_every_registered_set_has_a_stated_reference() -> None:
    assert set(DATASETS) == set(STATED)


@pytest.mark.parametrize("name", sorted(STATED))
def test_shapes_and_targets_match_the_sources(name: str) -> None:
    rows, columns, events = STATED[name]
    data = load_dataset(name)
    assert data.features.shape == (rows, columns)
    assert data.n_patients == DATASETS[name].n_patients == rows
    if events is None:
        assert data.kind == "regression"
        assert data.time is None
        assert data.event is None
        assert data.y is not None
        assert data.y.shape == (rows,)
        assert np.isfinite(data.y).all()
        with pytest.raises(InvalidParameterError, match="regression"):
            data.survival_target()
    else:
        time, event = data.survival_target()
        assert data.kind == "survival"
        assert data.y is None
        assert time.dtype == np.float64
        assert event.dtype == np.bool_
        assert time.shape == event.shape == (rows,)
        assert int(event.sum()) == events == DATASETS[name].n_events
        assert np.isfinite(time).all()
        assert (time >= 0).all()


@pytest.mark.parametrize("name", sorted(STATED))
def test_columns_are_float_or_string_categories(name: str) -> None:
    data = load_dataset(name)
    for column in data.features.columns:
        dtype = data.features[column].dtype
        if column in data.categorical:
            assert dtype.name == "category"
            assert all(isinstance(level, str) for level in dtype.categories)
        else:
            assert dtype == np.float64


@pytest.mark.parametrize("name", sorted(STATED))
def test_provenance_names_package_licence_and_citation(name: str) -> None:
    info = DATASETS[name]
    data = load_dataset(name)
    package_licences = {
        "scikit-survival": "GPL-3.0-or-later",
        "lifelines": "MIT",
        "scikit-learn": "BSD-3-Clause",
    }
    package = next(p for p in package_licences if info.source.startswith(p))
    assert package_licences[package] in info.licence
    assert "the data themselves" in info.licence
    assert data.citation == info.citation
    assert len(info.citation) > 40
    assert data.source == info.source
    assert data.licence == info.licence
    assert info.kind == data.kind
    assert info.time_unit == data.time_unit


def test_package_licences_are_the_installed_ones() -> None:
    from importlib.metadata import metadata

    def licence(dist: str) -> str:
        meta: Any = metadata(dist)
        return str(meta.get("License-Expression") or meta.get("License"))

    assert licence("scikit-survival") == "GPL-3.0-or-later"
    assert licence("scikit-learn") == "BSD-3-Clause"
    assert licence("lifelines") == "MIT"


def test_outcome_leaking_and_administrative_columns_are_removed() -> None:
    assert "chapter" not in load_dataset("flchain").features.columns
    assert "inst" not in load_dataset("lung").features.columns
    assert "txgrp" not in load_dataset("aids").features.columns


def test_veterans_values_match_the_original_table() -> None:
    # Kalbfleisch & Prentice's first patient: squamous, Karnofsky 60, 72 days, dead.
    data = load_dataset("veterans")
    first = data.features.iloc[0]
    assert first["Celltype"] == "squamous"
    assert first["Karnofsky_score"] == 60.0
    assert data.time[0] == 72.0
    assert bool(data.event[0])


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownModelError) as info:
        load_dataset("whas")
    assert isinstance(info.value, KeyError)
    for name in DATASETS:
        assert name in str(info.value)


def test_import_without_the_ml_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def fake(name: str, *args: Any) -> Any:
        if name.split(".")[0] in {"sksurv", "sklearn", "lifelines"}:
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    monkeypatch.delitem(sys.modules, "healthtwin.prognosis.datasets")
    with pytest.raises(MissingDependencyError, match=r"healthtwin\[ml\]"):
        real("healthtwin.prognosis.datasets")
