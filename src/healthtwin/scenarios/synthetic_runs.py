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

The privacy ledger: by default one file shared by every fit,
``$HEALTHTWIN_HOME/privacy_ledger.jsonl`` (:func:`default_ledger`; ``~/.healthtwin`` without
the variable), so a new output folder does not start a new budget. A data set is keyed by
the SHA-256 of its file's bytes (:func:`dataset_key`), so a renamed copy is the same data
set; the file name is kept as a readable label. Fits compose in zCDP (rhos add up), and a
data set's budget is fixed by its first DP fit and recorded in the ledger
(:func:`~healthtwin.governance.privacy_budget.fix_budget`): later fits spend within it and
cannot raise it. :func:`write_schema_template` writes an editable public schema (YAML) whose
bounds and bins the data custodian replaces with public knowledge; :func:`fit_warnings`
says when a DP fit would infer its schema from the data instead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from healthtwin.core.random import RandomStreams
from healthtwin.errors import (
    ConsentError,
    InvalidInputError,
    InvalidParameterError,
    UnknownModelError,
)
from healthtwin.governance.privacy_budget import (
    BudgetAccount,
    Composition,
    JsonLinesLedgerStore,
    PrivacyBudget,
    PrivacyCost,
    PrivacyLedger,
    fix_budget,
)
from healthtwin.synthetic.demographics import demographics_from_table
from healthtwin.synthetic.evaluation import EvaluationReport, evaluate, write_report
from healthtwin.synthetic.longitudinal import (
    LongitudinalConfig,
    SyntheticPatient,
    generate_patients,
)
from healthtwin.synthetic.tabular import (
    ColumnKind,
    FittedGenerator,
    TableSchema,
    load_generator,
    schema_template,
)

__all__ = [
    "GENERATORS",
    "LEDGER_FILE",
    "EvaluationReport",
    "dataset_key",
    "default_ledger",
    "fit_generator",
    "fit_warnings",
    "read_table",
    "read_table_schema",
    "sample_generator",
    "score_synthetic",
    "write_patient_records",
    "write_schema_template",
    "write_synthetic_report",
]

#: The generators :func:`fit_generator` fits: differentially private MST and AIM, and copula.
GENERATORS: tuple[str, ...] = ("mst", "aim", "copula")
#: The differentially private ones, which charge the privacy ledger.
DP_GENERATORS: tuple[str, ...] = ("mst", "aim")
#: The shared ledger's file name inside ``$HEALTHTWIN_HOME``.
LEDGER_FILE = "privacy_ledger.jsonl"
#: The project every synthesis of a data set is charged to (one per data set).
_PROJECT = "synthetic-data"
_SCHEMA_HEADER = """\
# Public schema for `healthtwin synth fit --schema` (differentially private MST and AIM).
#
# Bounds, categories and bins MUST come from public knowledge (clinical reference ranges,
# code lists, the data dictionary), NOT from the data: the DP guarantee covers only what
# the fit measures, and treats this file as public. The values below were filled in from
# {source} as a starting point: replace every bound with a public one before a DP fit.
#
# kind: categorical (categories), integer, continuous or date (lower/upper; dates as
# YYYY-MM-DD). bins, per numeric column: `n` bins with `scale: linear` (equal widths) or
# `scale: log` (equal ratios; for skewed, positive values such as lab results; lower > 0),
# or explicit `edges: [e0, e1, ...]` (strictly increasing).
"""


def default_ledger() -> Path:
    """The privacy ledger shared by every fit: ``$HEALTHTWIN_HOME/privacy_ledger.jsonl``.

    ``HEALTHTWIN_HOME`` defaults to ``~/.healthtwin``; the variable is read at each call.

    Examples
    --------
    >>> default_ledger().name
    'privacy_ledger.jsonl'
    """
    home = os.environ.get("HEALTHTWIN_HOME", "").strip()
    return Path(home or "~/.healthtwin").expanduser() / LEDGER_FILE


def dataset_key(path: Path) -> str:
    """The ledger's key of a data file: ``sha256:`` and the hex digest of its bytes.

    A renamed or moved copy has the same key, so it shares the budget.

    Raises
    ------
    InvalidInputError
        If the file cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> file = Path(tempfile.mkdtemp()) / "real.csv"
    >>> _ = file.write_bytes(b"age\\n61\\n")
    >>> dataset_key(file)[:15]
    'sha256:7f88252d'
    """
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise InvalidInputError(f"cannot read {path} to key it in the ledger: {err}") from err
    return f"sha256:{digest.hexdigest()}"


def fit_warnings(method: str, schema: TableSchema | None) -> tuple[str, ...]:
    """What a fit should warn about: a DP fit whose schema would be inferred from the data.

    Examples
    --------
    >>> fit_warnings("copula", None)
    ()
    >>> fit_warnings("mst", None)[0][:60]
    'no --schema: the bounds and categories of a DP fit are infer'
    """
    if method not in DP_GENERATORS or schema is not None:
        return ()
    return (
        "no --schema: the bounds and categories of a DP fit are inferred from the data, "
        "which is outside the differential-privacy guarantee; write a template with "
        "`healthtwin synth schema`, replace its bounds with public knowledge and pass it "
        "with --schema",
    )


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
    """Read public column metadata: YAML (``synth schema``) or JSON of ``TableSchema.to_dict``.

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
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        record = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return TableSchema.from_dict(record)
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as err:
        raise InvalidInputError(f"cannot read the schema {path}: {err}") from err


def write_schema_template(
    table: pd.DataFrame, path: Path, *, n_bins: int = 10, source: str = "the data"
) -> TableSchema:
    """Write an editable public schema (YAML) for ``table`` to ``path``; return it.

    Kinds, categories, bounds and bins come from
    :func:`~healthtwin.synthetic.tabular.schema_template` (log-scale bins for skewed
    positive columns); a comment at the top says that the bounds must be replaced by public
    knowledge before a DP fit. :func:`read_table_schema` reads the file back.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "schema.yaml"
    >>> table = pd.DataFrame({"age": [61, 70, 55], "sex": ["F", "M", "F"]})
    >>> _ = write_schema_template(table, path)
    >>> read_table_schema(path).names
    ('age', 'sex')
    """
    import yaml

    schema = schema_template(table, n_bins=n_bins)
    record = schema.to_dict()
    for spec, column in zip(schema.columns, record["columns"], strict=True):
        if spec.kind is ColumnKind.CATEGORICAL:
            del column["lower"], column["upper"]
            continue
        del column["categories"]
        if spec.kind is ColumnKind.DATE:
            for bound in ("lower", "upper"):
                day = np.datetime64("1970-01-01", "D") + round(float(column[bound]))
                column[bound] = str(day)
    body = yaml.safe_dump(record, sort_keys=False, default_flow_style=None, allow_unicode=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_SCHEMA_HEADER.format(source=source) + body, encoding="utf-8")
    return schema


def fit_generator(
    table: pd.DataFrame,
    out: Path,
    *,
    method: str,
    dataset: str,
    ledger: Path | None = None,
    epsilon: float = 1.0,
    delta: float = 1e-9,
    bins: int = 10,
    schema: TableSchema | None = None,
    budget: float | None = None,
    budget_delta: float | None = None,
    label: str = "",
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
        The data set's key in the ledger (:func:`dataset_key` of its file).
    ledger
        Privacy ledger (JSON lines); ``None`` is the shared :func:`default_ledger`.
    epsilon, delta, bins
        DP guarantee of the fit, and public equal-width bins per numeric column whose
        schema gives no bins of its own.
    schema
        Public column metadata; ``None`` infers it (see :func:`fit_warnings`).
    budget, budget_delta
        The data set's ``(epsilon, delta)`` budget. The first DP fit of a data set records
        it in the ledger (``None``: this fit's ``epsilon`` and ``delta``); later fits spend
        within the recorded budget, and giving a different one is refused.
    label
        A readable name of the data set (its file name) for the ledger's records.
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
    ConsentError
        The data set's recorded budget differs from ``budget``/``budget_delta``, or the
        fit does not fit in what remains of it (nothing is fitted or charged).

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
        kind = AIM if method == "aim" else MST
        generator = kind(epsilon=epsilon, delta=delta, n_bins=bins, schema=schema)
        account = _account(
            ledger or default_ledger(), dataset, label, method, PrivacyBudget(epsilon, delta),
            budget, budget_delta, generator.rho,
        )  # fmt: skip
        fitted = replace(generator, account=account).fit(table, rng=rng, progress=progress)
    fitted.save(out)
    return fitted.privacy()


def _account(
    path: Path,
    dataset: str,
    label: str,
    method: str,
    fit: PrivacyBudget,
    budget: float | None,
    budget_delta: float | None,
    rho: float,
) -> BudgetAccount:
    """The ledger account of a DP fit, its budget fixed, checked to hold the fit's ``rho``."""
    if budget_delta is not None and not 0 < budget_delta < 1:
        raise InvalidParameterError(
            f"the budget's delta must be in (0, 1) for zCDP accounting, got {budget_delta!r}; "
            "e.g. 1e-9"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    store = JsonLinesLedgerStore(path)
    shown = f"{label} ({dataset})" if label else dataset
    cap = fix_budget(
        store, "dataset", dataset, epsilon=budget, delta=budget_delta, default=fit, label=label
    )
    project = f"{_PROJECT}/{dataset}"
    book = PrivacyLedger(
        store,
        project_budgets={project: cap},
        dataset_budgets={dataset: cap},
        composition=Composition.ZCDP,
    )
    try:
        book.check(project, dataset, PrivacyCost(rho=rho))
    except ConsentError as err:
        spent = book.spent(dataset=dataset)
        raise ConsentError(
            f"data set {shown}: this {method.upper()} fit at epsilon {fit.epsilon}, delta "
            f"{fit.delta} (rho={rho:.6g}) does not fit in its budget (epsilon {cap.epsilon}, "
            f"delta {cap.delta}), which has spent epsilon {float(spent.epsilon):.6g} "
            f"(rho={float(spent.rho):.6g}) in {path}. {err}"
        ) from err
    query = f"{method.upper()} synthetic table" + (f" of {label}" if label else "")
    return BudgetAccount(book, project, dataset, query)


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
    time: str | None = None,
    horizon: float | None = None,
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
    time, horizon
        The follow-up column of a censored event ``target`` and the horizon (default: the
        real table's median follow-up): utility is then the IPCW AUROC of the event by
        the horizon, with Harrell's C (:func:`~healthtwin.synthetic.evaluate`).

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
        time=time,
        horizon=horizon,
    )


def write_synthetic_report(report: EvaluationReport, out: Path) -> Path:
    """Write ``report`` as HTML to ``out`` and as JSON beside it; return the JSON's path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    write_report(report, out)
    beside = out.with_suffix(".json")
    write_report(report, beside)
    return beside
