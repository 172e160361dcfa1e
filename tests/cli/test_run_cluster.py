"""``healthtwin run`` on a LocalCluster by default, in process on request or without Dask."""

from __future__ import annotations

import importlib.util
import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import require

import healthtwin.cli.run as cli_run
import healthtwin.scenarios.run as run_module
from healthtwin.cli import main
from healthtwin.cli.output import ProgressTask
from healthtwin.scenarios.distributed import executor_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "city-three-hospitals.yaml"


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """The city example, small and without figures (fast to write)."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data.update(days=14, replicates=4, outputs={"report": False, "tables": False})
    path = tmp_path / "city.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each run_world call's keywords; the run itself goes on (local clusters in threads)."""
    seen: list[dict[str, Any]] = []
    real = run_module.run_world

    def spy(world: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(world, **kwargs)

    monkeypatch.setattr(cli_run, "run_world", spy)
    monkeypatch.setattr(run_module, "executor_for", partial(executor_for, processes=False))
    monkeypatch.delenv("HEALTHTWIN_CLUSTER", raising=False)
    return seen


def _summary(out: Path) -> bytes:
    return (out / "summary.json").read_bytes()


def test_default_is_a_local_cluster_with_the_in_process_numbers(
    world: Path,
    tmp_path: Path,
    calls: list[dict[str, Any]],
    bars: list[ProgressTask],
) -> None:
    require("distributed", "dask")
    args = ["run", str(world), "--quiet", "--out"]
    assert main([*args, str(tmp_path / "a"), "--workers", "2"]) == 0
    assert main([*args, str(tmp_path / "b"), "--cluster", "none"]) == 0
    assert [c["cluster"] for c in calls] == ["local", None]
    assert _summary(tmp_path / "a") == _summary(tmp_path / "b")
    # Two workers, one country of 4 replicates: two tasks of 2, and the bar counts them.
    assert [(b.total, b.completed) for b in bars] == [(2, 2.0), (1, 1.0)]


def test_chunk_size_option_reaches_the_run(
    world: Path, tmp_path: Path, calls: list[dict[str, Any]], bars: list[ProgressTask]
) -> None:
    out = tmp_path / "c"
    code = main(["run", str(world), "--quiet", "--out", str(out), "--cluster", "none",
                 "--replicates-per-task", "3"])  # fmt: skip
    assert code == 0
    assert calls[0]["replicates_per_task"] == 3
    assert [(b.total, b.completed) for b in bars] == [(2, 2.0)]
    assert json.loads(_summary(out))["replicates"] == 4


def test_environment_variable_sets_the_default(
    world: Path, tmp_path: Path, calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTHTWIN_CLUSTER", "none")
    assert main(["run", str(world), "--quiet", "--out", str(tmp_path / "d")]) == 0
    assert calls[0]["cluster"] is None


def test_without_dask_the_default_runs_here_with_a_note(
    world: Path,
    tmp_path: Path,
    calls: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = importlib.util.find_spec

    def no_dask(name: str, package: str | None = None) -> Any:
        return None if name == "distributed" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", no_dask)
    assert main(["run", str(world), "--json", "--out", str(tmp_path / "e")]) == 0
    assert calls[0]["cluster"] is None
    err = capsys.readouterr().err
    assert "Dask is not installed" in err
    assert "healthtwin[dask]" in err
    assert len(err.strip().splitlines()) == 1


def test_workers_without_a_local_cluster_is_a_clear_error(
    world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(world), "--out", str(tmp_path), "--cluster", "none", "--workers", "2"])
    assert code == 2
    assert "--workers 2 only applies to a local cluster" in capsys.readouterr().err


def test_a_scheduler_that_does_not_answer_is_a_clear_error(
    world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dask: Any = require("dask", "dask")
    require("distributed", "dask")
    args = ["run", str(world), "--out", str(tmp_path / "out"), "--cluster", "tcp://127.0.0.1:9"]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main(args) == 2
    err = capsys.readouterr().err
    assert "no Dask scheduler answers at cluster 'tcp://127.0.0.1:9'" in err
    assert "--cluster none" in err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_help_says_how_to_run_in_process() -> None:
    from typer.testing import CliRunner

    from healthtwin.cli.app import app

    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--cluster none" in result.output
    assert "'none' (in this process" in result.output
