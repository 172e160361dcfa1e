"""Virtual cohorts matched to published targets, and multiple imputation of a table.

:func:`load_cohort` reads a YAML cohort specification and, given a country, shapes its
ages by that country's UN WPP population pyramid within the spec's inclusion range
(:func:`healthtwin.coupling.regional_cohorts.regional_spec`); :func:`generate_virtual_cohort`
samples, checks, matches (entropy balancing) and validates the cohort
(:func:`healthtwin.synthetic.cohort.generate_cohort`). :func:`read_numeric_table` and
:func:`impute_table` fill the empty cells of a numeric table by multiple imputation
(:func:`healthtwin.synthetic.imputation.multiple_imputation`) and write the completed
table with the imputed-cell flags and the between-imputation variances.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from healthtwin.errors import InvalidInputError
from healthtwin.synthetic.cohort import COHORT_STAGES, VirtualCohort, generate_cohort
from healthtwin.synthetic.cohort_spec import CohortSpec, load_cohort_spec
from healthtwin.synthetic.imputation import multiple_imputation

__all__ = [
    "COHORT_STAGES",
    "CohortSpec",
    "VirtualCohort",
    "generate_virtual_cohort",
    "impute_table",
    "load_cohort",
    "read_numeric_table",
]


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
    on_progress: Callable[[int, int], None] | None = None,
) -> VirtualCohort:
    """``n`` members matched to the spec's targets from ``n * oversample`` candidates.

    ``on_progress`` receives ``(stages done, stages)`` (:func:`generate_cohort`).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "cohort.yaml"
    >>> _ = path.write_text("name: demo\\ntargets: {female_fraction: 0.4}\\n")
    >>> generate_virtual_cohort(load_cohort(path), 20, seed=1, oversample=3).n
    20
    """
    return generate_cohort(spec, n, seed=seed, oversample=oversample, on_progress=on_progress)


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
    on_copy: Callable[[int], None] | None = None,
) -> int:
    """Impute ``m`` copies of ``frame``; write their mean, flags and variances.

    ``on_copy`` receives the number of copies completed after each one.

    Writes ``out`` (the mean of the completed copies), ``<out>_imputed.csv`` (1 where a
    cell was imputed) and ``<out>_variance.csv`` (between-imputation variance per cell).

    Returns
    -------
    int
        The number of imputed cells.

    Examples
    --------
    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    >>> frame.iloc[::7, 1] = np.nan
    >>> out = Path(tempfile.mkdtemp()) / "completed.csv"
    >>> impute_table(frame, out, m=2)
    6
    >>> int(pd.read_csv(out).isna().sum().sum())
    0
    """
    result = multiple_imputation(
        frame.to_numpy(dtype=np.float64),
        m=m,
        method=method,
        rng=np.random.default_rng(seed),
        on_copy=on_copy,
    )
    columns = list(frame.columns)
    pd.DataFrame(result.mean, columns=columns).to_csv(out, index=False)
    stem = out.with_suffix("")
    pd.DataFrame(result.mask.astype(int), columns=columns).to_csv(
        f"{stem}_imputed.csv", index=False
    )
    pd.DataFrame(result.variance, columns=columns).to_csv(f"{stem}_variance.csv", index=False)
    return int(result.mask.sum())
