"""Optional extras: a missing one gives an error that names the pip command.

The import machinery is made to report the package as absent (monkeypatch on
``importlib``), which is how a machine without the extra looks to our code.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from healthtwin.errors import MissingDependencyError
from healthtwin.physiology import Meal, load_patient, patients, simulate_patients
from healthtwin.physiology import uva_padova_kernels as kernels


def test_cohort_without_simglucose_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "simglucose" else real(name, *a),
    )
    patients._read_cohort.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match=r"healthtwin\[simglucose\]"):
            load_patient("adult#003")
        assert load_patient("nominal-adult").name == "nominal-adult"  # no extra needed
    finally:
        patients._read_cohort.cache_clear()


def test_numba_backend_without_numba_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def fake(name: str, *args: Any) -> Any:
        if name == "numba":
            raise ImportError("No module named 'numba'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    kernels.numba_kernel.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match=r"healthtwin\[fast\]"):
            simulate_patients([load_patient("nominal-adult")], [], hours=1, backend="numba")
    finally:
        kernels.numba_kernel.cache_clear()


def test_plot_without_matplotlib_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = builtins.__import__

    def fake(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    run = simulate_patients([load_patient("nominal-adult")], [Meal(5, 10)], hours=1)
    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(MissingDependencyError, match=r"healthtwin\[plot\]"):
        run.plot(tmp_path / "x.png")
