"""Tabular generators' cost and quality, side by side with a peer Gaussian copula.

Data: real clinical tables shipped in packages (``healthtwin.prognosis.datasets``):
whas500 (500 rows), gbsg2 (686) and flchain (7,874), their features plus the outcome
(``died``/``recurred`` yes/no), rows with a missing value dropped (flchain: 6,524 left).
Each is split in half at random (seed 0): the generator sees the first half; the second
half is the holdout for utility (train on synthetic, test on real, a gradient-boosted
classifier of the outcome), distance to closest record and the membership attack.
Figures come from ``healthtwin.synthetic.evaluate`` with as many synthetic rows as
training rows.

Generators: ours (``copula``: Gaussian copula with empirical marginals; ``mst_eps1`` and
``mst_eps10``: MST through private-pgm at epsilon 1 and 10, delta 1e-9, 10 public bins)
and the peer ``synthia_copula``: synthia 1.1.0's ``CopulaDataGenerator`` with a
``GaussianCopula`` and 100-quantile marginals (MIT; ``copulas`` 0.14.1, the first choice,
is under the Business Source License, so it is not used). synthia takes a numeric matrix:
it gets our encoding (category codes as continuous numbers: its Gaussian copula takes
continuous features only) and its samples are decoded by our schema.

AIM (``aim_eps1`` and ``aim_eps10``: :class:`healthtwin.synthetic.AIM` at epsilon 1 and
10, delta 1e-9, the all-2-way workload, 10 public bins, ``max_model_size_mb=0.01``, about
1,300 cells, 100 mirror-descent iterations a round and 1,000 for the last estimate; at
epsilon 10 ``rounds=48`` instead of the paper's ``16 d``, under which the budget anneals
only after hundreds of estimates) runs on every data set, each fit in a fresh child
process (``benchmarks.synthetic_aim_worker``), ``AIM_PARALLEL`` children at a time while
the other generators are timed in this process. AIM used to compile one jax variable
elimination per candidate marginal and model structure; the compiled code piled up until
"LLVM compilation error: Cannot allocate memory" (whas500's fit on 10,000 rows died so
after 14 minutes, and flchain and epsilon 10 were not run). Candidates are now scored in
numpy (:mod:`healthtwin.synthetic.junction_marginals`) and only the estimate after each
measurement is compiled (one program per round). The child process stays as a guard: a
crash, or a child past ``AIM_TIMEOUT_S``, is written as ``"status": "failed: <which fit>:
<reason>"`` (figures of the other fit kept), never raised. One child fits the training
half (its rows are evaluated here), one the 10,000 timing rows; ``rounds`` and
``timing_rounds`` are the rounds each measured, ``round_s_median`` and
``timing_round_s_median`` the median seconds of one round (selection and estimate). The
children compile with ``XLA_FLAGS`` ``AIM_XLA_FLAGS`` (no LLVM optimisation: AIM's cost
is compiling small programs, not running them; about 0.3 s instead of 0.7 s a
compilation). The model-size cap bounds the model: AIM admits a candidate only while the
junction tree stays under ``max_model_size_mb`` times the share of the budget spent.
In the recorded run (two cores shared with other work, a load average near 12, so every
second here, MST's and the peer's included, is several times the same fit on an idle
core) AIM's 10,000-row fits took 388 s (whas500, 25 rounds), 154 s (gbsg2) and 90 s
(flchain) at epsilon 1 and 566 s (gbsg2) and 523 s (flchain) at epsilon 10; whas500's at
epsilon 10 passed ``AIM_TIMEOUT_S`` (its training-half fit and figures are kept).

Cost: wall-clock seconds to fit on 10,000 rows (the training half resampled with
replacement to 10,000 rows) and to sample 10,000 rows, one process, after one warm-up
fit (jax compiles MST's estimator on first use; ``first_fit_s`` keeps that cost; AIM's
timing fit runs in a fresh process, so its seconds include its compilations, and beside
up to ``AIM_PARALLEL - 1`` other AIM children and this process's timings).
``speed_vs_peer`` = peer time / ours. Run ``python -m benchmarks.synthetic [--quick]``;
writes ``benchmarks/results/synthetic.json`` (``--quick``: whas500 only, no AIM, nothing
written). The 2 CPU cores of the machine
are shared, so the seconds carry the load of whatever else ran at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd

from healthtwin.prognosis.datasets import load_dataset
from healthtwin.synthetic import MST, GaussianCopula, TableSchema, evaluate

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "synthetic.json"
DATASETS = {"whas500": "died", "gbsg2": "recurred", "flchain": "died"}
TIMING_ROWS = 10_000
#: AIM's settings in the benchmark (see the module docstring), per label.
AIM_RUNS: dict[str, dict[str, Any]] = {
    "aim_eps1": {"epsilon": 1.0, "max_model_size_mb": 0.01, "iters": 100, "final_iters": 1000},
    "aim_eps10": {"epsilon": 10.0, "max_model_size_mb": 0.01, "iters": 100,
                  "final_iters": 1000, "rounds": 48},
}  # fmt: skip
#: Data sets AIM is fitted on, and why the others are not.
AIM_DATASETS = ("whas500", "gbsg2", "flchain")
AIM_SKIPPED: dict[str, str] = {}
#: Wall-clock limit of one AIM child process (one fit and its sample).
AIM_TIMEOUT_S = 900.0
#: AIM children run at the same time (beside the other generators' timings).
AIM_PARALLEL = 3
#: Cheaper XLA compilation in the AIM child: AIM's cost is compiling one small jax program
#: per candidate marginal and model structure, not running them.
AIM_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def _table(name: str) -> pd.DataFrame:
    data = load_dataset(name)
    table = data.features.copy()
    table[DATASETS[name]] = np.where(data.survival_target()[1], "yes", "no")
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
        "dcr_ratio": record["dcr"]["ratio"],
        "share_closer_to_train": record["dcr"]["share_closer_to_train"],
        "membership_advantage": record["membership"]["advantage"],
        "epsilon": record["privacy"].get("epsilon"),
    }


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


def _aim_child(job: dict[str, Any], timeout_s: float) -> tuple[str, dict[str, Any], Any]:
    """One AIM fit (and sample) in a fresh process: status, its result.json, its rows."""
    with tempfile.TemporaryDirectory(prefix="aim-") as tmp:
        folder = Path(tmp)
        (folder / "job.pkl").write_bytes(pickle.dumps(job))
        command = [sys.executable, "-m", "benchmarks.synthetic_aim_worker", str(folder)]
        status = run_child(command, timeout_s, {"XLA_FLAGS": AIM_XLA_FLAGS})
        if not (folder / "result.json").exists():
            return status, {}, None
        result = json.loads((folder / "result.json").read_text())
        rows = folder / "synthetic.pkl"
        return status, result, pickle.loads(rows.read_bytes()) if rows.exists() else None


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
    """Fit, sample and time AIM, each fit in a fresh child process; evaluate its rows here.

    The child (``benchmarks.synthetic_aim_worker``) gets a table, ``schema`` and
    ``settings`` (keyword arguments of :class:`healthtwin.synthetic.AIM`) through a
    temporary folder. The first fits ``train`` and samples as many rows, which are
    evaluated against ``holdout`` (``first_fit_s``: a fresh process, so jax's
    compilations included); the second fits ``big`` (the timing rows) and samples as many
    (``fit_s_per_10k_rows``, ``sample_s_per_10k_rows``). ``status`` is ``"ok"`` or
    ``"failed: <which fit>: <reason>"``; the figures of a fit that finished are kept.
    ``timeout_s`` bounds each child.
    """
    row: dict[str, Any] = {"status": "ok", "settings": settings}
    common = {"schema": schema, "settings": settings, "keep_rows": True}
    status, result, synthetic = _aim_child(
        {**common, "table": train, "fit_seed": 2, "sample_seed": 3, "n_rows": len(train)},
        timeout_s,
    )
    if status != "ok":
        row["status"] = status.replace("failed: ", "failed: fit on the training half: ", 1)
    if synthetic is not None:
        report = evaluate(train, synthetic, rng=np.random.default_rng(4), holdout=holdout,
                          target=target, schema=schema, privacy=result["privacy"],
                          plots=False)  # fmt: skip
        row.update(_figures(report), first_fit_s=round(result["fit_s"], 4))
        row["rounds"] = result["privacy"].get("rounds")
        row["round_s_median"] = result.get("round_s_median")
    common["keep_rows"] = False
    status, result, _ = _aim_child(
        {**common, "table": big, "fit_seed": 5, "sample_seed": 6, "n_rows": len(big)}, timeout_s
    )
    if status != "ok" and row["status"] == "ok":
        row["status"] = status.replace("failed: ", "failed: timing fit: ", 1)
    if result:
        row["fit_s_per_10k_rows"] = round(result["fit_s"], 4)
        row["sample_s_per_10k_rows"] = round(result["sample_s"], 4)
        row["timing_rounds"] = result["privacy"].get("rounds")
        row["timing_round_s_median"] = result.get("round_s_median")
    return row


def _split(name: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, TableSchema]:
    """The training half, the holdout, the 10,000 timing rows and the schema of a data set."""
    table = _table(name)
    order = np.random.default_rng(0).permutation(len(table))
    half = len(table) // 2
    train = table.iloc[order[:half]].reset_index(drop=True)
    holdout = table.iloc[order[half:]].reset_index(drop=True)
    big = train.iloc[np.random.default_rng(1).integers(0, half, TIMING_ROWS)]
    return train, holdout, big, TableSchema.infer(table)


def _aim_jobs(names: Sequence[str], pool: ThreadPoolExecutor) -> dict[tuple[str, str], Any]:
    """Start every AIM run (in child processes, ``AIM_PARALLEL`` at a time)."""
    jobs: dict[tuple[str, str], Any] = {}
    # The longest runs first: epsilon 10 (more rounds), then the widest tables.
    for label, settings in reversed(AIM_RUNS.items()):
        for name in sorted(names, key=lambda n: n == "gbsg2"):
            if name not in AIM_DATASETS:
                jobs[name, label] = {"skipped": AIM_SKIPPED[name]}
                continue
            train, holdout, big, schema = _split(name)
            jobs[name, label] = pool.submit(
                run_aim, train, big, holdout, schema=schema, target=DATASETS[name],
                settings=settings,
            )  # fmt: skip
    return jobs


def run_dataset(name: str) -> dict[str, Any]:
    """Figures and timings of every generator but AIM on one data set."""
    train, holdout, big, schema = _split(name)
    half = len(train)
    rows: dict[str, Any] = {}
    for label, make in _generators(schema).items():
        first_fit_s, _ = _timed(partial(_fit, make, train, 2))
        fitted = make().fit(train, rng=np.random.default_rng(2))
        synthetic = fitted.sample(half, np.random.default_rng(3))
        report = evaluate(train, synthetic, rng=np.random.default_rng(4), holdout=holdout,
                          target=DATASETS[name], schema=schema,
                          privacy=fitted.privacy() if hasattr(fitted, "privacy") else
                          {"mechanism": "none"}, plots=False)  # fmt: skip
        fit_s, fitted_big = _timed(partial(_fit, make, big, 5))
        sample_s, _ = _timed(partial(fitted_big.sample, TIMING_ROWS, np.random.default_rng(6)))
        rows[label] = {
            **_figures(report),
            "first_fit_s": round(first_fit_s, 4),
            "fit_s_per_10k_rows": round(fit_s, 4),
            "sample_s_per_10k_rows": round(sample_s, 4),
        }
    n_rows = len(train) + len(holdout)
    return {"n_rows": n_rows, "n_train": half, "columns": list(train.columns), **rows}


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
    names = ["whas500"] if quick else list(DATASETS)
    with ThreadPoolExecutor(max_workers=AIM_PARALLEL) as pool:
        jobs = {} if quick else _aim_jobs(names, pool)
        datasets = {}
        for name in names:
            # The other generators are timed while AIM's children run.
            datasets[name] = run_dataset(name)
        for name in names:
            aim = {
                label: job.result() if isinstance(job, Future) else job
                for (where, label), job in jobs.items()
                if where == name
            }
            datasets[name] = with_aim(datasets[name], aim)
    result = {
        "python": platform.python_version(),
        "peer": "synthia 1.1.0 CopulaDataGenerator + GaussianCopula (MIT)",
        "aim_xla_flags": AIM_XLA_FLAGS,
        "aim_parallel_children": AIM_PARALLEL,
        "datasets": datasets,
    }
    if not quick:  # a smoke run must not overwrite the full results
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synthetic")
    parser.add_argument("--quick", action="store_true", help="whas500 only, no AIM, no file")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
