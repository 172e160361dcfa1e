"""Tabular generators' cost and quality, side by side with a peer Gaussian copula.

Data: real clinical tables shipped in packages (``healthtwin.prognosis.datasets``):
whas500 (500 rows), gbsg2 (686) and flchain (7,874), their features, the follow-up time
(``followup_days``) and the outcome (``died``/``recurred`` yes/no, observed within
follow-up), rows with a missing value dropped (flchain: 6,524 left).

Quality over random splits. Each data set is split in half at random ``N_SPLITS`` times
(split ``s``: permutation seed ``s``); the generator sees the first half, the second is
the holdout for utility, distance to closest record, the membership attack and the
discriminator. Figures come from ``healthtwin.synthetic.evaluate`` with as many
synthetic rows as training rows. Each figure is the mean over the splits, with
``<figure>_ci``: mean +- t(0.975, n - 1) SD / sqrt(n) over the n splits (a t interval,
wider than 1.96 SE for 5 splits); ``per_split`` keeps every value. The halves of
different splits overlap, so the interval is the split-to-split spread, not a
sampling interval of a new data set.

Utility respects censoring: the prognosis task is "the event by the horizon", the
horizon the median follow-up of the whole real table (``horizon_days``), with patients
censored before it weighted out and the others weighted by the inverse probability of
censoring (IPCW; :mod:`healthtwin.synthetic.utility`). ``trtr_auroc`` / ``tstr_auroc`` are
that task's IPCW AUROC on the real holdout; ``trtr_c_index`` / ``tstr_c_index`` Harrell's
C of the same models' risk on every holdout row. ``followup_days`` is one of the
synthesized columns (not a predictor).

Generators: ours (``copula``: Gaussian copula with empirical marginals; ``mst_eps1`` and
``mst_eps10``: MST through private-pgm at epsilon 1 and 10, delta 1e-9, 10 public bins)
and the peer ``synthia_copula``: synthia 1.1.0's ``CopulaDataGenerator`` with a
``GaussianCopula`` and 100-quantile marginals (MIT; ``copulas`` 0.14.1, the first choice,
is under the Business Source License, so it is not used). synthia takes a numeric matrix:
it gets our encoding (category codes as continuous numbers: its Gaussian copula takes
continuous features only) and its samples are decoded by our schema.

AIM (``aim_eps1`` and ``aim_eps10``: :class:`healthtwin.synthetic.AIM` at epsilon 1 and
10, delta 1e-9, the all-2-way workload, 10 public bins, ``max_model_size_mb=0.01``,
100 mirror-descent iterations a round and 1,000 for the last estimate; at epsilon 10
``rounds=48`` instead of the paper's ``16 d``, under which the budget anneals only after
hundreds of estimates) runs on every data set, each fit in a fresh child process
(``benchmarks.synthetic_aim_worker``), ``AIM_PARALLEL`` children at a time while the
other generators run in this process. Its quality comes from up to ``AIM_SPLITS``
training-half fits (splits 0, 1, ...): a split's fit starts only while the run is
younger than ``AIM_START_BY_S``, so ``splits`` says how many were done. Its time is
one fit and one sample of the 10,000 timing rows per (data set, epsilon)
(``timing_runs: 1``), started first and longest first; whas500 at epsilon 10 took
longest (see ``docs/synthetic.md``). A crash, or a child past ``AIM_TIMEOUT_S`` or still
running ``AIM_DEADLINE_S`` into the run, is written as ``"status": "failed: <which fit>:
<reason>"``, never raised; a timed-out child's ``*_rounds_reached`` and ``*_elapsed_s``
come from the progress it wrote.
``rounds`` and ``timing_rounds`` are the rounds each fit measured, ``round_s_median``
and ``timing_round_s_median`` the median seconds of one round (selection and estimate).
The children compile with ``XLA_FLAGS`` ``AIM_XLA_FLAGS`` (no LLVM optimisation: AIM's
cost is compiling small programs, not running them). Candidates are scored in numpy
(:mod:`healthtwin.synthetic.junction_marginals`) and only the estimate after each
measurement is compiled.

Cost: wall-clock seconds to fit on 10,000 rows (split 0's training half resampled with
replacement to 10,000 rows) and to sample 10,000 rows, one process. For the copulas and
MST: ``TIMING_REPEATS`` fits and samples after a warm-up (split 0's fit, whose time is
``first_fit_s``: jax compiles MST's estimator on first use); ``fit_s_per_10k_rows`` and
``sample_s_per_10k_rows`` are the medians, ``*_range`` the minimum and maximum,
``*_runs`` every run. AIM: one timing fit in a fresh process (its seconds include its
compilations). ``speed_vs_peer`` = peer median seconds / ours. Each data set's copulas
and MST run in a process of their own (the three at once, beside the AIM children). The
machine's 2 CPU cores are shared by these processes and by whatever else ran at the time
(the run's load average is recorded), so seconds are those of a loaded machine; the
ratios compare fits timed side by side in one process. Run
``python -m benchmarks.synthetic [--quick]``; writes ``benchmarks/results/synthetic.json``
(``--quick``: whas500 only, 2 splits, 1 timing run, no AIM, nothing written).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pickle
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
from scipy import stats

from healthtwin.prognosis.datasets import load_dataset
from healthtwin.synthetic import MST, GaussianCopula, TableSchema, evaluate

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "synthetic.json"
DATASETS = {"whas500": "died", "gbsg2": "recurred", "flchain": "died"}
#: The follow-up column added to every table (the outcome is observed within it).
TIME_COLUMN = "followup_days"
TIMING_ROWS = 10_000
#: Random train/holdout splits behind every quality figure (copulas and MST).
N_SPLITS = 5
#: Timed fits and samples of the 10,000 rows (copulas and MST); AIM: 1.
TIMING_REPEATS = 3
#: AIM's settings in the benchmark (see the module docstring), per label.
AIM_RUNS: dict[str, dict[str, Any]] = {
    "aim_eps1": {"epsilon": 1.0, "max_model_size_mb": 0.01, "iters": 100, "final_iters": 1000},
    "aim_eps10": {"epsilon": 10.0, "max_model_size_mb": 0.01, "iters": 100,
                  "final_iters": 1000, "rounds": 48},
}  # fmt: skip
#: Data sets AIM is fitted on, and why the others are not.
AIM_DATASETS = ("whas500", "gbsg2", "flchain")
AIM_SKIPPED: dict[str, str] = {}
#: Training-half fits of AIM per (data set, epsilon), splits 0, 1, ...
AIM_SPLITS = 3
#: No AIM split fit starts later than this many seconds into the run (compute budget).
AIM_START_BY_S = 1200.0
#: Wall-clock limit of one AIM child process (one fit and its sample).
AIM_TIMEOUT_S = 2400.0
#: Every AIM child is stopped this many seconds into the run (the compute budget), and
#: written as timed out with the rounds it reached.
AIM_DEADLINE_S = 2700.0
#: AIM children run at the same time (beside the other generators).
AIM_PARALLEL = 4
#: Cheaper XLA compilation in the AIM child: AIM's cost is compiling one small jax program
#: per candidate marginal and model structure, not running them.
AIM_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
#: Figures averaged over splits (each with ``<name>_ci``).
FIGURES = (
    "mean_column_distance", "correlation_difference", "contingency_difference",
    "discriminator_auc", "trtr_auroc", "tstr_auroc", "trtr_c_index", "tstr_c_index",
    "dcr_ratio", "share_closer_to_train", "membership_advantage",
)  # fmt: skip


def _table(name: str) -> pd.DataFrame:
    data = load_dataset(name)
    table = data.features.copy()
    follow_up, event = data.survival_target()
    table[TIME_COLUMN] = np.asarray(follow_up, dtype=float)
    table[DATASETS[name]] = np.where(event, "yes", "no")
    # flchain lacks creatinine for 1,350 rows; generators take complete rows only.
    return table.dropna().reset_index(drop=True)


_NUMPY_QUANTILE = np.quantile


def _quantile(*args: Any, interpolation: str | None = None, **kwargs: Any) -> Any:
    if interpolation is not None:
        kwargs["method"] = interpolation
    return _NUMPY_QUANTILE(*args, **kwargs)


class _Synthia:
    """synthia's Gaussian copula behind our fit/sample contract (benchmark only)."""

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema

    def fit(self, table: pd.DataFrame, *, rng: np.random.Generator) -> _Synthia:
        import synthia  # type: ignore[import-untyped]

        # synthia's Gaussian copula models continuous features only ("disc"/"cat" need its
        # vine copulas, which need pyvinecopulib): codes go in as numbers, decode rounds them.
        self.generator = synthia.CopulaDataGenerator()
        self.generator.fit(
            self.schema.encode(table),
            copula=synthia.GaussianCopula(),
            types="cont",
            parameterize_by=synthia.QuantileParameterizer(n_quantiles=100),
        )
        return self

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        # synthia 1.1.0 calls np.quantile(interpolation=...), removed in NumPy 2: translate.
        with mock.patch.object(np, "quantile", _quantile):
            matrix = self.generator.generate(n, seed=int(rng.integers(2**31)))
        return self.schema.decode(np.asarray(matrix, dtype=float))


def _generators(schema: TableSchema) -> dict[str, Callable[[], Any]]:
    return {
        "copula": lambda: GaussianCopula(schema=schema),
        "mst_eps1": lambda: MST(epsilon=1.0, schema=schema),
        "mst_eps10": lambda: MST(epsilon=10.0, schema=schema),
        "synthia_copula": lambda: _Synthia(schema),
    }


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _sig3(x: float) -> float:
    """``x`` to three significant figures (ratios span 1e-4 to 1e2).

    Examples
    --------
    >>> _sig3(0.000325432), _sig3(13.3712)
    (0.000325, 13.4)
    """
    return float(f"{x:.3g}")


def interval(values: Sequence[float]) -> tuple[float, list[float] | None]:
    """Mean and 95 % t interval (mean +- t(0.975, n - 1) SD / sqrt(n)); None for n < 2.

    Examples
    --------
    >>> interval([1.0, 2.0, 3.0])
    (2.0, [-0.4841, 4.4841])
    >>> interval([0.5])
    (0.5, None)
    """
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if x.size < 2:
        return mean, None
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, [round(mean - half, 4), round(mean + half, 4)]


def summarise(per_split: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's mean over the splits, its ``_ci``, ``splits`` and ``per_split``.

    Examples
    --------
    >>> out = summarise([{"dcr_ratio": 1.0, "epsilon": 1.0}, {"dcr_ratio": 1.2,
    ...                  "epsilon": 1.0}])
    >>> out["dcr_ratio"], out["dcr_ratio_ci"][0] < 1.0 < 1.2 < out["dcr_ratio_ci"][1]
    (1.1, True)
    >>> out["splits"], out["epsilon"], out["per_split"]["dcr_ratio"]
    (2, 1.0, [1.0, 1.2])
    """
    out: dict[str, Any] = {}
    for key in per_split[0]:
        values = [split[key] for split in per_split]
        if key in FIGURES and all(v is not None for v in values):
            out[key], out[f"{key}_ci"] = interval(values)
            out[key] = round(out[key], 6)
        else:
            out[key] = values[0]
    out["splits"] = len(per_split)
    out["per_split"] = {
        key: [split[key] for split in per_split] for key in FIGURES if key in per_split[0]
    }
    return out


def _fit(make: Callable[[], Any], table: pd.DataFrame, seed: int) -> Any:
    return make().fit(table, rng=np.random.default_rng(seed))


def _figures(report: Any) -> dict[str, Any]:
    record = report.to_dict()
    return {
        "mean_column_distance": record["mean_column_distance"],
        "correlation_difference": record["correlation_difference"],
        "contingency_difference": record["contingency_difference"],
        "discriminator_auc": record["discriminator_auc"],
        "trtr_auroc": record["utility"]["trtr"],
        "tstr_auroc": record["utility"]["tstr"],
        "trtr_c_index": record["utility"].get("trtr_c_index"),
        "tstr_c_index": record["utility"].get("tstr_c_index"),
        "horizon_days": record["utility"].get("horizon"),
        "dcr_ratio": record["dcr"]["ratio"],
        "share_closer_to_train": record["dcr"]["share_closer_to_train"],
        "membership_advantage": record["membership"]["advantage"],
        "epsilon": record["privacy"].get("epsilon"),
    }


def _evaluate(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    schema: TableSchema,
    target: str,
    privacy: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """The figures of one split (censoring-aware utility when the table has follow-up)."""
    follow_up = TIME_COLUMN if TIME_COLUMN in schema.names else None
    horizon = None
    if follow_up is not None:  # the whole real table's median follow-up, every split
        horizon = float(np.median(pd.concat([train, holdout])[TIME_COLUMN]))
    report = evaluate(train, synthetic, rng=np.random.default_rng(seed), holdout=holdout,
                      target=target, schema=schema, privacy=privacy, plots=False,
                      time=follow_up, horizon=horizon)  # fmt: skip
    return _figures(report)


def run_child(command: Sequence[str], timeout_s: float, env: dict[str, str] | None = None) -> str:
    """Run ``command`` from the repository root; ``"ok"`` or ``"failed: <reason>"``.

    A crash (non-zero exit or a signal) or running past ``timeout_s`` (the child is
    killed) is reported, never raised, so one bad fit cannot end the benchmark.

    Examples
    --------
    >>> run_child([sys.executable, "-c", "pass"], 60.0)
    'ok'
    >>> run_child([sys.executable, "-c", "raise SystemExit('no data')"], 60.0)
    'failed: exit 1: no data'
    """
    try:
        done = subprocess.run(
            list(command), cwd=ROOT, env={**os.environ, **(env or {})},
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"failed: timed out after {timeout_s:g} s"
    if done.returncode == 0:
        return "ok"
    code = done.returncode
    reason = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    return f"failed: {reason}" + (f": {lines[-1][:300]}" if lines else "")


def _aim_child(
    job: dict[str, Any], timeout_s: float, deadline: float | None = None
) -> tuple[str, dict[str, Any], Any, dict[str, Any]]:
    """One AIM fit (and sample) in a fresh process: status, result.json, rows, progress.

    ``deadline`` (a ``time.monotonic()`` instant) shortens ``timeout_s`` to end by then.
    """
    if deadline is not None:
        timeout_s = min(timeout_s, float(max(round(deadline - time.monotonic()), 1)))
    with tempfile.TemporaryDirectory(prefix="aim-") as tmp:
        folder = Path(tmp)
        (folder / "job.pkl").write_bytes(pickle.dumps(job))
        command = [sys.executable, "-m", "benchmarks.synthetic_aim_worker", str(folder)]
        status = run_child(command, timeout_s, {"XLA_FLAGS": AIM_XLA_FLAGS})
        progress_file = folder / "progress.json"
        progress = json.loads(progress_file.read_text()) if progress_file.exists() else {}
        if not (folder / "result.json").exists():
            return status, {}, None, progress
        result = json.loads((folder / "result.json").read_text())
        rows = folder / "synthetic.pkl"
        synthetic = pickle.loads(rows.read_bytes()) if rows.exists() else None
        return status, result, synthetic, progress


def aim_split(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    schema: TableSchema,
    target: str,
    settings: dict[str, Any],
    split: int = 0,
    timeout_s: float = AIM_TIMEOUT_S,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Fit AIM on one split's training half in a child; evaluate its rows here.

    Returns ``status`` (``"ok"`` or ``"failed: fit on the training half: <reason>"``)
    and, when the fit finished, its figures, ``fit_s`` (a fresh process: jax's
    compilations included), ``rounds`` and ``round_s_median``.
    """
    job = {"schema": schema, "settings": settings, "keep_rows": True, "table": train,
           "fit_seed": 100 + split, "sample_seed": 200 + split, "n_rows": len(train)}  # fmt: skip
    status, result, synthetic, progress = _aim_child(job, timeout_s, deadline)
    row: dict[str, Any] = {"status": status.replace("failed: ", "failed: fit on the "
                                                   "training half: ", 1)}  # fmt: skip
    if synthetic is None:
        row.update(rounds_reached=progress.get("rounds"), elapsed_s=progress.get("elapsed_s"))
        return row
    figures = _evaluate(train, synthetic, holdout, schema=schema, target=target,
                        privacy=result["privacy"], seed=300 + split)  # fmt: skip
    return {**row, "figures": figures, "fit_s": round(result["fit_s"], 4),
            "rounds": result["privacy"].get("rounds"),
            "round_s_median": result.get("round_s_median")}  # fmt: skip


def aim_timing(
    big: pd.DataFrame,
    *,
    schema: TableSchema,
    settings: dict[str, Any],
    timeout_s: float = AIM_TIMEOUT_S,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Fit AIM on the timing rows and sample as many, once, in a child process.

    A child that does not finish keeps ``timing_rounds_reached`` and
    ``timing_elapsed_s`` (from its progress file) instead of a blank.
    """
    job = {"schema": schema, "settings": settings, "keep_rows": False, "table": big,
           "fit_seed": 5, "sample_seed": 6, "n_rows": len(big)}  # fmt: skip
    status, result, _, progress = _aim_child(job, timeout_s, deadline)
    row: dict[str, Any] = {"status": status.replace("failed: ", "failed: timing fit: ", 1)}
    if not result:
        row.update(timing_rounds_reached=progress.get("rounds"),
                   timing_elapsed_s=progress.get("elapsed_s"))  # fmt: skip
        return row
    return {**row, "fit_s_per_10k_rows": round(result["fit_s"], 4),
            "sample_s_per_10k_rows": round(result["sample_s"], 4), "timing_runs": 1,
            "timing_rounds": result["privacy"].get("rounds"),
            "timing_round_s_median": result.get("round_s_median")}  # fmt: skip


def aim_row(
    settings: dict[str, Any], splits: Sequence[dict[str, Any]], timing: dict[str, Any]
) -> dict[str, Any]:
    """One AIM row: the splits' figures summarised, split 0's fit, the timing fit.

    ``status`` is the first failure (``"ok"`` if none); ``splits_skipped`` counts split
    fits not started for the compute budget.
    """
    done = [s for s in splits if "figures" in s]
    failed = [s["status"] for s in (*splits, timing) if s.get("status", "ok") != "ok"]
    row: dict[str, Any] = {"status": failed[0] if failed else "ok", "settings": settings}
    if done:
        row.update(summarise([s["figures"] for s in done]))
        row.update(first_fit_s=done[0]["fit_s"], rounds=done[0]["rounds"],
                   round_s_median=done[0]["round_s_median"],
                   rounds_per_split=[s["rounds"] for s in done],
                   fit_s_per_split=[s["fit_s"] for s in done])  # fmt: skip
    else:
        row["splits"] = 0
    row["splits_skipped"] = sum(1 for s in splits if "skipped" in s)
    for s in splits:
        if "rounds_reached" in s:
            row.setdefault("failed_split_rounds_reached", []).append(s["rounds_reached"])
    row.update({k: v for k, v in timing.items() if k != "status"})
    return row


def run_aim(
    train: pd.DataFrame,
    big: pd.DataFrame,
    holdout: pd.DataFrame,
    *,
    schema: TableSchema,
    target: str,
    settings: dict[str, Any],
    timeout_s: float = AIM_TIMEOUT_S,
) -> dict[str, Any]:
    """Fit, sample and time AIM on one split, each fit in a fresh child; evaluate here.

    The child (``benchmarks.synthetic_aim_worker``) gets a table, ``schema`` and
    ``settings`` (keyword arguments of :class:`healthtwin.synthetic.AIM`) through a
    temporary folder. The first fits ``train`` (:func:`aim_split`), the second ``big``
    (:func:`aim_timing`). ``status`` is ``"ok"`` or ``"failed: <which fit>: <reason>"``;
    the figures of a fit that finished are kept. ``timeout_s`` bounds each child.
    """
    split = aim_split(train, holdout, schema=schema, target=target, settings=settings,
                      timeout_s=timeout_s)  # fmt: skip
    timing = aim_timing(big, schema=schema, settings=settings, timeout_s=timeout_s)
    return aim_row(settings, [split], timing)


def _split(
    name: str, split: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, TableSchema]:
    """One split's training half and holdout, the 10,000 timing rows (from split 0) and
    the schema of a data set."""
    table = _table(name)
    half = len(table) // 2
    first = np.random.default_rng(0).permutation(len(table))[:half]
    big = table.iloc[first].reset_index(drop=True)
    big = big.iloc[np.random.default_rng(1).integers(0, half, TIMING_ROWS)]
    order = np.random.default_rng(split).permutation(len(table))
    train = table.iloc[order[:half]].reset_index(drop=True)
    holdout = table.iloc[order[half:]].reset_index(drop=True)
    return train, holdout, big, TableSchema.infer(table)


def _aim_jobs(
    names: Sequence[str], pool: ThreadPoolExecutor, started: float
) -> dict[tuple[str, str], Any]:
    """Start every AIM fit in child processes, ``AIM_PARALLEL`` at a time: the timing fits
    first (the longest first), then split 0's, then later splits while the budget lasts."""
    jobs: dict[tuple[str, str], Any] = {}
    deadline = started + AIM_DEADLINE_S
    order = sorted(names, key=lambda n: n == "gbsg2")  # the widest tables first
    runs = [(n, label) for label in reversed(AIM_RUNS) for n in order if n in AIM_DATASETS]
    for name in names:
        for label in AIM_RUNS:
            if name not in AIM_DATASETS:
                jobs[name, label] = {"skipped": AIM_SKIPPED[name]}
    for name, label in runs:
        _, _, big, schema = _split(name)
        jobs[name, label] = {
            "timing": pool.submit(
                aim_timing, big, schema=schema, settings=AIM_RUNS[label], deadline=deadline
            ),
            "splits": [],
        }
    for split in range(AIM_SPLITS):
        for name, label in runs:
            train, holdout, _, schema = _split(name, split)
            jobs[name, label]["splits"].append(pool.submit(
                _budgeted, started, split, aim_split, train, holdout, schema=schema,
                target=DATASETS[name], settings=AIM_RUNS[label], split=split, deadline=deadline,
            ))  # fmt: skip
    return jobs


def _budgeted(started: float, index: int, fn: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Any:  # fmt: skip
    """``fn(*args, **kwargs)``, or a skip once the run is older than ``AIM_START_BY_S``
    (split 0 always runs)."""
    if index > 0 and time.monotonic() - started > AIM_START_BY_S:
        return {"skipped": f"compute budget: not started after {AIM_START_BY_S:g} s"}
    return fn(*args, **kwargs)


def run_dataset(
    name: str, n_splits: int = N_SPLITS, repeats: int = TIMING_REPEATS
) -> dict[str, Any]:
    """Figures (over ``n_splits`` splits) and timings (``repeats`` runs) of every
    generator but AIM on one data set."""
    schema = _split(name)[3]
    per_split: dict[str, list[dict[str, Any]]] = {label: [] for label in _generators(schema)}
    first_fit: dict[str, float] = {}
    for split in range(n_splits):
        train, holdout, _, _ = _split(name, split)
        for label, make in _generators(schema).items():
            fit_s, fitted = _timed(partial(_fit, make, train, 100 + split))
            first_fit.setdefault(label, fit_s)
            synthetic = fitted.sample(len(train), np.random.default_rng(200 + split))
            privacy = fitted.privacy() if hasattr(fitted, "privacy") else {"mechanism": "none"}
            per_split[label].append(_evaluate(train, synthetic, holdout, schema=schema,
                                              target=DATASETS[name], privacy=privacy,
                                              seed=300 + split))  # fmt: skip
            print(f"{name} split {split} {label}: fit {fit_s:.1f} s", file=sys.stderr, flush=True)
    train, holdout, big, _ = _split(name)
    rows: dict[str, Any] = {}
    for label, make in _generators(schema).items():
        runs: dict[str, list[float]] = {"fit": [], "sample": []}
        for repeat in range(repeats):
            fit_s, fitted_big = _timed(partial(_fit, make, big, 5 + repeat))
            draw = np.random.default_rng(6 + repeat)
            sample_s, _ = _timed(partial(fitted_big.sample, TIMING_ROWS, draw))
            runs["fit"].append(round(fit_s, 4))
            runs["sample"].append(round(sample_s, 4))
            print(f"{name} timing {label}: fit {fit_s:.1f} s, sample {sample_s:.1f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
        rows[label] = {**summarise(per_split[label]), "first_fit_s": round(first_fit[label], 4),
                       "timing_runs": repeats}  # fmt: skip
        for kind, seconds in runs.items():
            rows[label][f"{kind}_s_per_10k_rows"] = float(np.median(seconds))
            rows[label][f"{kind}_s_per_10k_rows_range"] = [min(seconds), max(seconds)]
            rows[label][f"{kind}_s_runs"] = seconds
    n_rows = len(train) + len(holdout)
    return {"n_rows": n_rows, "n_train": len(train), "columns": list(train.columns), **rows}


def with_aim(rows: dict[str, Any], aim: dict[str, Any]) -> dict[str, Any]:
    """A data set's rows with AIM's (``{"skipped": "--quick"}`` if absent) and every ratio.

    ``speed_vs_peer`` = peer seconds / ours, for fitting and sampling 10,000 rows.

    Examples
    --------
    >>> peer = {"fit_s_per_10k_rows": 1.0, "sample_s_per_10k_rows": 2.0}
    >>> ours = {"fit_s_per_10k_rows": 4.0, "sample_s_per_10k_rows": 1.0}
    >>> out = with_aim({"synthia_copula": peer, "copula": {}, "mst_eps1": {},
    ...                 "mst_eps10": {}}, {"aim_eps1": ours})
    >>> out["aim_eps1"]["fit_speed_vs_peer"], out["aim_eps10"]
    (0.25, {'skipped': '--quick'})
    """
    rows = dict(rows)
    for label in AIM_RUNS:
        rows[label] = dict(aim.get(label, {"skipped": "--quick"}))
    peer = rows["synthia_copula"]
    for label in ("copula", "mst_eps1", "mst_eps10", *AIM_RUNS):
        if "fit_s_per_10k_rows" not in rows[label]:
            continue
        for kind in ("fit", "sample"):
            key = f"{kind}_s_per_10k_rows"
            rows[label][f"{kind}_speed_vs_peer"] = _sig3(peer[key] / rows[label][key])
    return rows


def main(quick: bool = False) -> dict[str, Any]:
    started = time.monotonic()
    names = ["whas500"] if quick else list(DATASETS)
    load_start = os.getloadavg()
    n_splits, repeats = (2, 1) if quick else (N_SPLITS, TIMING_REPEATS)
    spawn = multiprocessing.get_context("spawn")  # no fork beside the AIM threads
    with (
        ThreadPoolExecutor(max_workers=AIM_PARALLEL) as pool,
        ProcessPoolExecutor(max_workers=len(names), mp_context=spawn) as others,
    ):
        jobs = {} if quick else _aim_jobs(names, pool, started)
        # The other generators run in one process per data set while AIM's children do.
        pending = {name: others.submit(run_dataset, name, n_splits, repeats) for name in names}
        datasets = {name: job.result() for name, job in pending.items()}
        print(f"copulas and MST done after {time.monotonic() - started:.0f} s", file=sys.stderr)
        for name in names:
            aim = {}
            for (where, label), job in jobs.items():
                if where != name:
                    continue
                if isinstance(job, dict) and "timing" in job:
                    splits = [f.result() for f in job["splits"]]
                    aim[label] = aim_row(AIM_RUNS[label], splits, job["timing"].result())
                else:
                    aim[label] = dict(job)
            datasets[name] = with_aim(datasets[name], aim)
    result = {
        "python": platform.python_version(),
        "peer": "synthia 1.1.0 CopulaDataGenerator + GaussianCopula (MIT)",
        "splits": 2 if quick else N_SPLITS,
        "interval": "mean +- t(0.975, n-1) * SD / sqrt(n) over the n random half splits "
        "(overlapping halves: the split-to-split spread, not a new-data-set interval)",
        "timing": f"copulas and MST: median (and min-max) of {1 if quick else TIMING_REPEATS} "
        "fits and samples of 10,000 rows after a warm-up; AIM: 1 fit and 1 sample per "
        "(data set, epsilon), in a fresh child process",
        "utility": f"event by the horizon (median {TIME_COLUMN} of the whole real table), "
        "IPCW-weighted training and IPCW AUROC on the real holdout; Harrell's C beside it",
        "aim_splits_planned": AIM_SPLITS,
        "aim_start_by_s": AIM_START_BY_S,
        "aim_timeout_s": AIM_TIMEOUT_S,
        "aim_deadline_s": AIM_DEADLINE_S,
        "aim_xla_flags": AIM_XLA_FLAGS,
        "aim_parallel_children": AIM_PARALLEL,
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.monotonic() - started, 1),
        "datasets": datasets,
    }
    if not quick:  # a smoke run must not overwrite the full results
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synthetic")
    parser.add_argument("--quick", action="store_true",
                        help="whas500 only, 2 splits, 1 timing run, no AIM, no file")  # fmt: skip
    print(json.dumps(main(parser.parse_args().quick), indent=2))
