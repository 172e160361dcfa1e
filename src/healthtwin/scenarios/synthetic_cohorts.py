"""Virtual cohorts matched to published targets, and multiple imputation of a table.

:func:`load_cohort` reads a YAML cohort specification and, given a country, shapes its
ages by that country's UN WPP population pyramid within the spec's inclusion range
(:func:`healthtwin.coupling.regional_cohorts.regional_spec`); :func:`generate_virtual_cohort`
samples, checks, matches (entropy balancing) and validates the cohort
(:func:`healthtwin.synthetic.cohort.generate_cohort`). :func:`read_numeric_table` and
:func:`impute_table` fill the empty cells of a numeric table by multiple imputation
(:func:`healthtwin.synthetic.imputation.multiple_imputation`) and write the completed
table (continuous columns: mean over the copies; discrete ones: per-cell mode) with the
imputed-cell flags, the between-imputation variances and, on request, the ``m`` copies.
:func:`read_imputed_copies` reads such copies back and :func:`pooled_predictions` runs a
saved prognosis model on each and pools the predictions by Rubin's rules
(:func:`healthtwin.synthetic.imputed_predictions.predict_over_imputations`), so that what
the gaps leave unknown widens each prediction's interval.

:func:`patient_table` turns any table (a generator fitted on real data samples that
data's own column names) into the columns the longitudinal simulator reads, through a
mapping such as ``age_years=age,female=gender,bmi_kg_m2=bmi`` (:func:`parse_column_map`),
with yes/no/true/false/0/1 read as booleans.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError
from healthtwin.synthetic.cohort import COHORT_STAGES, VirtualCohort, generate_cohort
from healthtwin.synthetic.cohort_spec import CohortSpec, load_cohort_spec
from healthtwin.synthetic.imputation import (
    ImputationResult,
    discrete_columns,
    multiple_imputation,
)
from healthtwin.synthetic.imputed_predictions import ImputedPrediction, predict_over_imputations

__all__ = [
    "COHORT_STAGES",
    "PATIENT_COLUMNS",
    "CohortSpec",
    "PatientTable",
    "VirtualCohort",
    "generate_virtual_cohort",
    "impute_table",
    "load_cohort",
    "parse_column_map",
    "patient_table",
    "pooled_predictions",
    "read_imputed_copies",
    "read_numeric_table",
    "read_reference_table",
]

#: Inside a copies folder: the ``m`` completed tables and the imputed-cell flags.
COPY_FILE = "copy_{k}.csv"
MASK_FILE = "imputed.csv"

#: Columns :func:`patient_table` knows: what the longitudinal simulator reads.
PATIENT_COLUMNS = (
    "age_years",
    "sex",
    "female",
    "bmi_kg_m2",
    "height_m",
    "diabetes",
    "hypertension",
    "hba1c_percent",
)
_BOOLEAN_COLUMNS = ("female", "diabetes", "hypertension")
_TRUE = frozenset({"1", "1.0", "true", "yes"})
_FALSE = frozenset({"0", "0.0", "false", "no"})


def parse_column_map(text: str | None) -> dict[str, str]:
    """Read ``name=column,name=column`` (names from :data:`PATIENT_COLUMNS`).

    Raises
    ------
    InvalidInputError
        For an entry without ``=``, an unknown name, or a name given twice.

    Examples
    --------
    >>> parse_column_map("age_years=age, female=gender")
    {'age_years': 'age', 'female': 'gender'}
    >>> parse_column_map("age=age_years")
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: --columns: unknown name 'age' in 'age=age_years'; ...
    """
    mapping: dict[str, str] = {}
    for entry in (text or "").split(","):
        if not entry.strip():
            continue
        name, sep, column = (part.strip() for part in entry.partition("="))
        if not sep or not name or not column:
            raise InvalidInputError(
                f"--columns: {entry.strip()!r} is not name=column; e.g. age_years=age,sex=gender"
            )
        if name not in PATIENT_COLUMNS:
            raise InvalidInputError(
                f"--columns: unknown name {name!r} in {entry.strip()!r}; the names are "
                f"{', '.join(PATIENT_COLUMNS)} (name=column in your table)"
            )
        if name in mapping:
            raise InvalidInputError(f"--columns: {name!r} is given twice")
        mapping[name] = column
    return mapping


@dataclass(frozen=True)
class PatientTable:
    """A table in the simulator's columns, and what the caller should be told.

    Attributes
    ----------
    table
        ``age_years``, ``female``, ``bmi_kg_m2``, ``diabetes``, ``hypertension`` (and
        ``height_m`` when given), one row per patient (a pandas DataFrame).
    notes
        Defaults taken and columns not used, in words.
    """

    table: pd.DataFrame
    notes: tuple[str, ...]


def _booleans(values: pd.Series, column: str) -> npt.NDArray[np.bool_]:
    text = [str(v).strip().lower() for v in values]
    bad = sorted({str(v) for v, t in zip(values, text, strict=True) if t not in _TRUE | _FALSE})
    if bad:
        raise InvalidInputError(
            f"column {column!r} holds {bad[:5]}, not yes/no, true/false or 1/0; recode it "
            "or map another column"
        )
    return np.array([t in _TRUE for t in text])


def _numbers(values: pd.Series, column: str) -> FloatArray:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = sorted({str(v) for v, x in zip(values, numbers, strict=True) if pd.isna(x)})
    if bad:
        raise InvalidInputError(
            f"column {column!r} holds {bad[:5]}, not numbers; drop or impute those rows first"
        )
    return np.asarray(numbers, dtype=np.float64)


def patient_table(table: pd.DataFrame, columns: Mapping[str, str] | None = None) -> PatientTable:
    """``table`` in the simulator's columns, read through the mapping ``columns``.

    Parameters
    ----------
    table
        One row per patient, e.g. a generator's sample (pandas DataFrame).
    columns
        Simulator name -> column of ``table`` (:func:`parse_column_map`); a name not
        mapped is looked up under its own name. ``age_years``, ``bmi_kg_m2`` and ``sex``
        (``F``/``female``/``M``/``male``) or ``female`` (yes/no) are required; without
        ``diabetes`` nobody has diabetes, without ``hypertension`` nobody has it (both
        said in ``notes``). ``hba1c_percent`` is not used: HbA1c observations are derived
        from each diabetic's twin (ADAG relation), and a note says so.

    Raises
    ------
    InvalidInputError
        A required column is missing, a mapped column is not in the table, a boolean
        column holds values other than yes/no/true/false/1/0 (the column and values are
        named), or a numeric column holds text.

    Examples
    --------
    >>> raw = pd.DataFrame({"age": [63, 71], "gender": [1, 0], "bmi": [24.5, 31.0],
    ...                     "dm": ["yes", "No"]})
    >>> mapped = patient_table(raw, {"age_years": "age", "female": "gender",
    ...                              "bmi_kg_m2": "bmi", "diabetes": "dm"})
    >>> mapped.table["diabetes"].tolist(), mapped.table["female"].tolist()
    ([True, False], [True, False])
    >>> patient_table(raw, {"age_years": "age", "female": "dm", "bmi_kg_m2": "bmi"}).notes[0]
    'no diabetes column: every patient is simulated without diabetes'
    """
    mapping = dict(columns or {})
    absent = sorted({c for c in mapping.values() if c not in table.columns})
    if absent:
        raise InvalidInputError(
            f"--columns names column(s) {absent} that the table lacks; it has {list(table.columns)}"
        )
    source = {n: mapping.get(n, n) for n in PATIENT_COLUMNS if mapping.get(n, n) in table}
    missing = [n for n in ("age_years", "bmi_kg_m2") if n not in source]
    if missing or ("sex" not in source and "female" not in source):
        raise InvalidInputError(
            f"the table lacks {missing or ['sex (or female)']}; it has {list(table.columns)}. "
            "Map your columns with --columns, e.g. age_years=age,female=gender,bmi_kg_m2=bmi "
            "(female: yes/no or 1/0; sex: F/female or M/male)"
        )
    out = pd.DataFrame(
        {n: _numbers(table[source[n]], source[n]) for n in ("age_years", "bmi_kg_m2")}
    )
    if "female" in source:
        out["female"] = _booleans(table[source["female"]], source["female"])
    else:
        sex = [str(s).strip().lower() for s in table[source["sex"]]]
        bad = sorted({s for s in sex if s not in ("f", "female", "m", "male")})
        if bad:
            raise InvalidInputError(
                f"column {source['sex']!r} holds sex value(s) {bad[:5]}; use F/female or "
                "M/male, or map a yes/no column as female=<column>"
            )
        out["female"] = [s in ("f", "female") for s in sex]
    notes = []
    for name in ("diabetes", "hypertension"):
        if name in source:
            out[name] = _booleans(table[source[name]], source[name])
        else:
            out[name] = False
            notes.append(f"no {name} column: every patient is simulated without {name}")
    if "height_m" in source:
        out["height_m"] = _numbers(table[source["height_m"]], source["height_m"])
    if "hba1c_percent" in source:
        notes.append(
            f"column {source['hba1c_percent']!r} (HbA1c) is not used: HbA1c observations are "
            "derived from each diabetic's twin by the ADAG relation"
        )
    return PatientTable(out, tuple(notes))


def load_cohort(spec: Path, *, country: str | None = None, year: int = 2020) -> CohortSpec:
    """Read a cohort specification; with ``country``, ages follow its ``year`` pyramid.

    Raises
    ------
    InvalidInputError
        If the file is missing, not YAML or breaks the schema.
    MissingDependencyError
        With ``country``, if the population data (``popdata`` extra) are missing.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "cohort.yaml"
    >>> _ = path.write_text("name: demo\\ntargets: {female_fraction: 0.4}\\n")
    >>> load_cohort(path).targets.female_fraction
    0.4
    """
    cohort_spec = load_cohort_spec(spec)
    if country is None:
        return cohort_spec
    from healthtwin.coupling.regional_cohorts import regional_spec
    from healthtwin.population.demography import country_geography

    return regional_spec(cohort_spec, country_geography(country, level="national", year=year))


def generate_virtual_cohort(
    spec: CohortSpec,
    n: int,
    *,
    seed: int = 0,
    oversample: int = 4,
    reference: pd.DataFrame | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> VirtualCohort:
    """``n`` members matched to the spec's targets from ``n * oversample`` candidates.

    ``reference`` (the source table) feeds the held-out checks
    (:func:`~healthtwin.synthetic.cohort.held_out_checks`); ``on_progress`` receives
    ``(stages done, stages)`` (:func:`generate_cohort`).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "cohort.yaml"
    >>> _ = path.write_text("name: demo\\ntargets: {female_fraction: 0.4}\\n")
    >>> generate_virtual_cohort(load_cohort(path), 20, seed=1, oversample=3).n
    20
    """
    return generate_cohort(
        spec, n, seed=seed, oversample=oversample, reference=reference, on_progress=on_progress
    )


def read_reference_table(path: Path) -> pd.DataFrame:
    """Read the source table of the held-out checks (CSV; yes/no columns read as 1/0).

    Raises
    ------
    InvalidInputError
        No file, or no column the checks use.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "source.csv"
    >>> _ = path.write_text("age_years,hypertension\\n50,yes\\n61,no\\n")
    >>> read_reference_table(path)["hypertension"].tolist()
    [1.0, 0.0]
    """
    if not path.is_file():
        raise InvalidInputError(f"no reference table at {path}; give the source data as CSV")
    frame = pd.read_csv(path)
    used = [c for c in ("age_years", "bmi_kg_m2", "hba1c_percent", "diabetes", "hypertension")
            if c in frame.columns]  # fmt: skip
    if not used:
        raise InvalidInputError(
            f"{path} has none of age_years, bmi_kg_m2, hba1c_percent, diabetes, hypertension; "
            f"it has {list(frame.columns)}"
        )
    out = pd.DataFrame(index=frame.index)
    for column in used:
        if column in ("diabetes", "hypertension"):
            out[column] = _booleans(frame[column], column).astype(float)
        else:
            out[column] = _numbers(frame[column], column)
    return out


def read_numeric_table(path: Path) -> pd.DataFrame:
    """Read a CSV whose columns are all numeric (empty cells are the ones to fill).

    Raises
    ------
    InvalidInputError
        If there is no file, or a column is not numeric.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("a,b\\n1,x\\n2,y\\n")
    >>> read_numeric_table(path)
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: columns ['b'] are not numeric; encode them as numbers first
    """
    if not path.is_file():
        raise InvalidInputError(f"no file at {path}; give the path of a CSV file")
    frame = pd.read_csv(path)
    numeric = frame.select_dtypes(include="number")
    if numeric.shape[1] != frame.shape[1]:
        bad = sorted(set(frame.columns) - set(numeric.columns))
        raise InvalidInputError(f"columns {bad} are not numeric; encode them as numbers first")
    return frame


def impute_table(
    frame: pd.DataFrame,
    out: Path,
    *,
    m: int = 5,
    method: Literal["bayes", "gbm"] = "bayes",
    seed: int = 0,
    copies: Path | None = None,
    on_copy: Callable[[int], None] | None = None,
) -> int:
    """Impute ``m`` copies of ``frame``; write one completed table, flags and variances.

    Columns whose observed values are whole numbers with at most 10 levels (binary flags,
    coded categories: :func:`~healthtwin.synthetic.imputation.discrete_columns`) are
    imputed as levels: ``out`` holds their per-cell mode over the copies and the mean for
    the other columns. Beside ``out`` come ``<out>_imputed.csv`` (1 where a cell was
    imputed), ``<out>_variance.csv`` (between-imputation variance per cell) and
    ``<out>_columns.csv`` (each column's kind, ``discrete`` or ``continuous``, and how
    ``out`` summarises it, ``mode`` or ``mean``). With ``copies``, that folder receives the
    ``m`` completed tables (``copy_1.csv``...) and the flags (``imputed.csv``) for
    :func:`pooled_predictions`. ``on_copy`` receives the copies completed after each one.

    Returns
    -------
    int
        The number of imputed cells.

    Examples
    --------
    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    >>> frame["sex"] = rng.integers(1, 3, 40)
    >>> frame.iloc[::7, 1] = np.nan
    >>> frame.iloc[1::9, 3] = np.nan
    >>> out = Path(tempfile.mkdtemp()) / "completed.csv"
    >>> impute_table(frame, out, m=2)
    11
    >>> done = pd.read_csv(out)
    >>> int(done.isna().sum().sum()), sorted(set(done["sex"]))
    (0, [1.0, 2.0])
    """
    table = frame.to_numpy(dtype=np.float64)
    discrete = discrete_columns(table)
    result = multiple_imputation(
        table,
        m=m,
        method=method,
        rng=np.random.default_rng(seed),
        discrete=discrete,
        on_copy=on_copy,
    )
    columns = list(frame.columns)
    pd.DataFrame(result.point, columns=columns).to_csv(out, index=False)
    stem = out.with_suffix("")
    pd.DataFrame(result.mask.astype(int), columns=columns).to_csv(
        f"{stem}_imputed.csv", index=False
    )
    pd.DataFrame(result.variance, columns=columns).to_csv(f"{stem}_variance.csv", index=False)
    pd.DataFrame(
        {
            "column": columns,
            "kind": np.where(discrete, "discrete", "continuous"),
            "summary": np.where(discrete, "mode", "mean"),
        }
    ).to_csv(f"{stem}_columns.csv", index=False)
    if copies is not None:
        copies.mkdir(parents=True, exist_ok=True)
        for old in copies.glob(COPY_FILE.format(k="*")):
            old.unlink()  # an earlier run with more copies
        for k, completed in enumerate(result.completed, start=1):
            pd.DataFrame(completed, columns=columns).to_csv(
                copies / COPY_FILE.format(k=k), index=False
            )
        pd.DataFrame(result.mask.astype(int), columns=columns).to_csv(
            copies / MASK_FILE, index=False
        )
    return int(result.mask.sum())


def read_imputed_copies(folder: Path) -> tuple[ImputationResult, list[str]]:
    """The copies written by :func:`impute_table` (``copies=folder``) and their columns.

    Raises
    ------
    InvalidInputError
        Fewer than two copies, no ``imputed.csv``, or tables that do not line up.

    Examples
    --------
    >>> read_imputed_copies(Path("no/such/folder"))
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: no/such/folder holds 0 copies (copy_1.csv...) ...
    """
    files = sorted(
        folder.glob(COPY_FILE.format(k="*")),
        key=lambda f: int(f.stem.removeprefix("copy_")) if f.stem[5:].isdigit() else 0,
    )
    if len(files) < 2 or not (folder / MASK_FILE).is_file():
        raise InvalidInputError(
            f"{folder} holds {len(files)} copies (copy_1.csv...) and "
            f"{'an' if (folder / MASK_FILE).is_file() else 'no'} {MASK_FILE}; write at least "
            "two with: healthtwin synth impute --data TABLE --copies FOLDER --out ..."
        )
    tables = [pd.read_csv(f) for f in files]
    mask = pd.read_csv(folder / MASK_FILE)
    columns = list(mask.columns)
    if any(list(t.columns) != columns or t.shape != mask.shape for t in tables):
        raise InvalidInputError(
            f"the copies in {folder} do not share {MASK_FILE}'s columns and rows; write them "
            "again with synth impute --copies"
        )
    completed = np.stack([t.to_numpy(dtype=np.float64) for t in tables])
    return ImputationResult(completed, mask.to_numpy() > 0), columns


#: Two-sided 90 % normal quantile: a conformal 90 % interval's half-width over this is
#: read as the model's standard deviation.
_Z90 = 1.6448536269514722


def pooled_predictions(
    model_dir: Path, copies: Path, *, level: float = 0.95
) -> tuple[pd.DataFrame, ImputedPrediction]:
    """A saved prognosis model's predictions over imputed copies, pooled by Rubin's rules.

    The model (``model.skops`` with its card, from ``healthtwin prognosis train`` or
    :func:`healthtwin.prognosis.persistence.save_model`) runs on every copy. A progression
    model's own variance is read from its conformal 90 % interval (half-width / 1.645,
    squared); a survival model's risk score and a plain regressor carry none, so their
    interval is the imputation's alone (zero width for a record without an imputed input).

    Returns
    -------
    tuple
        A table (``estimate``, ``lower``, ``upper``, ``within_variance``,
        ``between_variance``, ``total_variance``, ``share_from_imputation``,
        ``imputed_inputs``), one row per record, and the pooled result.

    Raises
    ------
    InvalidInputError
        For unreadable copies, a missing model or a feature the copies lack.
    """
    from healthtwin.prognosis.persistence import load_model
    from healthtwin.scenarios.prognosis_runs import MODEL_FILE

    imputation, columns = read_imputed_copies(copies)
    fitted, card = load_model(model_dir / MODEL_FILE)
    features = dict(card.features)
    missing = [c for c in features if c not in columns]
    if missing:
        raise InvalidInputError(
            f"the copies lack the model's feature(s) {missing}; they have {columns}"
        )

    def predict(copy: FloatArray) -> tuple[FloatArray, FloatArray]:
        frame = pd.DataFrame(copy, columns=columns)[list(features)]
        for name, kind in features.items():
            if kind == "category":
                frame[name] = frame[name].astype(str).astype("category")
        if hasattr(fitted, "predict_interval"):
            band = fitted.predict_interval(frame, alpha=0.1)
            sd = (np.asarray(band.upper) - np.asarray(band.lower)) / (2.0 * _Z90)
            return np.asarray(fitted.predict(frame), dtype=float), sd**2
        scores = fitted.predict_risk(frame) if hasattr(fitted, "predict_risk") else None
        estimate = np.asarray(fitted.predict(frame) if scores is None else scores, dtype=float)
        return estimate, np.zeros(len(frame))

    pooled = predict_over_imputations(predict, imputation, level=level)
    table = pd.DataFrame(
        {
            "estimate": pooled.estimate,
            "lower": pooled.lower,
            "upper": pooled.upper,
            "within_variance": pooled.within_variance,
            "between_variance": pooled.between_variance,
            "total_variance": pooled.total_variance,
            "share_from_imputation": pooled.share_from_imputation,
            "imputed_inputs": pooled.imputed_inputs.astype(int),
        }
    )
    return table, pooled
