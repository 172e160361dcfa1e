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
it gets our encoding (category codes as continuous numbers: its Gaussian copula takes continuous
features only) and its samples are decoded by
our schema.

Cost: wall-clock seconds to fit on 10,000 rows (the training half resampled with
replacement to 10,000 rows) and to sample 10,000 rows, one process, after one warm-up
fit (jax compiles MST's estimator on first use; ``mst_first_fit_s`` keeps that cost).
``speed_vs_peer`` = peer time / ours. Run ``python -m benchmarks.synthetic [--quick]``;
writes ``benchmarks/results/synthetic.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd

from healthtwin.prognosis.datasets import load_dataset
from healthtwin.synthetic import MST, GaussianCopula, TableSchema, evaluate

OUT = Path(__file__).resolve().parent / "results" / "synthetic.json"
DATASETS = {"whas500": "died", "gbsg2": "recurred", "flchain": "died"}
TIMING_ROWS = 10_000


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
        import synthia

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


def run_dataset(name: str) -> dict[str, Any]:
    table = _table(name)
    order = np.random.default_rng(0).permutation(len(table))
    half = len(table) // 2
    train = table.iloc[order[:half]].reset_index(drop=True)
    holdout = table.iloc[order[half:]].reset_index(drop=True)
    schema = TableSchema.infer(table)
    big = train.iloc[np.random.default_rng(1).integers(0, half, TIMING_ROWS)]
    rows: dict[str, Any] = {}
    for label, make in _generators(schema).items():
        first_fit_s, _ = _timed(lambda make=make: make().fit(train, rng=np.random.default_rng(2)))
        fitted = make().fit(train, rng=np.random.default_rng(2))
        synthetic = fitted.sample(half, np.random.default_rng(3))
        report = evaluate(train, synthetic, rng=np.random.default_rng(4), holdout=holdout,
                          target=DATASETS[name], schema=schema,
                          privacy=fitted.privacy() if hasattr(fitted, "privacy") else
                          {"mechanism": "none"}, plots=False)  # fmt: skip
        fit_s, fitted_big = _timed(lambda make=make: make().fit(big, rng=np.random.default_rng(5)))
        sample_s, _ = _timed(lambda f=fitted_big: f.sample(TIMING_ROWS, np.random.default_rng(6)))
        rows[label] = {
            **_figures(report),
            "first_fit_s": round(first_fit_s, 4),
            "fit_s_per_10k_rows": round(fit_s, 4),
            "sample_s_per_10k_rows": round(sample_s, 4),
        }
    peer = rows["synthia_copula"]
    for label in ("copula", "mst_eps1", "mst_eps10"):
        rows[label]["fit_speed_vs_peer"] = round(peer["fit_s_per_10k_rows"] / rows[label]
                                                 ["fit_s_per_10k_rows"], 3)  # fmt: skip
        rows[label]["sample_speed_vs_peer"] = round(peer["sample_s_per_10k_rows"] / rows[label]
                                                    ["sample_s_per_10k_rows"], 3)  # fmt: skip
    return {"n_rows": len(table), "n_train": half, "columns": list(table.columns), **rows}


def main(quick: bool = False) -> dict[str, Any]:
    names = ["whas500"] if quick else list(DATASETS)
    result = {
        "python": platform.python_version(),
        "peer": "synthia 1.1.0 CopulaDataGenerator + GaussianCopula (MIT)",
        "datasets": {name: run_dataset(name) for name in names},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synthetic")
    parser.add_argument("--quick", action="store_true", help="whas500 only")
    print(json.dumps(main(parser.parse_args().quick), indent=2))
