"""Errors name the file or option to fix (issue 14): exit 2, one line, stdout empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthtwin.cli import file_error, main, option_names


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    return captured.err


def test_a_file_that_is_not_utf8_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin = tmp_path / "grippe.csv"
    latin.write_bytes("I\n1\n2\n# relevé\n".encode("latin-1"))
    err = _run(["population", "rt", "--data", str(latin), "--si-mean", "2.6", "--si-sd", "1.5",
                "--out", str(tmp_path / "rt.csv")], capsys)  # fmt: skip
    assert err.startswith(f"error: could not read {latin}: not UTF-8 text")
    assert err.rstrip().endswith("give a UTF-8 text file")


def test_a_missing_file_is_named_with_the_fix() -> None:
    message = file_error(FileNotFoundError(2, "No such file or directory", "cases.csv"))
    assert message == "could not read cases.csv: no such file or directory; check the path"
    folder = file_error(IsADirectoryError(21, "Is a directory", "out/"))
    assert folder == "could not read out/: it is a folder; give a file"
    denied = file_error(PermissionError(13, "Permission denied", "/root/x.csv"))
    assert denied == "could not use /root/x.csv: permission denied"


def test_an_os_error_reaching_main_names_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "a-folder.csv"
    folder.mkdir()
    err = _run(["population", "rt", "--data", str(folder), "--si-mean", "2.6", "--si-sd", "1.5",
                "--out", str(tmp_path / "rt.csv")], capsys)  # fmt: skip
    assert str(folder) in err
    assert "Errno" not in err


def test_replicates_per_task_is_named_as_its_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = Path(__file__).resolve().parents[2] / "examples" / "city-three-hospitals.yaml"
    err = _run(["run", str(scenario), "--replicates-per-task", "0",
                "--out", str(tmp_path / "run")], capsys)  # fmt: skip
    assert "--replicates-per-task" in err
    assert "replicates_per_task" not in err
    assert option_names("replicates_per_task must be >= 1; got 0") == (
        "--replicates-per-task must be >= 1; got 0"
    )
