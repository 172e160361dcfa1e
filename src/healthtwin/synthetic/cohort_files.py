"""A virtual cohort on disk: its table and, beside it, its twins' parameters.

:meth:`~healthtwin.synthetic.cohort.VirtualCohort.write` writes the members' table and
``<stem>_twins.npz`` (UVA/Padova parameter matrix, initial state and therapy settings, by
member row; no pickle) through :func:`write_twins`; :func:`read_cohort` reads both back
for an in-silico trial (:func:`healthtwin.synthetic.trial.run_trial`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.errors import InvalidInputError
from healthtwin.physiology.uva_padova import UvaPadovaParameters, UvaPadovaPatient

__all__ = ["CohortFile", "read_cohort", "twins_path", "write_twins"]


def twins_path(table: Path) -> Path:
    """The twins' sidecar of a cohort table: ``<stem>_twins.npz`` beside it.

    Examples
    --------
    >>> twins_path(Path("out/cohort.csv")).as_posix()
    'out/cohort_twins.npz'
    """
    return table.with_name(table.stem + "_twins.npz")


def write_twins(path: Path, twins: Sequence[UvaPadovaPatient | None]) -> None:
    """Write the twins' parameters (rows of members without a twin are skipped)."""
    rows = [i for i, t in enumerate(twins) if t is not None]
    kept = [t for t in twins if t is not None]
    width = len(UvaPadovaParameters.names())
    np.savez(
        path,
        row=np.asarray(rows, dtype=np.int64),
        name=np.asarray([t.name for t in kept], dtype=str),
        parameter_names=np.asarray(UvaPadovaParameters.names(), dtype=str),
        parameters=(
            np.vstack([t.params.to_matrix() for t in kept]) if kept else np.zeros((0, width))
        ),
        x0=np.vstack([t.x0 for t in kept]) if kept else np.zeros((0, 13)),
        carb_ratio_g_per_u=np.asarray([t.carb_ratio_g_per_u for t in kept], dtype=float),
        correction_factor_mg_dl_per_u=np.asarray(
            [t.correction_factor_mg_dl_per_u for t in kept], dtype=float
        ),
        total_daily_insulin_u=np.asarray([t.total_daily_insulin_u for t in kept], dtype=float),
    )


@dataclass(frozen=True)
class CohortFile:
    """A cohort read back: its table (a pandas DataFrame) and each member's twin."""

    table: Any
    twins: tuple[UvaPadovaPatient | None, ...]


def read_cohort(path: str | Path) -> CohortFile:
    """Read a cohort written by :meth:`VirtualCohort.write`, twins included.

    Raises
    ------
    InvalidInputError
        A missing table or twins file, or a twins file that does not fit the table.

    Examples
    --------
    >>> read_cohort("no/such.csv")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: no cohort table at no/such.csv; write one with ...
    """
    import pandas as pd

    table_path = Path(path)
    sidecar = twins_path(table_path)
    if not table_path.is_file():
        raise InvalidInputError(
            f"no cohort table at {table_path}; write one with healthtwin synth cohort"
        )
    if not sidecar.is_file():
        raise InvalidInputError(
            f"no twins file {sidecar} beside {table_path}: the twins' parameters are written "
            "there by healthtwin synth cohort; generate the cohort again"
        )
    table = (
        pd.read_parquet(table_path) if table_path.suffix == ".parquet" else pd.read_csv(table_path)
    )
    try:
        with np.load(sidecar, allow_pickle=False) as saved:
            arrays = {k: saved[k] for k in saved.files}
        names = tuple(str(n) for n in arrays["parameter_names"])
        if names != UvaPadovaParameters.names():
            raise InvalidInputError(f"{sidecar} holds parameters {names}, not UVA/Padova's")
        twins: list[UvaPadovaPatient | None] = [None] * len(table)
        for k, row in enumerate(arrays["row"]):
            twins[int(row)] = UvaPadovaPatient(
                name=str(arrays["name"][k]),
                params=UvaPadovaParameters.from_matrix(arrays["parameters"][[k]]),
                x0=arrays["x0"][k],
                carb_ratio_g_per_u=float(arrays["carb_ratio_g_per_u"][k]),
                correction_factor_mg_dl_per_u=float(arrays["correction_factor_mg_dl_per_u"][k]),
                total_daily_insulin_u=float(arrays["total_daily_insulin_u"][k]),
                source=f"read from {sidecar.name}",
            )
    except (KeyError, IndexError, ValueError, OSError) as err:
        raise InvalidInputError(
            f"{sidecar} does not fit {table_path} ({err}); generate the cohort again"
        ) from err
    return CohortFile(table, tuple(twins))
