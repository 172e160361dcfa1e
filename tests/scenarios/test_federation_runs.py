"""The federated demo: site configs, in-process training, boosted trees, the Flower project."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import require

from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.federation_runs import (
    demo_nodes,
    train_boosting_demo,
    train_demo,
    write_flower_project,
)


def test_nodes_split_the_data_set_and_refuse_unknown_splits() -> None:
    nodes = demo_nodes(3, dataset="whas500", split="case-mix", outcome="survival")
    assert [n["site-index"] for n in nodes] == [0, 1, 2]
    assert {n["n-sites"] for n in nodes} == {3}
    with pytest.raises(InvalidInputError, match="choose 'iid' or 'case-mix'"):
        demo_nodes(2, dataset="whas500", split="random", outcome="binary")


def test_in_process_training_records_every_round_and_the_privacy_spent() -> None:
    require("flwr", "fed")
    nodes = demo_nodes(2, dataset="veterans", split="iid", outcome="survival")
    config: dict[str, bool | float | int | str] = {
        "model": "cox", "num-rounds": 2, "dp-epsilon": 2.0, "clip-norm": 0.5,
    }  # fmt: skip
    trained = train_demo(nodes, config, in_process=True)
    assert len(trained.rounds) == len(trained.round_lines) == 2
    assert trained.round_lines[1].startswith("round 2: sites 2/2")
    assert trained.rounds[-1]["epsilon"] == pytest.approx(2.0)
    assert len(trained.theta) > 0
    assert trained.seconds >= 0


def test_boosting_gives_one_line_per_tree_and_pooled_scores() -> None:
    require("flwr", "fed")
    nodes = demo_nodes(2, dataset="whas500", split="iid", outcome="binary")
    boosted = train_boosting_demo(
        nodes, {"num-trees": 3, "max-depth": 2}, dataset="whas500", in_process=True
    )
    assert boosted.n_trees == len(boosted.tree_lines) == 3
    assert boosted.tree_lines[0].startswith("tree   1: 2 levels, 2 sites answered")
    assert boosted.epsilon == 0.0
    assert 0.5 < boosted.scores["auc"] <= 1.0
    assert {lv["tree"] for lv in boosted.levels} == {0, 1, 2}
    assert "trees" in boosted.model


def test_the_flower_project_is_written(tmp_path: Path) -> None:
    written = write_flower_project(tmp_path / "app")
    assert written == tmp_path / "app" / "pyproject.toml"
    assert "[tool.flwr.app" in written.read_text()
