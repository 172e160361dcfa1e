"""Forecasts as forecast-hub tables: 23 quantile levels or sampled trajectories per target.

The US COVID-19 and FluSight forecast hubs (hubverse format) store one row per forecast
value with the columns :data:`HUB_COLUMNS`. A *task* is one (reference date, target,
horizon, location, target end date); ``output_type`` is ``quantile`` (``output_type_id``
is the level, the 23 of :data:`HUB_QUANTILES`) or ``sample`` (``output_type_id`` is the
sample index, a whole trajectory sharing one index across horizons).

Quantiles of sampled trajectories use numpy's default ``method="linear"`` (Hyndman & Fan
1996 type 7, R's default): ``q(p) = x_(j) + g (x_(j+1) - x_(j))`` with ``h = (n - 1) p``,
``j = floor(h)`` (0-based order statistics) and ``g = h - j``.

pandas is imported lazily (install ``healthtwin[ml]`` or ``pandas``); Parquet needs
pyarrow.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from healthtwin.core.types import FloatArray
from healthtwin.errors import (
    InvalidInputError,
    InvalidParameterError,
    MissingDependencyError,
    ShapeError,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "HUB_COLUMNS",
    "HUB_QUANTILES",
    "OUTPUT_TYPES",
    "TASK_COLUMNS",
    "QuantileForecasts",
    "hub_table",
    "quantile_forecasts",
    "quantiles_from_samples",
    "read_hub_table",
    "validate_hub_table",
    "write_hub_table",
]

HUB_QUANTILES: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
    0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99,
)  # fmt: skip
TASK_COLUMNS = ("reference_date", "target", "horizon", "location", "target_end_date")
HUB_COLUMNS = (*TASK_COLUMNS, "output_type", "output_type_id", "value")
OUTPUT_TYPES = ("quantile", "sample")
# Levels written with rounding noise (0.1 as 0.10000000000000002) still name the level.
LEVEL_ATOL = 1e-9


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as err:
        raise MissingDependencyError(
            "hub tables need pandas: pip install pandas (or 'healthtwin[ml]')"
        ) from err
    return pd


def quantiles_from_samples(
    samples: ArrayLike, levels: Sequence[float] | FloatArray = HUB_QUANTILES
) -> FloatArray:
    """Quantiles of samples along the first axis (numpy ``linear``, type 7).

    Parameters
    ----------
    samples : array_like of float, shape (n_samples, ...)
        Draws on the first axis.
    levels : sequence of float
        Quantile levels in [0, 1].

    Returns
    -------
    ndarray of float64, shape (..., n_levels)

    Raises
    ------
    InvalidInputError
        Fewer than one sample, or non-finite values.
    InvalidParameterError
        A level outside [0, 1].

    Examples
    --------
    >>> quantiles_from_samples([0.0, 1.0, 2.0, 3.0, 4.0], [0.1, 0.5, 0.975]).tolist()
    [0.4, 2.0, 3.9]
    """
    values = np.asarray(samples, dtype=np.float64)
    probs = _levels(levels)
    if values.ndim < 1 or values.shape[0] < 1:
        raise InvalidInputError(f"need at least one sample on axis 0, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise InvalidInputError(
            f"{int(np.sum(~np.isfinite(values)))} sample values are NaN or infinite; "
            "drop or repair the failed trajectories first"
        )
    return np.moveaxis(np.quantile(values, probs, axis=0, method="linear"), 0, -1)


def _levels(levels: Sequence[float] | ArrayLike) -> FloatArray:
    probs = np.asarray(levels, dtype=np.float64)
    if probs.ndim != 1 or probs.size == 0 or not ((probs >= 0) & (probs <= 1)).all():
        raise InvalidParameterError(
            f"quantile levels must be a non-empty 1-D sequence in [0, 1], got {probs.tolist()}"
        )
    if (np.diff(probs) <= 0).any():
        raise InvalidParameterError(f"quantile levels must increase, got {probs.tolist()}")
    return probs


def _date(value: dt.date | str, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as err:
        raise InvalidParameterError(
            f"{name} must be a date or an ISO date string such as 2024-11-23, got {value!r}"
        ) from err


def hub_table(
    samples: ArrayLike,
    *,
    reference_date: dt.date | str,
    target: str,
    locations: Sequence[str],
    horizons: Sequence[int] | None = None,
    days_per_horizon: int = 7,
    output_types: Sequence[str] = ("quantile",),
    levels: Sequence[float] = HUB_QUANTILES,
) -> pd.DataFrame:
    """Turn sampled trajectories of one target into a hub table.

    Parameters
    ----------
    samples : array_like of float, shape (n_samples, n_horizons, n_locations)
        Trajectories; sample ``i`` is one joint draw over horizons and locations.
    reference_date : datetime.date or str
        The forecast's reference date (for FluSight, the Saturday of the submission week).
    target : str
        A free name such as ``"wk inc flu hosp"``, ``"inc case"`` or ``"icu occupancy"``.
    locations : sequence of str
        One code per location (``"US"``, ``"06"``, a region name).
    horizons : sequence of int, optional
        One per horizon; default ``0 .. n_horizons - 1``.
    days_per_horizon : int
        ``target_end_date = reference_date + horizon * days_per_horizon`` days (7 for weekly
        targets, 1 for daily).
    output_types : sequence of str
        ``"quantile"`` and/or ``"sample"``.
    levels : sequence of float
        Quantile levels (default the hubs' 23).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HUB_COLUMNS`; dates as ``datetime64``; ``output_type_id`` is the level
        (float) for quantiles and the sample index (int) for samples.

    Raises
    ------
    ShapeError
        ``samples`` is not 3-D or disagrees with ``locations``/``horizons``.
    InvalidParameterError
        Unknown output type, empty target, bad date or levels.

    Examples
    --------
    >>> draws = np.arange(30.0).reshape(10, 3, 1)
    >>> table = hub_table(draws, reference_date="2024-11-23", target="wk inc flu hosp",
    ...                   locations=["US"], horizons=[0, 1, 2])
    >>> len(table), table["target_end_date"].iloc[-1].date().isoformat()
    (69, '2024-12-07')
    """
    pd = _pandas()
    values = np.asarray(samples, dtype=np.float64)
    if values.ndim != 3:
        raise ShapeError(
            f"samples must be (n_samples, n_horizons, n_locations), got shape {values.shape}"
        )
    n_samples, n_horizons, n_locations = values.shape
    horizon_list = list(range(n_horizons)) if horizons is None else [int(h) for h in horizons]
    location_list = [str(loc) for loc in locations]
    if len(horizon_list) != n_horizons or len(location_list) != n_locations:
        raise ShapeError(
            f"samples have {n_horizons} horizons and {n_locations} locations, got "
            f"{len(horizon_list)} horizons and {len(location_list)} locations"
        )
    unknown = sorted(set(output_types) - set(OUTPUT_TYPES))
    if unknown or not output_types:
        raise InvalidParameterError(
            f"unknown output types {unknown or list(output_types)}; use {list(OUTPUT_TYPES)}"
        )
    if not target.strip():
        raise InvalidParameterError("target must be a non-empty name such as 'inc case'")
    reference = _date(reference_date, "reference_date")
    frames = []
    if "quantile" in output_types:
        probs = _levels(levels)
        frames.append(_long(quantiles_from_samples(values, probs), probs, "quantile"))
    if "sample" in output_types:
        if not np.isfinite(values).all():
            raise InvalidInputError("sample values must be finite")
        frames.append(_long(np.moveaxis(values, 0, -1), np.arange(n_samples), "sample"))
    table = pd.concat([pd.DataFrame(f) for f in frames], ignore_index=True)
    horizon_arr = np.asarray(horizon_list)[table.pop("h_index").to_numpy()]
    location_arr = np.asarray(location_list, dtype=object)[table.pop("l_index").to_numpy()]
    end_days = [reference + dt.timedelta(days=int(h) * days_per_horizon) for h in horizon_arr]
    table.insert(0, "reference_date", pd.Timestamp(reference))
    table.insert(1, "target", target)
    table.insert(2, "horizon", horizon_arr.astype(np.int64))
    table.insert(3, "location", location_arr)
    table.insert(4, "target_end_date", pd.to_datetime(end_days))
    if len(frames) > 1:
        table["output_type_id"] = table["output_type_id"].astype(object)
    return table[list(HUB_COLUMNS)]


def _long(values: FloatArray, ids: np.ndarray[Any, Any], output_type: str) -> dict[str, Any]:
    """``values`` (n_horizons, n_locations, n_ids) as long columns, ids fastest."""
    n_h, n_l, n_ids = values.shape
    h_index, l_index, id_index = np.indices((n_h, n_l, n_ids)).reshape(3, -1)
    return {
        "h_index": h_index,
        "l_index": l_index,
        "output_type": output_type,
        "output_type_id": ids[id_index],
        "value": values.reshape(-1),
    }


def write_hub_table(table: pd.DataFrame, path: Path | str) -> Path:
    """Write a hub table as CSV or Parquet, chosen by the file suffix.

    Dates are written as ISO dates; ``output_type_id`` as text in Parquet (it mixes levels
    and sample indices, as the hubverse's character column does).

    Raises
    ------
    InvalidParameterError
        The suffix is neither ``.csv`` nor ``.parquet``.
    MissingDependencyError
        Parquet without pyarrow installed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> table = hub_table(np.ones((4, 1, 1)), reference_date="2024-11-23",
    ...                   target="inc case", locations=["US"], levels=[0.5])
    >>> out = write_hub_table(table, pathlib.Path(tempfile.mkdtemp()) / "f.csv")
    >>> out.read_text().splitlines()[1]
    '2024-11-23,inc case,0,US,2024-11-23,quantile,0.5,1.0'
    """
    target = Path(path)
    suffix = target.suffix.lower()
    out = table.copy()
    for column in ("reference_date", "target_end_date"):
        out[column] = _pandas().to_datetime(out[column]).dt.strftime("%Y-%m-%d")
    if suffix == ".csv":
        out.to_csv(target, index=False)
    elif suffix == ".parquet":
        _require_pyarrow()
        out["output_type_id"] = [_id_text(v) for v in out["output_type_id"]]
        out.to_parquet(target, index=False)
    else:
        raise InvalidParameterError(
            f"cannot write a hub table to {target.name!r}: use a .csv or .parquet file name"
        )
    return target


def _id_text(value: object) -> str:
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def _require_pyarrow() -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise MissingDependencyError(
            "Parquet hub tables need pyarrow: pip install pyarrow, or write a .csv file"
        )


def read_hub_table(
    path: Path | str,
    *,
    validate: bool = True,
    required_levels: Sequence[float] | None = HUB_QUANTILES,
) -> pd.DataFrame:
    """Read a hub table from CSV or Parquet and (by default) validate it.

    ``location`` stays text (codes such as ``"06"`` keep their leading zero); dates become
    ``datetime64``; ``output_type_id`` becomes a float level or an int sample index.

    Raises
    ------
    InvalidInputError
        Missing columns, unparseable values, or (``validate=True``) any rule of
        :func:`validate_hub_table` broken.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> table = hub_table(np.arange(8.0).reshape(8, 1, 1), reference_date="2024-11-23",
    ...                   target="inc case", locations=["06"])
    >>> out = write_hub_table(table, pathlib.Path(tempfile.mkdtemp()) / "f.csv")
    >>> back = read_hub_table(out)
    >>> back["location"].iloc[0], back["value"].equals(table["value"])
    ('06', True)
    """
    pd = _pandas()
    source = Path(path)
    if source.suffix.lower() == ".parquet":
        _require_pyarrow()
        raw = pd.read_parquet(source)
    else:
        raw = pd.read_csv(
            source,
            dtype={"location": str, "output_type_id": str, "target": str},
            float_precision="round_trip",
        )
    missing = [c for c in HUB_COLUMNS if c not in raw.columns]
    if missing:
        raise InvalidInputError(
            f"{source}: missing hub columns {missing}; found {list(raw.columns)}. A hub table "
            f"has columns {list(HUB_COLUMNS)}"
        )
    table = raw[list(HUB_COLUMNS)].copy()
    table["location"] = table["location"].astype(str)
    try:
        for column in ("reference_date", "target_end_date"):
            table[column] = pd.to_datetime(table[column], format="%Y-%m-%d")
        table["horizon"] = table["horizon"].astype(np.int64)
        table["value"] = table["value"].astype(np.float64)
    except (ValueError, TypeError) as err:
        raise InvalidInputError(
            f"{source}: unreadable dates (need YYYY-MM-DD), horizons (integers) or values: {err}"
        ) from err
    table["output_type_id"] = _parse_ids(source, table["output_type"], table["output_type_id"])
    if validate:
        validate_hub_table(table, required_levels=required_levels)
    return table


def _parse_ids(source: Path, types: pd.Series, ids: pd.Series) -> list[float | int]:
    parsed: list[float | int] = []
    for row, (kind, text) in enumerate(zip(types, ids, strict=True), start=2):
        try:
            number = float(text)
            parsed.append(int(number) if kind == "sample" and number.is_integer() else number)
        except (TypeError, ValueError) as err:
            raise InvalidInputError(
                f"{source}, row {row}: output_type_id {text!r} is not a number; give the "
                "quantile level (0.025) or the sample index (0, 1, ...)"
            ) from err
    return parsed


def validate_hub_table(
    table: pd.DataFrame, *, required_levels: Sequence[float] | None = HUB_QUANTILES
) -> None:
    """Check a hub table; raise on the first broken rule, naming the offending task.

    Rules: every column of :data:`HUB_COLUMNS`; output types in :data:`OUTPUT_TYPES`;
    finite values; quantile levels in [0, 1], unique per task, every one of
    ``required_levels`` present, values non-decreasing in the level; sample indices
    non-negative integers, unique per task.

    Raises
    ------
    InvalidInputError

    Examples
    --------
    >>> table = hub_table(np.arange(5.0).reshape(5, 1, 1), reference_date="2024-11-23",
    ...                   target="inc case", locations=["US"])
    >>> validate_hub_table(table)
    >>> table.loc[3, "value"] = 99.0
    >>> validate_hub_table(table)
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: quantiles decrease ...
    """
    missing = [c for c in HUB_COLUMNS if c not in table.columns]
    if missing:
        raise InvalidInputError(f"hub table lacks columns {missing}; need {list(HUB_COLUMNS)}")
    if table.empty:
        raise InvalidInputError("hub table has no rows")
    unknown = sorted(set(table["output_type"].astype(str)) - set(OUTPUT_TYPES))
    if unknown:
        raise InvalidInputError(
            f"unknown output_type values {unknown}; this library reads {list(OUTPUT_TYPES)}"
        )
    for column in TASK_COLUMNS:
        if table[column].isna().any():
            row = int(np.flatnonzero(table[column].isna().to_numpy())[0])
            raise InvalidInputError(f"column {column!r} is empty at row {row}")
    values = table["value"].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InvalidInputError(
            f"value is NaN or infinite at row {row} ({_task_text(table.iloc[row])}); every "
            "forecast value must be a finite number"
        )
    quantiles = table[table["output_type"] == "quantile"]
    if not quantiles.empty:
        _check_quantiles(quantiles, required_levels)
    samples = table[table["output_type"] == "sample"]
    if not samples.empty:
        _check_samples(samples)


def _task_text(row: pd.Series) -> str:
    return ", ".join(f"{c}={row[c]}" for c in TASK_COLUMNS)


def _check_quantiles(rows: pd.DataFrame, required: Sequence[float] | None) -> None:
    levels = np.asarray(rows["output_type_id"], dtype=np.float64)
    if not ((levels >= 0) & (levels <= 1)).all():
        raise InvalidInputError(
            "quantile levels must lie in [0, 1], got "
            f"{sorted(set(levels[(levels < 0) | (levels > 1)].tolist()))}"
        )
    # One sort and array comparisons between neighbours: no Python loop over tasks.
    frame = rows.assign(_level=levels).sort_values([*TASK_COLUMNS, "_level"], kind="stable")
    task_id = frame.groupby(list(TASK_COLUMNS), sort=False).ngroup().to_numpy()
    sorted_levels = frame["_level"].to_numpy(dtype=np.float64)
    values = frame["value"].to_numpy(dtype=np.float64)
    same_task = task_id[1:] == task_id[:-1]
    repeated = np.flatnonzero(same_task & (np.diff(sorted_levels) <= LEVEL_ATOL))
    if repeated.size:
        where = _task_text(frame.iloc[int(repeated[0])])
        raise InvalidInputError(f"quantile levels repeat in task {where}")
    if required is not None:
        need = np.asarray(required, dtype=np.float64)
        hits = np.isclose(sorted_levels[:, None], need[None, :], atol=LEVEL_ATOL)
        counts = np.zeros((int(task_id.max()) + 1, need.size), dtype=np.int64)
        np.add.at(counts, task_id, hits.astype(np.int64))
        lacking = np.flatnonzero((counts == 0).any(axis=1))
        if lacking.size:
            task = int(lacking[0])
            where = _task_text(frame.iloc[int(np.argmax(task_id == task))])
            raise InvalidInputError(
                f"task {where} lacks quantile levels {need[counts[task] == 0].tolist()}; hub "
                "tables need every required level (pass required_levels=None to skip)"
            )
    drops = np.flatnonzero(same_task & (np.diff(values) < 0))
    if drops.size:
        i = int(drops[0])
        raise InvalidInputError(
            f"quantiles decrease in task {_task_text(frame.iloc[i])}: level "
            f"{sorted_levels[i]} has value {values[i]} but level {sorted_levels[i + 1]} has "
            f"{values[i + 1]}; quantiles must be non-decreasing in the level"
        )


def _check_samples(rows: pd.DataFrame) -> None:
    ids = np.asarray(rows["output_type_id"], dtype=np.float64)
    bad = ~np.isfinite(ids) | (ids < 0) | (ids != np.round(ids))
    if bad.any():
        raise InvalidInputError(
            f"sample output_type_id must be a non-negative integer, got {ids[bad][0]!r}"
        )
    duplicated = rows.duplicated([*TASK_COLUMNS, "output_type_id"])
    if duplicated.any():
        row = rows[duplicated.to_numpy()].iloc[0]
        raise InvalidInputError(f"sample {row['output_type_id']} repeats in task {_task_text(row)}")


@dataclass(frozen=True)
class QuantileForecasts:
    """The quantile rows of a hub table as arrays.

    Attributes
    ----------
    tasks : pandas.DataFrame
        One row per task, columns :data:`TASK_COLUMNS`, shape (n_tasks, 5).
    levels : ndarray of float64, shape (n_levels,)
        Increasing quantile levels shared by every task.
    values : ndarray of float64, shape (n_tasks, n_levels)
    """

    tasks: pd.DataFrame
    levels: FloatArray
    values: FloatArray


def quantile_forecasts(table: pd.DataFrame) -> QuantileForecasts:
    """Pivot the quantile rows of a hub table to a (tasks x levels) array.

    Raises
    ------
    InvalidInputError
        No quantile rows, or tasks with different sets of levels.

    Examples
    --------
    >>> table = hub_table(np.arange(5.0).reshape(5, 1, 1), reference_date="2024-11-23",
    ...                   target="inc case", locations=["US"], levels=[0.25, 0.5, 0.75])
    >>> quantile_forecasts(table).values.tolist()
    [[1.0, 2.0, 3.0]]
    """
    rows = table[table["output_type"] == "quantile"]
    if rows.empty:
        raise InvalidInputError("hub table has no quantile rows to score")
    levels = np.asarray(rows["output_type_id"], dtype=np.float64)
    rounded = np.round(levels / LEVEL_ATOL) * LEVEL_ATOL
    wide = rows.assign(level=rounded).pivot_table(
        index=list(TASK_COLUMNS), columns="level", values="value", aggfunc="first", sort=True
    )
    if wide.isna().to_numpy().any():
        raise InvalidInputError(
            "tasks in the hub table have different quantile levels; score tables whose tasks "
            "share one set of levels (split the table by its level sets)"
        )
    tasks = wide.index.to_frame(index=False)
    level_arr = np.asarray(wide.columns, dtype=np.float64)
    return QuantileForecasts(tasks, level_arr, wide.to_numpy(dtype=np.float64))
