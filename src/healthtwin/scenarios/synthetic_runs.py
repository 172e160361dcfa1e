"""Synthetic patients from a real table: fit a generator, sample it, score the result.

:func:`fit_generator` fits MST or AIM (differentially private, charging the privacy ledger
first) or a Gaussian copula on a real table and saves it. :func:`sample_generator` samples
rows of a saved generator; :func:`write_patient_records` simulates each sampled patient's
records (:func:`healthtwin.synthetic.longitudinal.generate_patients`) and writes them as
FHIR Bulk Data NDJSON (with one collection Bundle for small runs) or OMOP CDM 5.4 CSV
tables, ``chunk_patients`` at a time so that memory holds one chunk whatever the size:
chunk ``c`` simulates rows ``chunk_patients * c ...`` with the seed that
:class:`~healthtwin.core.random.RandomStreams` derives from the seed and the name
``chunk-<c>``, and ids continue across chunks (``synthetic-00000``...). The records depend
on the chunk size. :func:`score_synthetic` measures fidelity, utility and privacy
(:func:`healthtwin.synthetic.evaluation.evaluate`) and :func:`write_synthetic_report`
writes them as HTML and JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from healthtwin.core.random import RandomStreams
from healthtwin.errors import InvalidInputError, UnknownModelError
from healthtwin.governance.privacy_budget import (
    BudgetAccount,
    JsonLinesLedgerStore,
    PrivacyBudget,
    PrivacyLedger,
)
from healthtwin.synthetic.demographics import demographics_from_table
from healthtwin.synthetic.evaluation import EvaluationReport, evaluate, write_report
from healthtwin.synthetic.longitudinal import (
    LongitudinalConfig,
    SyntheticPatient,
    generate_patients,
)
from healthtwin.synthetic.tabular import FittedGenerator, TableSchema, load_generator

__all__ = [
    "GENERATORS",
    "EvaluationReport",
    "fit_generator",
    "read_table",
    "read_table_schema",
    "sample_generator",
    "score_synthetic",
    "write_patient_records",
    "write_synthetic_report",
]

#: The generators :func:`fit_generator` fits: differentially private MST and AIM, and copula.
GENERATORS: tuple[str, ...] = ("mst", "aim", "copula")


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV table, one row per patient.

    Raises
    ------
    InvalidInputError
        If the file cannot be read as CSV.

    Examples
    --------
    >>> read_table(Path("no/such.csv"))
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: cannot read no/such.csv as CSV: ...
    """
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"cannot read {path} as CSV: {err}") from err


def read_table_schema(path: Path) -> TableSchema:
    """Read public column metadata (JSON of ``TableSchema.to_dict``).

    Raises
    ------
    InvalidInputError
        If the file cannot be read or is not a schema.

    Examples
    --------
    >>> read_table_schema(Path("no/such.json"))
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: cannot read the schema no/such.json: ...
    """
    try:
        return TableSchema.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InvalidInputError(f"cannot read the schema {path}: {err}") from err


def fit_generator(
    table: pd.DataFrame,
    out: Path,
    *,
    method: str,
    dataset: str,
    ledger: Path,
    epsilon: float = 1.0,
    delta: float = 1e-9,
    bins: int = 10,
    schema: TableSchema | None = None,
    budget: float | None = None,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """Fit a generator on ``table``, save it into the folder ``out`` and say what it spent.

    Parameters
    ----------
    table
        The real table, one row per patient.
    out
        An existing folder for the fitted generator.
    method
        ``"mst"`` or ``"aim"`` (differentially private; the fit is charged to the ledger
        before it runs), or ``"copula"``.
    dataset
        The data set's name in the ledger.
    ledger
        Privacy ledger (JSON lines).
    epsilon, delta, bins
        DP budget of the fit and public equal-width bins per numeric column.
    schema
        Public column metadata; ``None`` infers it.
    budget
        Epsilon budget of the data set in the ledger (default ``epsilon``).
    seed
        Seed of the fit.
    progress
        Called with the fraction of the fit done (MST and AIM: of the budget spent) and
        what is running (``"round k"`` for AIM); the copula reports only its end.

    Returns
    -------
    dict
        The generator's privacy statement.

    Raises
    ------
    UnknownModelError
        If the method is none of :data:`GENERATORS`.

    Examples
    --------
    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> table = pd.DataFrame({"age_years": rng.integers(30, 80, 50),
    ...                       "sex": rng.choice(["F", "M"], 50)})
    >>> folder = Path(tempfile.mkdtemp())
    >>> privacy = fit_generator(table, folder, method="copula", dataset="demo",
    ...                         ledger=folder / "ledger.jsonl")
    >>> sample_generator(folder, 3, seed=1).shape
    (3, 2)
    """
    from healthtwin.synthetic.aim import AIM
    from healthtwin.synthetic.copula import GaussianCopula
    from healthtwin.synthetic.private_pgm import MST

    if method not in GENERATORS:
        raise UnknownModelError(f"unknown method {method!r}; choose one of {', '.join(GENERATORS)}")
    rng = np.random.default_rng(seed)
    fitted: FittedGenerator
    if method == "copula":
        fitted = GaussianCopula(schema=schema).fit(table, rng=rng)
        if progress is not None:
            progress(1.0, "fitted")
    else:
        cap = PrivacyBudget(budget if budget is not None else epsilon, delta)
        book = PrivacyLedger(
            JsonLinesLedgerStore(ledger),
            project_budgets={"synthetic-data": cap},
            dataset_budgets={dataset: cap},
            gaussian_delta=delta,
        )
        account = BudgetAccount(
            book, "synthetic-data", dataset, f"{method.upper()} synthetic table"
        )
        kind = AIM if method == "aim" else MST
        generator = kind(epsilon=epsilon, delta=delta, n_bins=bins, schema=schema, account=account)
        fitted = generator.fit(table, rng=rng, progress=progress)
    fitted.save(out)
    return fitted.privacy()


def sample_generator(model: Path, n: int, *, seed: int = 0) -> pd.DataFrame:
    """``n`` rows sampled from the generator saved in the folder ``model``."""
    return load_generator(model).sample(n, np.random.default_rng(seed))


def _chunks(
    table: pd.DataFrame,
    config: LongitudinalConfig,
    seed: int,
    chunk_patients: int,
    advance: Callable[[int], None],
) -> Iterator[Sequence[SyntheticPatient]]:
    """The patients of ``table`` simulated chunk by chunk (see the module notes)."""
    streams = RandomStreams(seed)
    for chunk, start in enumerate(range(0, len(table), chunk_patients)):
        rows = table.iloc[start : start + chunk_patients]
        chunk_seed = int(streams.sequence(f"chunk-{chunk}").generate_state(1)[0])
        yield generate_patients(
            demographics_from_table(rows), config=config, seed=chunk_seed, start_index=start
        )
        advance(len(rows))


def write_patient_records(
    table: pd.DataFrame,
    out: Path,
    *,
    format: Literal["fhir", "omop"],
    follow_up_days: int = 30,
    seed: int = 0,
    chunk_patients: int = 250,
    bundle_max_patients: int = 500,
    advance: Callable[[int], None] = lambda done: None,
) -> Path:
    """Simulate the records of every row of ``table`` and write them into the folder ``out``.

    Parameters
    ----------
    table
        Sampled patients with the columns ``age_years``, ``sex``, ``bmi_kg_m2`` and
        ``diabetes``.
    out
        An existing folder. ``fhir`` replaces its NDJSON files (``Patient.ndjson``,
        ``Observation.ndjson``...) and writes ``bundle.json`` when the table has at most
        ``bundle_max_patients`` rows (else removes an earlier one); ``omop`` writes the
        CDM tables.
    format
        ``"fhir"`` or ``"omop"``.
    follow_up_days, seed
        Days of simulated records per patient, and the root seed.
    chunk_patients
        Patients simulated and written at a time.
    advance
        Called with the number of patients of each chunk once it is written.

    Returns
    -------
    Path
        ``out``.

    Examples
    --------
    >>> import tempfile
    >>> table = pd.DataFrame({"age_years": [50, 60, 70], "sex": ["F", "M", "F"],
    ...                       "bmi_kg_m2": [24.0, 31.0, 27.0], "diabetes": [0, 1, 0]})
    >>> out = write_patient_records(table, Path(tempfile.mkdtemp()), format="fhir",
    ...                             follow_up_days=5, chunk_patients=2)
    >>> len((out / "Patient.ndjson").read_text().splitlines())
    3
    """
    config = LongitudinalConfig(follow_up_days=follow_up_days)
    chunks = _chunks(table, config, seed, chunk_patients, advance)
    if format == "fhir":
        return _write_fhir(chunks, len(table), out, bundle_max_patients)
    from healthtwin.synthetic.omop_output import SyntheticOmopWriter

    with SyntheticOmopWriter(out, description="healthtwin synth sample") as writer:
        for patients in chunks:
            writer.add(patients)
    return out


def _write_fhir(
    chunks: Iterator[Sequence[SyntheticPatient]], n: int, out: Path, bundle_max_patients: int
) -> Path:
    from healthtwin.synthetic.fhir_output import (
        NDJSON_TYPES,
        SyntheticBundleFile,
        write_synthetic_ndjson,
    )

    for rtype in NDJSON_TYPES:
        (out / f"{rtype}.ndjson").unlink(missing_ok=True)  # the writer appends
    bundle = out / "bundle.json"
    with ExitStack() as stack:
        whole = None
        if n <= bundle_max_patients:
            whole = stack.enter_context(SyntheticBundleFile(bundle))
        else:
            bundle.unlink(missing_ok=True)  # an earlier, smaller run's
        for patients in chunks:
            write_synthetic_ndjson(patients, out)
            if whole is not None:
                whole.add(patients)
    return out


def score_synthetic(
    real: Path,
    synthetic: Path,
    *,
    holdout: Path | None = None,
    target: str | None = None,
    model: Path | None = None,
    seed: int = 0,
) -> EvaluationReport:
    """Fidelity, utility and privacy of the synthetic table against the real one.

    Parameters
    ----------
    real, synthetic
        CSV tables: the one the generator was fitted on, and its synthetic rows.
    holdout
        Real rows the generator never saw (needed for utility and the privacy attacks).
    target
        Column predicted in the utility task (default: the last).
    model
        The generator's folder: its schema and privacy statement join the report.
    seed
        Seed of the classifiers and attacks.

    Examples
    --------
    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("real", "synthetic"):
    ...     pd.DataFrame({"age_years": rng.integers(30, 80, 60),
    ...                   "diabetes": rng.integers(0, 2, 60)}).to_csv(
    ...         folder / f"{name}.csv", index=False)
    >>> found = score_synthetic(folder / "real.csv", folder / "synthetic.csv")
    >>> found.discriminator_real, "utility" in found.missing
    ('training', True)
    """
    fitted = load_generator(model) if model is not None else None
    return evaluate(
        read_table(real),
        read_table(synthetic),
        rng=np.random.default_rng(seed),
        holdout=None if holdout is None else read_table(holdout),
        target=target,
        schema=None if fitted is None else fitted.schema,
        privacy=None if fitted is None else fitted.privacy(),
    )


def write_synthetic_report(report: EvaluationReport, out: Path) -> Path:
    """Write ``report`` as HTML to ``out`` and as JSON beside it; return the JSON's path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    write_report(report, out)
    beside = out.with_suffix(".json")
    write_report(report, beside)
    return beside
