"""``healthtwin patient evaluate`` on a LocalCluster by default, in process on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import require

import healthtwin.cli.evaluate as cli_evaluate
from healthtwin.cli import main
from healthtwin.cli.output import ProgressTask
from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.controller_evaluation import evaluate_cohort

SMALL = ["patient", "evaluate", "--controllers", "pid", "--patients", "adult#001",
         "--days", "1", "--replicates", "2", "--quiet"]  # fmt: skip


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each evaluation's keywords; it then runs (a local cluster's workers as threads)."""
    seen: list[dict[str, Any]] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return evaluate_cohort(*args, **kwargs, processes=False)

    monkeypatch.setattr(cli_evaluate, "evaluate_cohort", spy)
    monkeypatch.delenv("HEALTHTWIN_CLUSTER", raising=False)
    return seen


def _run(tmp_path: Path, name: str, *extra: str) -> bytes:
    table = tmp_path / f"{name}.csv"
    args = [*SMALL, "--out", str(tmp_path / f"{name}.html"), "--csv", str(table), *extra]
    assert main(args) == 0
    return table.read_bytes()


def test_default_is_a_local_cluster_with_the_in_process_numbers(
    tmp_path: Path, calls: list[dict[str, Any]], bars: list[ProgressTask]
) -> None:
    require("distributed", "dask")
    on_cluster = _run(tmp_path, "a", "--workers", "2")
    here = _run(tmp_path, "b", "--cluster", "none")
    assert [(c["cluster"], c["workers"]) for c in calls] == [("local", 2), (None, None)]
    assert on_cluster == here
    # Two workers, one pair of 2 replicates: two tasks of one; in process one task.
    assert [(b.total, b.completed) for b in bars] == [(2, 2.0), (1, 1.0)]


def test_environment_variable_and_chunk_size_reach_the_evaluation(
    tmp_path: Path, calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTHTWIN_CLUSTER", "none")
    _run(tmp_path, "c", "--replicates-per-task", "1")
    assert calls[0]["cluster"] is None
    assert calls[0]["replicates_per_task"] == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--cluster", "none", "--workers", "2"], "--workers 2 only applies to a local cluster"),
        (["--cluster", "spark://x:1"], "cluster 'spark://x:1' is not known"),
        (["--cluster", "none", "--replicates-per-task", "0"], "replicates per task must be"),
    ],
)
def test_bad_cluster_requests_are_clear_errors(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SMALL, "--out", str(tmp_path / "r.html"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_a_scheduler_that_does_not_answer_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dask: Any = require("dask", "dask")
    require("distributed", "dask")
    args = [*SMALL, "--out", str(tmp_path / "r.html"), "--cluster", "tcp://127.0.0.1:9"]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main(args) == 2
    err = capsys.readouterr().err
    assert "no Dask scheduler answers at cluster 'tcp://127.0.0.1:9'" in err
    assert "--cluster none" in err


def test_help_names_the_cluster_options() -> None:
    from typer.testing import CliRunner

    from healthtwin.cli.app import app

    result = CliRunner().invoke(app, ["patient", "evaluate", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--cluster", "--workers", "--replicates-per-task", "'none' (in this process"):
        assert option in result.output
    assert InvalidInputError.__name__ not in result.output
