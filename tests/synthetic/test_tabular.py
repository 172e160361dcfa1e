"""The tabular generator contract, checked on every registered generator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.conftest import require

from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError
from healthtwin.synthetic import (
    AIM,
    MST,
    ColumnKind,
    ColumnSpec,
    GaussianCopula,
    TableSchema,
    TabularGenerator,
    load_generator,
)
from healthtwin.synthetic.private_pgm import import_mbi
from healthtwin.synthetic.tabular import write_saved


def _table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(30, 90, n)
    return pd.DataFrame(
        {
            "age": age,
            "sbp": 100 + 0.5 * age + rng.normal(0, 10, n),
            "sex": rng.choice(["F", "M"], n),
            "admitted": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D"),
        }
    )


def _mst() -> TabularGenerator:
    require("jax", "synth")
    import_mbi()
    return MST(epsilon=20.0, n_bins=6, iters=100)


def _aim() -> TabularGenerator:
    require("jax", "synth")
    import_mbi()
    return AIM(epsilon=20.0, n_bins=6, iters=30, final_iters=100)


GENERATORS: dict[str, Callable[[], TabularGenerator]] = {
    "aim": _aim,
    "copula-empirical": GaussianCopula,
    "copula-parametric": lambda: GaussianCopula(marginals="parametric"),
    "mst": _mst,
}


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def fitted(request: pytest.FixtureRequest) -> object:
    return GENERATORS[request.param]().fit(_table(), rng=np.random.default_rng(1))


def test_samples_have_the_schema_columns_types_and_bounds(fitted: object) -> None:
    table = _table()
    schema = TableSchema.infer(table)
    sample = fitted.sample(500, np.random.default_rng(2))  # type: ignore[attr-defined]
    assert list(sample.columns) == list(table.columns)
    assert sample.shape == (500, 4)
    assert set(sample["sex"].astype(str)) <= {"F", "M"}
    assert sample["age"].dtype == np.int64
    assert pd.api.types.is_datetime64_any_dtype(sample["admitted"])
    encoded = schema.encode(sample)
    for j, spec in enumerate(schema.columns):
        if spec.kind is not ColumnKind.CATEGORICAL:
            assert spec.lower <= encoded[:, j].min()
            assert encoded[:, j].max() <= spec.upper


def test_same_seed_same_sample_and_save_load_round_trip(fitted: object, tmp_path: Path) -> None:
    first = fitted.sample(50, np.random.default_rng(3))  # type: ignore[attr-defined]
    again = fitted.sample(50, np.random.default_rng(3))  # type: ignore[attr-defined]
    other = fitted.sample(50, np.random.default_rng(4))  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    fitted.save(tmp_path)  # type: ignore[attr-defined]
    assert not any(p.suffix in {".pkl", ".pickle"} for p in tmp_path.iterdir())
    loaded = load_generator(tmp_path)
    assert loaded.method == fitted.method  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(loaded.sample(50, np.random.default_rng(3)), first)
    assert loaded.privacy() == fitted.privacy()  # type: ignore[attr-defined]


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_sample_size_must_be_a_positive_integer(fitted: object, n: object) -> None:
    with pytest.raises(InvalidParameterError, match="integer >= 1"):
        fitted.sample(n, np.random.default_rng(0))  # type: ignore[attr-defined]


def test_schema_round_trips_and_decodes_dates_integers_and_bounds() -> None:
    schema = TableSchema.infer(_table())
    assert [str(c.kind) for c in schema.columns] == ["integer", "continuous", "categorical", "date"]
    assert TableSchema.from_dict(schema.to_dict()) == schema
    decoded = schema.decode(np.array([[200.7, -1e9, 1.0, 18262.0]]))
    assert decoded["age"].iloc[0] == schema.columns[0].upper
    assert decoded["sbp"].iloc[0] == schema.columns[1].lower
    assert decoded["sex"].iloc[0] == "M"
    assert decoded["admitted"].iloc[0] == pd.Timestamp("2020-01-01")


def test_bad_tables_and_specs_are_refused_with_the_value() -> None:
    schema = TableSchema.infer(_table())
    with pytest.raises(InvalidInputError, match=r"\['X'\]"):
        schema.encode(_table().assign(sex="X"))
    with pytest.raises(InvalidInputError, match="missing values"):
        TableSchema.infer(_table().assign(sbp=np.nan))
    with pytest.raises(InvalidInputError, match="lacks columns"):
        schema.encode(_table().drop(columns="age"))
    with pytest.raises(InvalidParameterError, match="lower <= upper"):
        ColumnSpec("x", ColumnKind.CONTINUOUS, lower=2.0, upper=1.0)
    with pytest.raises(InvalidInputError, match="distinct text values"):
        TableSchema.infer(pd.DataFrame({"id": [f"p{i}" for i in range(60)]}))


def test_loading_refuses_foreign_folders_and_unknown_methods(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not hold a saved generator"):
        load_generator(tmp_path)
    write_saved(tmp_path, "ctgan", TableSchema.infer(_table()), {}, {})
    with pytest.raises(UnknownModelError, match="known: \\['aim', 'copula', 'mst'\\]"):
        load_generator(tmp_path)
