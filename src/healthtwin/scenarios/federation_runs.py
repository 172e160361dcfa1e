"""The federated learning demo: sites split from a shipped data set, trained on Flower.

:func:`demo_nodes` splits a shipped survival data set over ``sites`` (iid, or by case
mix), one Flower node config per site. :func:`train_demo` trains a Cox or logistic model
over them with FedAvg or FedProx (optionally DP-FedAvg and SecAgg+), and
:func:`train_boosting_demo` histogram gradient-boosted trees, level by level; both run the
same Flower apps either in this process (:class:`healthtwin.federation.local_grid.
InProcessGrid`) or as a SuperLink and SuperNodes on loopback with TLS and node
authentication (:class:`healthtwin.federation.deployment.LoopbackFederation`).
:func:`write_flower_project` writes the Flower app project that ``flwr run`` submits.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthtwin.errors import InvalidInputError

__all__ = [
    "BoostingDemo",
    "DemoTraining",
    "Scalar",
    "demo_nodes",
    "train_boosting_demo",
    "train_demo",
    "write_flower_project",
]

#: A value of a Flower run or node config.
Scalar = bool | float | int | str


def demo_nodes(
    sites: int, *, dataset: str, split: str, outcome: str, seed: int = 0
) -> list[dict[str, Scalar]]:
    """One Flower node config per site: which part of ``dataset`` it holds.

    Parameters
    ----------
    sites
        Number of sites.
    dataset
        Shipped data set (``whas500``, ``veterans``...).
    split
        ``"iid"`` or ``"case-mix"``.
    outcome
        ``"survival"`` or ``"binary"``.
    seed
        Seed of the split (every site cuts the same sites from it).

    Raises
    ------
    InvalidInputError
        If the split is unknown.

    Examples
    --------
    >>> node = demo_nodes(2, dataset="whas500", split="iid", outcome="binary", seed=3)[1]
    >>> node["site-index"], node["n-sites"], node["split-seed"]
    (1, 2, 3)
    """
    if split not in {"iid", "case-mix"}:
        raise InvalidInputError(f"--split {split!r}; choose 'iid' or 'case-mix'")
    return [
        {"dataset": dataset, "site-index": k, "n-sites": sites, "split": split,
         "outcome": outcome, "split-seed": seed}
        for k in range(sites)
    ]  # fmt: skip


@dataclass(frozen=True)
class DemoTraining:
    """A trained demo federation.

    Attributes
    ----------
    rounds
        Each round's record as a dict (sites answered, metrics, epsilon spent...).
    round_lines
        One line per round, for a person.
    theta
        The final global parameters.
    seconds
        Training time.
    """

    rounds: list[dict[str, Any]]
    round_lines: list[str]
    theta: list[float]
    seconds: float


def train_demo(
    nodes: list[dict[str, Scalar]],
    run_config: dict[str, Scalar],
    *,
    in_process: bool = False,
    timeout_s: float = 300.0,
    on_round: Callable[[int, int], None] | None = None,
) -> DemoTraining:
    """Train the learning app over ``nodes`` in this process or on a loopback deployment.

    Parameters
    ----------
    nodes
        Node configs (:func:`demo_nodes`).
    run_config
        The learning app's run config (``model``, ``num-rounds``, ``strategy``,
        ``dp-epsilon``, ``clip-norm``, ``secure-aggregation``).
    in_process
        Run the same apps in one process instead of a SuperLink and SuperNodes.
    timeout_s
        Longest wait for a deployed run.
    on_round
        ``(rounds done, rounds)`` after each round, in process only: a deployed run's
        rounds happen in the SuperLink's process and are read back only at the end.

    Returns
    -------
    DemoTraining
        The rounds and the final parameters.

    Examples
    --------
    >>> nodes = demo_nodes(2, dataset="veterans", split="iid", outcome="survival")
    >>> trained = train_demo(nodes, {"model": "cox", "num-rounds": 1}, in_process=True)
    >>> len(trained.rounds), trained.round_lines[0].startswith("round 1: sites 2/2")
    (1, True)
    """
    from healthtwin.federation.apps import client_app, format_round

    if in_process:
        from healthtwin.federation.local_grid import InProcessGrid, run_in_grid

        result = run_in_grid(InProcessGrid(client_app, nodes), run_config, on_round)
        seconds = sum(r.seconds for r in result.rounds)
    else:
        from healthtwin.federation.deployment import LoopbackFederation

        with LoopbackFederation(nodes) as federation:
            deployed = federation.run(run_config, timeout_s=timeout_s)
        result, seconds = deployed.result, deployed.seconds
    return DemoTraining(
        rounds=[dataclasses.asdict(r) for r in result.rounds],
        round_lines=[format_round(record) for record in result.rounds],
        theta=result.theta.tolist(),
        seconds=float(seconds),
    )


@dataclass(frozen=True)
class BoostingDemo:
    """Federated gradient-boosted trees and how their training went.

    Attributes
    ----------
    model
        The trees as JSON-ready data (``GradientBoostedTrees.to_json``).
    n_trees
        Trees trained.
    epsilon
        Epsilon spent (``0`` without DP).
    levels
        One record per histogram query (tree, sites answered and failed, bytes).
    tree_lines
        One line per tree, for a person.
    scores
        AUROC (``auc``) and ``log_loss`` on the pooled sites' records.
    """

    model: dict[str, Any]
    n_trees: int
    epsilon: float
    levels: list[dict[str, Any]]
    tree_lines: list[str]
    scores: dict[str, float]


def train_boosting_demo(
    nodes: list[dict[str, Scalar]],
    run_config: dict[str, Scalar],
    *,
    dataset: str,
    in_process: bool = False,
    timeout_s: float = 300.0,
    on_tree: Callable[[int, int], None] | None = None,
) -> BoostingDemo:
    """Boost trees over ``nodes`` (gradient histograms level by level) and score them.

    Parameters
    ----------
    nodes
        Node configs (:func:`demo_nodes`, binary outcome).
    run_config
        ``num-trees``, ``max-depth`` and ``dp-epsilon``.
    dataset
        The shipped data set the nodes split (the model is scored on all of it).
    in_process, timeout_s
        As in :func:`train_demo`.
    on_tree
        ``(trees grown, trees)`` after each tree, in process only (as ``on_round``).

    Examples
    --------
    >>> nodes = demo_nodes(2, dataset="whas500", split="iid", outcome="binary")
    >>> boosted = train_boosting_demo(nodes, {"num-trees": 2, "max-depth": 2},
    ...                               dataset="whas500", in_process=True)
    >>> boosted.n_trees, len(boosted.tree_lines), 0.5 < boosted.scores["auc"] <= 1
    (2, 2, True)
    """
    from healthtwin.federation.gbdt import GradientBoostedTrees
    from healthtwin.federation.sites import load_site_data

    if in_process:
        from healthtwin.federation.gbdt_flower import gbdt_client_app, run_boosting_in_grid
        from healthtwin.federation.local_grid import InProcessGrid

        result = run_boosting_in_grid(InProcessGrid(gbdt_client_app, nodes), run_config, on_tree)
        model, epsilon = result.model, result.epsilon
        levels = [dataclasses.asdict(level) for level in result.levels]
    else:
        from healthtwin.federation.deployment import LoopbackFederation
        from healthtwin.federation.gbdt_flower import GBDT_APP, GBDT_RUN_CONFIG_DEFAULTS

        config = {**GBDT_RUN_CONFIG_DEFAULTS, **run_config}
        with LoopbackFederation(nodes) as federation:
            path, _ = federation.submit(GBDT_APP, config, timeout_s=timeout_s)
        payload = json.loads(path.read_text())
        model = GradientBoostedTrees.from_json(json.dumps(payload["model"]))
        epsilon, levels = float(payload["epsilon"]), list(payload["levels"])
    lines = []
    for tree in range(len(model.trees)):
        mine = [lv for lv in levels if lv["tree"] == tree]
        failed = sorted({site for lv in mine for site, _ in lv["failed"]})
        sent = sum(int(lv["bytes_sent"]) + int(lv["bytes_received"]) for lv in mine)
        lines.append(
            f"tree {tree + 1:3d}: {len(mine)} levels, {len(mine[-1]['answered']) if mine else 0}"
            f" sites answered, failed {failed or 'none'}, {sent:,} bytes"
        )
    scores = model.evaluate(load_site_data(dataset, outcome="binary"))
    return BoostingDemo(
        model=json.loads(model.to_json()),
        n_trees=len(model.trees),
        epsilon=epsilon,
        levels=levels,
        tree_lines=lines,
        scores=scores,
    )


def write_flower_project(out: Path) -> Path:
    """Write the Flower app project that ``flwr run`` submits; return its pyproject.toml.

    Examples
    --------
    >>> import tempfile
    >>> write_flower_project(Path(tempfile.mkdtemp()) / "app").name
    'pyproject.toml'
    """
    from healthtwin.federation.deployment import write_app_project

    return write_app_project(out) / "pyproject.toml"
