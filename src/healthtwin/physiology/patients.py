"""Named UVA/Padova virtual patients: the papers' nominal subject and simglucose's cohort.

simglucose's 30 virtual patients (``adolescent#001``-``#010``, ``adult#001``-``#010``,
``child#001``-``#010``) are read from the installed ``simglucose`` package when asked
for (``pip install healthtwin[simglucose]``); the licence of that parameter file is not
stated, so it is never copied into this repository.
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from healthtwin.errors import MissingDependencyError, UnknownModelError
from healthtwin.physiology.nominal import nominal_patients
from healthtwin.physiology.uva_padova import UvaPadovaParameters, UvaPadovaPatient

__all__ = ["COHORT_GROUPS", "cohort_names", "load_patient", "load_patients", "patient_names"]

COHORT_GROUPS = ("adolescent", "adult", "child")


def cohort_names() -> tuple[str, ...]:
    """The 30 simglucose patient names."""
    return tuple(f"{g}#{i:03d}" for g in COHORT_GROUPS for i in range(1, 11))


def patient_names() -> tuple[str, ...]:
    """Every valid patient name: nominal subjects first, then the simglucose cohort."""
    return (*nominal_patients().keys(), *cohort_names())


def _simglucose_params_dir() -> Path:
    spec = importlib.util.find_spec("simglucose")
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            "the simglucose virtual patients need the optional extra: "
            "pip install 'healthtwin[simglucose]'"
        )
    return Path(spec.origin).parent / "params"


@cache
def _read_cohort() -> dict[str, UvaPadovaPatient]:
    folder = _simglucose_params_dir()
    with (folder / "Quest.csv").open(newline="") as fh:
        quest = {row["Name"]: row for row in csv.DictReader(fh)}
    patients: dict[str, UvaPadovaPatient] = {}
    with (folder / "vpatient_params.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            name = row["Name"]
            x0 = np.array([float(row[f"x0_{i:2d}"]) for i in range(1, 14)])
            values = {k: float(row[k]) for k in UvaPadovaParameters.names()}
            patients[name] = UvaPadovaPatient(
                name=name,
                params=UvaPadovaParameters(**values),
                x0=x0,
                carb_ratio_g_per_u=float(quest[name]["CR"]),
                correction_factor_mg_dl_per_u=float(quest[name]["CF"]),
                source="simglucose 0.2.11 vpatient_params.csv and Quest.csv",
                total_daily_insulin_u=float(quest[name]["TDI"]),
            )
    return patients


def load_patient(name: str) -> UvaPadovaPatient:
    """The virtual patient called ``name`` (see :func:`patient_names`).

    Raises
    ------
    UnknownModelError
        For a name that is neither a nominal subject nor a cohort patient.
    MissingDependencyError
        For a cohort patient when simglucose is not installed.

    Examples
    --------
    >>> round(load_patient("nominal-adult").basal_glucose_mg_dl, 1)
    94.7
    """
    nominal = nominal_patients()
    if name in nominal:
        return nominal[name]
    if name in cohort_names():
        return _read_cohort()[name]
    raise UnknownModelError(
        f"unknown patient {name!r}; valid names: {', '.join(patient_names())} (or 'all')"
    )


def load_patients(names: Sequence[str] | str) -> list[UvaPadovaPatient]:
    """Several patients by name; ``"all"`` is the whole simglucose cohort."""
    if isinstance(names, str):
        names = list(cohort_names()) if names == "all" else [names]
    return [load_patient(n) for n in names]
