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

AIM (``aim_eps1``: :class:`healthtwin.synthetic.AIM` at epsilon 1, delta 1e-9, the
all-2-way workload, 10 public bins, ``max_model_size_mb=0.01``, 100 mirror-descent
iterations a round and 1,000 for the last estimate) runs each fit in a fresh child
process (``benchmarks.synthetic_aim_worker``): jax keeps the machine code of every
program it compiles, and AIM compiles one variable elimination per candidate marginal and
model structure, so fits in the benchmark's own process died ("LLVM compilation error:
Cannot allocate memory", exit 139), and so did a second whas500 fit in the same child.
The whas500 fit on 10,000 rows dies that way even alone (after about 14 minutes: with
more rows AIM anneals later and measures more rounds), so whas500's AIM row has its
figures but ``"status": "failed: timing fit: killed by SIGSEGV ..."`` and no seconds per
10,000 rows. A child gets a table, the schema and the settings through a temporary folder, fits and
samples; one fits the training half (its rows are evaluated here), one the 10,000 timing
rows. A crash, or a child past ``AIM_TIMEOUT_S``, is written as
``"status": "failed: <which fit>: <reason>"`` (figures of the other fit kept), never
raised. The children compile with ``XLA_FLAGS`` ``AIM_XLA_FLAGS`` (no LLVM optimisation:
AIM's cost is compiling hundreds of small programs, not running them; about 0.3 s instead
of 0.7 s a compilation here). The model-size cap is what bounds the cost: AIM admits a
candidate only while the junction tree stays under ``max_model_size_mb`` times the share
of the budget spent, and every admitted candidate the model does not hold costs a
compilation whenever the model's structure changes; with the paper's 80 MB one whas500
fit took about 15 minutes; with 0.01 MB (about 1,300 cells) the fits on the training
halves end, as AIM's annealing does at epsilon 1 on a few hundred rows, after 7 or 8
rounds (``rounds``; gbsg2's fit on 10,000 rows: 23, ``timing_rounds``), in under a minute
(gbsg2, 9 columns) to about 6 minutes (whas500, 15 columns). flchain is not run for
AIM (``"skipped"``), nor is epsilon 10 (more rounds before annealing): each would add
tens of minutes, and would likely die as whas500's 10,000-row fit does.

Cost: wall-clock seconds to fit on 10,000 rows (the training half resampled with
replacement to 10,000 rows) and to sample 10,000 rows, one process, after one warm-up
fit (jax compiles MST's estimator on first use; ``first_fit_s`` keeps that cost; AIM's
timing fit runs in a fresh process, so its seconds include its compilations).
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
AIM_RUNS = {"aim_eps1": {"epsilon": 1.0, "max_model_size_mb": 0.01, "iters": 100,
                         "final_iters": 1000}}  # fmt: skip
#: Data sets AIM is fitted on, and why the others are not.
AIM_DATASETS = ("whas500", "gbsg2")
AIM_SKIPPED = {"flchain": "not run: AIM fits here take tens of minutes per fit (see docstring)"}
#: Wall-clock limit of one AIM child process (one fit and its sample).
AIM_TIMEOUT_S = 1200.0
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
    return row


def run_dataset(name: str, *, aim: bool = True) -> dict[str, Any]:
    table = _table(name)
    order = np.random.default_rng(0).permutation(len(table))
    half = len(table) // 2
    train = table.iloc[order[:half]].reset_index(drop=True)
    holdout = table.iloc[order[half:]].reset_index(drop=True)
    schema = TableSchema.infer(table)
    big = train.iloc[np.random.default_rng(1).integers(0, half, TIMING_ROWS)]
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
    for label, settings in AIM_RUNS.items():
        if not aim:
            rows[label] = {"skipped": "--quick"}
        elif name not in AIM_DATASETS:
            rows[label] = {"skipped": AIM_SKIPPED[name]}
        else:
            rows[label] = run_aim(train, big, holdout, schema=schema, target=DATASETS[name],
                                  settings=settings)  # fmt: skip
    peer = rows["synthia_copula"]
    for label in ("copula", "mst_eps1", "mst_eps10", *AIM_RUNS):
        if "fit_s_per_10k_rows" not in rows[label]:
            continue
        for kind in ("fit", "sample"):
            key = f"{kind}_s_per_10k_rows"
            rows[label][f"{kind}_speed_vs_peer"] = _sig3(peer[key] / rows[label][key])
    return {"n_rows": len(table), "n_train": half, "columns": list(table.columns), **rows}


def main(quick: bool = False) -> dict[str, Any]:
    names = ["whas500"] if quick else list(DATASETS)
    result = {
        "python": platform.python_version(),
        "peer": "synthia 1.1.0 CopulaDataGenerator + GaussianCopula (MIT)",
        "aim_xla_flags": AIM_XLA_FLAGS,
        "datasets": {name: run_dataset(name, aim=not quick) for name in names},
    }
    if not quick:  # a smoke run must not overwrite the full results
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synthetic")
    parser.add_argument("--quick", action="store_true", help="whas500 only, no AIM, no file")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
