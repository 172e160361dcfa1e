"""``healthtwin federation``: the demo in process, and the commands of a multi-machine set-up."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest


def _main(args: list[str]) -> int:
    with warnings.catch_warnings():
        # typer 0.20 (pinned by flwr 1.42) calls click APIs that click 8.5 deprecates.
        warnings.filterwarnings("ignore", message=".*click.utils.get_", category=DeprecationWarning)
        from healthtwin.cli import main
    return main(args)


def test_demo_in_process_prints_each_round(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("flwr", reason="Flower is the 'fed' extra")
    import json

    code = _main(["federation", "demo", "--sites", "3", "--rounds", "2", "--model", "cox",
                  "--dp-epsilon", "2.0", "--in-process", "--out",
                  str(tmp_path / "cox.json")])  # fmt: skip
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "cox.json").read_text())
    assert len(saved["theta"]) > 0
    assert saved["rounds"][-1]["epsilon"] == pytest.approx(2.0)
    assert code == 0
    assert "round 1: sites 3/3" in out
    assert "round 2: sites 3/3" in out
    assert "epsilon 2.000" in out
    assert "c_index" in out


def test_demo_with_secure_aggregation(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("flwr", reason="Flower is the 'fed' extra")
    code = _main(["federation", "demo", "--sites", "3", "--rounds", "1",
                  "--secure-aggregation", "--in-process"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "SecAgg+" in out
    assert "round 1: sites 3/3" in out
    assert _main(["federation", "demo", "--sites", "1", "--secure-aggregation",
                  "--in-process"]) == 2  # fmt: skip


def test_server_and_site_commands_print_secure_flower_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [str(tmp_path / n) for n in ("ca.crt", "s.pem", "s.key")]
    code = _main(["federation", "server", "--ca", files[0], "--cert", files[1], "--key",
                  files[2], "--host", "10.0.0.5", "--dry-run"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    assert "--enable-supernode-auth" in captured.out
    assert "--insecure" not in captured.out
    assert "mutual TLS" in captured.err
    code = _main(["federation", "site", "--superlink", "10.0.0.5:9093", "--root-certificates",
                  files[0], "--auth-key", str(tmp_path / "k"), "--data",
                  str(tmp_path / "site.npz"), "--dry-run"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "--auth-supernode-private-key" in out
    assert "data-path=" in out
    assert out.startswith("FLWR_TELEMETRY_ENABLED=0 ")


def test_a_site_started_from_the_command_line_keeps_its_ledger_and_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import shlex

    from healthtwin.federation.site_governance import SiteGovernance

    base = ["federation", "site", "--superlink", "10.0.0.5:9093", "--root-certificates",
            str(tmp_path / "ca.crt"), "--auth-key", str(tmp_path / "k"), "--data",
            str(tmp_path / "site.npz"), "--name", "h1", "--dry-run", "--json"]  # fmt: skip
    code = _main([*base, "--ledger", str(tmp_path / "l.jsonl"), "--budget-epsilon", "4",
                  "--audit", str(tmp_path / "a.jsonl")])  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["environment"] == {"FLWR_TELEMETRY_ENABLED": "0"}
    words = document["command"]
    config = dict(w.split("=", 1) for w in shlex.split(words[words.index("--node-config") + 1]))
    node_config = {k: v.strip('"') for k, v in config.items()}
    governance = SiteGovernance.from_node_config(node_config, "h1")
    assert governance.ledger is not None
    assert governance.audit_path == tmp_path / "a.jsonl"
    assert _main([*base, "--ledger", str(tmp_path / "l.jsonl")]) == 2


def test_project_command_writes_the_flower_app(tmp_path: Path) -> None:
    assert _main(["federation", "project", "--out", str(tmp_path)]) == 0
    assert "healthtwin.federation.apps:client_app" in (tmp_path / "pyproject.toml").read_text()


def test_bad_split_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert _main(["federation", "demo", "--split", "random", "--in-process"]) == 2
    assert "--split 'random'" in capsys.readouterr().err


def test_demo_boosts_trees_equal_to_the_pooled_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("flwr", reason="Flower is the 'fed' extra")
    import json

    from healthtwin.federation.gbdt import BoostingConfig, FeatureBins, fit_central
    from healthtwin.federation.sites import load_site_data

    code = _main(["federation", "demo", "--model", "gbdt", "--trees", "3", "--max-depth", "2",
                  "--dataset", "veterans", "--in-process", "--json",
                  "--out", str(tmp_path / "gbdt.json")])  # fmt: skip
    document = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "gbdt.json").read_text())
    from healthtwin.federation.gbdt import GradientBoostedTrees

    reloaded = GradientBoostedTrees.from_json(json.dumps(saved["gbdt"]))
    assert code == 0
    assert document["trees"] == 3
    assert {lv["tree"] for lv in document["levels"]} == {0, 1, 2}
    pooled = load_site_data("veterans", outcome="binary")
    d = pooled.features.shape[1]
    central = fit_central(
        pooled,
        FeatureBins.uniform([-3.0] * d, [3.0] * d, 32),
        BoostingConfig(n_trees=3, max_depth=2),
    )
    assert document["metrics"] == pytest.approx(central.evaluate(pooled), abs=1e-12)
    assert reloaded.evaluate(pooled) == pytest.approx(document["metrics"], abs=1e-12)


def test_demo_seed_fixes_the_split_and_the_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("flwr", reason="Flower is the 'fed' extra")
    import json

    def theta(seed: int, name: str) -> list[float]:
        path = tmp_path / name
        args = ["federation", "demo", "--sites", "2", "--rounds", "1", "--model", "logistic",
                "--dp-epsilon", "4.0", "--in-process", "--seed", str(seed), "--json",
                "--out", str(path)]  # fmt: skip
        assert _main(args) == 0
        assert json.loads(capsys.readouterr().out)["seed"] == seed
        return list(json.loads(path.read_text())["theta"])

    first, again, other = theta(7, "a.json"), theta(7, "b.json"), theta(8, "c.json")
    assert first == again
    assert first != other
