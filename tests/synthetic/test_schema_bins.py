"""Public schema bins: log-scale and explicit edges, the YAML template, and MST on flchain."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.conftest import require

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.scenarios.synthetic_runs import read_table_schema, write_schema_template
from healthtwin.synthetic.private_pgm import MST, column_edges, discretise
from healthtwin.synthetic.tabular import (
    BinScale,
    BinSpec,
    ColumnKind,
    ColumnSpec,
    TableSchema,
    schema_template,
)

SKEWED = ("kappa", "lambda", "creatinine")


def _skewed_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(40, 90, n),
            "kappa": np.round(rng.lognormal(0.3, 1.0, n), 2),
            "sex": rng.choice(["F", "M"], n),
            "admitted": pd.to_datetime("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        }
    )


def test_log_and_explicit_edges_are_what_the_schema_says() -> None:
    log = ColumnSpec("k", ColumnKind.CONTINUOUS, lower=0.01, upper=100.0,
                     bins=BinSpec(n=4, scale=BinScale.LOG))  # fmt: skip
    assert column_edges(log, 10) == pytest.approx([0.01, 0.1, 1.0, 10.0, 100.0])
    # n=None takes the generator's n_bins; a linear BinSpec is the equal-width default.
    linear = ColumnSpec("x", ColumnKind.CONTINUOUS, lower=0.0, upper=1.0, bins=BinSpec())
    assert column_edges(linear, 4) == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    # Integers with fewer values than bins keep one bin per value whatever the scale.
    few = ColumnSpec("i", ColumnKind.INTEGER, lower=1, upper=3, bins=BinSpec(scale="log"))
    assert column_edges(few, 10).tolist() == [0.5, 1.5, 2.5, 3.5]
    many = ColumnSpec("i", ColumnKind.INTEGER, lower=1, upper=1000, bins=BinSpec(n=3, scale="log"))
    ratio = (1000.5 / 0.5) ** (1 / 3)
    assert column_edges(many, 10) == pytest.approx([0.5, 0.5 * ratio, 0.5 * ratio**2, 1000.5])
    schema = TableSchema((log, ColumnSpec("s", ColumnKind.CATEGORICAL, ("a", "b"))))
    codes, edges = discretise(schema, np.array([[0.005, 1.0], [0.5, 0.0], [5e3, 1.0]]), 10)
    assert codes.tolist() == [[0, 1], [1, 0], [3, 1]]  # outside the edges: end bins
    assert edges[1].tolist() == [-0.5, 0.5, 1.5]


def test_bad_bins_are_refused_with_the_value() -> None:
    with pytest.raises(InvalidParameterError, match=r"lower bound > 0, got 0\.0"):
        ColumnSpec("k", ColumnKind.CONTINUOUS, lower=0.0, upper=5.0, bins=BinSpec(scale="log"))
    with pytest.raises(InvalidParameterError, match=r"strictly increasing.*\[0\.0, 2\.0, 1\.0\]"):
        BinSpec(edges=(0.0, 2.0, 1.0))
    with pytest.raises(InvalidParameterError, match="integer >= 2, got 1"):
        BinSpec(n=1)
    with pytest.raises(InvalidParameterError, match="linear or log, got 'sqrt'"):
        BinSpec.from_dict({"n": 4, "scale": "sqrt"})
    with pytest.raises(InvalidParameterError, match=r"unknown keys \['width'\]"):
        BinSpec.from_dict({"width": 2})
    with pytest.raises(InvalidParameterError, match="one bin per category"):
        ColumnSpec("s", ColumnKind.CATEGORICAL, ("a",), bins=BinSpec(n=2))


def test_the_template_round_trips_through_yaml_and_says_bounds_are_public(
    tmp_path: Path,
) -> None:
    table = _skewed_table()
    path = tmp_path / "schema.yaml"
    written = write_schema_template(table, path, n_bins=12, source="real.csv")
    text = path.read_text()
    assert text.startswith("# Public schema")
    assert "MUST come from public knowledge" in text
    assert "NOT from the data" in text
    assert "real.csv" in text
    assert read_table_schema(path) == written == schema_template(table, n_bins=12)
    record = yaml.safe_load(text)["columns"]
    assert [c["name"] for c in record] == ["age", "kappa", "sex", "admitted"]
    assert record[1]["bins"] == {"n": 12, "scale": "log"}  # skewed and positive
    assert record[0]["bins"] == {"n": 12, "scale": "linear"}
    assert record[2] == {"name": "sex", "kind": "categorical", "categories": ["F", "M"]}
    assert record[3]["lower"] == str(table["admitted"].min().date())  # dates stay readable
    # A custodian's edits (public bounds, explicit edges) are read back as written.
    record[1].update(lower=0.05, upper=50.0, bins={"edges": [0.05, 0.5, 1, 2, 5, 50]})
    path.write_text(yaml.safe_dump({"columns": record}))
    kappa = read_table_schema(path).columns[1]
    assert (kappa.lower, kappa.upper) == (0.05, 50.0)
    assert kappa.bins == BinSpec(edges=(0.05, 0.5, 1.0, 2.0, 5.0, 50.0))
    path.write_text("columns: [{name: k, kind: continuous, lower: 0, upper: 1, bins: {n: x}}]")
    with pytest.raises(InvalidInputError, match="cannot read the schema"):
        read_table_schema(path)


def _flchain() -> pd.DataFrame:
    require("sksurv", "ml")
    from healthtwin.prognosis.datasets import load_dataset

    features = load_dataset("flchain").features
    return features[["age", "sex", *SKEWED]].dropna().reset_index(drop=True)


def _tv_on_real_deciles(real: pd.Series, synthetic: pd.Series) -> float:
    """Total variation of one column over the real data's deciles (evaluation only)."""
    cut = np.unique(np.quantile(real, np.linspace(0, 1, 11)))
    cut[0], cut[-1] = -np.inf, np.inf
    p = np.histogram(real, cut)[0] / real.size
    q = np.histogram(synthetic, cut)[0] / synthetic.size
    return 0.5 * float(np.abs(p - q).sum())


def _fullest_shares(schema: TableSchema, table: pd.DataFrame, n_bins: int) -> list[float]:
    """The share of rows in the most populated bin of each skewed column."""
    codes, _ = discretise(schema, schema.encode(table), n_bins)
    return [
        float(np.bincount(codes[:, schema.names.index(c)]).max() / codes.shape[0]) for c in SKEWED
    ]


def test_log_bins_fix_skewed_flchain_columns_for_mst() -> None:
    require("jax", "synth")
    table = _flchain()
    equal = TableSchema.infer(table)
    log = TableSchema(
        tuple(
            replace(c, bins=BinSpec(n=16, scale=BinScale.LOG)) if c.name in SKEWED else c
            for c in equal.columns
        )
    )
    # The review: 86-94 % of the rows in the first of 10 equal-width bins.
    assert min(_fullest_shares(equal, table, 10)) > 0.85
    assert min(_fullest_shares(equal, table, 16)) > 0.5
    assert max(_fullest_shares(log, table, 16)) < 0.5
    tv = []
    for schema in (equal, log):
        fitted = MST(epsilon=1.0, n_bins=16, schema=schema, iters=300).fit(
            table, rng=np.random.default_rng(0)
        )
        synthetic = fitted.sample(table.shape[0], np.random.default_rng(1))
        tv.append(np.mean([_tv_on_real_deciles(table[c], synthetic[c]) for c in SKEWED]))
    assert tv[1] < 0.5 * tv[0], tv
