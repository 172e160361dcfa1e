"""Federated gradient-boosted trees over Flower: a ClientApp that counts, a ServerApp that grows.

The protocol of :mod:`~healthtwin.federation.gbdt` travels in Flower ``query`` messages
(Message API), on its own ``gbdt_client_app`` (so :mod:`~healthtwin.federation.apps` is
untouched; a deployment that wants one ClientApp for everything registers the three
handlers below on it too):

- ``query.gbdt_describe``: the site answers its number of features and rows and, when the
  server asks for a quantile sketch, its counts on a fine public grid (an ``ArrayRecord``);
- ``query.gbdt_setup``: the server sends the public bins (JSON); the site keeps them and
  starts from raw score 0;
- ``query.histogram``: the tree so far, its open nodes and the last finished tree (JSON);
  the site answers its integer ``(g, h)`` histograms (an int64 ``ArrayRecord``).

A site's records, bins and raw scores live in the node's Flower state for the run. The
node config is the learning apps' (:func:`~healthtwin.federation.apps.site_data_from_node_config`:
``data-path`` to an ``.npz`` whose ``event`` is the binary label, or ``dataset`` +
``site-index`` + ``n-sites`` + ``outcome=binary``...).

The ServerApp (``healthtwin.federation.gbdt_flower:gbdt_server_app``) reads its **run
config**: ``num-trees``, ``max-depth``, ``learning-rate``, ``l2``, ``min-child-weight``,
``min-split-gain``, ``n-bins``, ``binning`` (``uniform`` between ``bin-lower`` and
``bin-upper`` for every feature, or ``sketch``: quantiles of a federated sketch on
``sketch-bins`` fine bins between the same bounds), ``dp-epsilon`` (0 = off), ``delta``,
``seed``, ``min-available-sites``, ``timeout-s`` and ``result-path`` (the model and the
level records as JSON).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from healthtwin.core.types import IntArray
from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.federation._flower import (
    ArrayRecord,
    ClientApp,
    ConfigRecord,
    Context,
    Grid,
    Message,
    MetricRecord,
    RecordDict,
    ServerApp,
)
from healthtwin.federation.analytics_flower import server_identity
from healthtwin.federation.apps import site_data_from_node_config
from healthtwin.federation.deployment import AppSpec
from healthtwin.federation.gbdt import (
    BoostingConfig,
    BoostingResult,
    FeatureBins,
    HistogramReply,
    HistogramRequest,
    HistogramSite,
    Transport,
    boost,
    fine_counts,
    sketch_bins,
)
from healthtwin.federation.local_grid import InProcessGrid
from healthtwin.federation.sites import SiteData

__all__ = [
    "GBDT_APP",
    "GBDT_RUN_CONFIG_DEFAULTS",
    "boosting_config_from_run",
    "gbdt_client_app",
    "gbdt_server_app",
    "grid_transport",
    "run_boosting_in_grid",
    "serve_boosting",
]

Scalar = bool | float | int | str

gbdt_client_app = ClientApp()
gbdt_server_app = ServerApp()

#: Every run-config key of the ServerApp, with its default (``flwr run`` refuses others).
GBDT_RUN_CONFIG_DEFAULTS: dict[str, Scalar] = {
    "num-trees": 50,
    "max-depth": 3,
    "learning-rate": 0.1,
    "l2": 1.0,
    "min-child-weight": 1.0,
    "min-split-gain": 0.0,
    "n-bins": 32,
    "binning": "uniform",
    "bin-lower": -3.0,
    "bin-upper": 3.0,
    "sketch-bins": 256,
    "dp-epsilon": 0.0,
    "delta": 1e-5,
    "seed": 0,
    "min-available-sites": 0,
    "timeout-s": 120.0,
    "result-path": "",
}
#: The boosted-trees app, for :meth:`~healthtwin.federation.deployment.LoopbackFederation.submit`.
GBDT_APP = AppSpec(
    "healthtwin.federation.gbdt_flower:gbdt_server_app",
    "healthtwin.federation.gbdt_flower:gbdt_client_app",
    GBDT_RUN_CONFIG_DEFAULTS,
    "healthtwin federated gradient-boosted trees",
)

_DATA, _NAME, _BINS, _SCORES, _TREES = (
    "gbdt-data",
    "gbdt-name",
    "gbdt-bins",
    "gbdt-scores",
    "gbdt-trees",
)


def _site(context: Context) -> SiteData:
    """The site's records, read once per run and kept in the node's Flower state."""
    state = context.state
    if _DATA not in state:
        site = site_data_from_node_config(context.node_config)
        state[_DATA] = ArrayRecord([site.features, site.time, site.event])
        state[_NAME] = ConfigRecord({"name": site.name})
        return site
    features, time_, event = _arrays(state, _DATA)
    return SiteData(features, time_, event.astype(np.bool_), str(_config(state, _NAME)["name"]))


def _arrays(content: RecordDict, key: str) -> list[np.ndarray]:
    record = content.get(key)
    if not isinstance(record, ArrayRecord):
        raise InvalidInputError(f"message record {key!r} is {type(record).__name__}, not arrays")
    return [np.asarray(a) for a in record.to_numpy_ndarrays()]


def _config(content: RecordDict, key: str) -> ConfigRecord:
    record = content.get(key)
    if not isinstance(record, ConfigRecord):
        raise InvalidInputError(f"message record {key!r} is {type(record).__name__}, not config")
    return record


def _fine_grid(settings: Mapping[str, object], n_features: int) -> FeatureBins:
    lower, upper = float(str(settings["bin-lower"])), float(str(settings["bin-upper"]))
    return FeatureBins.uniform(
        [lower] * n_features, [upper] * n_features, int(str(settings["sketch-bins"]))
    )


@gbdt_client_app.query("gbdt_describe")
def describe_site(message: Message, context: Context) -> Message:
    """Answer the number of features and rows, and the fine counts if asked."""
    site = _site(context)
    settings = _config(message.content, "config")
    d = site.features.shape[1]
    content = RecordDict(
        {"metrics": MetricRecord({"n-features": d, "num-examples": site.n_patients})}
    )
    if int(str(settings.get("sketch-bins", 0))) > 0:
        counts = fine_counts(site.features, _fine_grid(settings, d))
        content["counts"] = ArrayRecord([counts])
    return Message(content, reply_to=message)


@gbdt_client_app.query("gbdt_setup")
def set_up_site(message: Message, context: Context) -> Message:
    """Keep the public bins; start from raw score 0."""
    site = _site(context)
    bins_json = str(_config(message.content, "config")["bins"])
    FeatureBins.from_dict(json.loads(bins_json)).bin(site.features)  # fail early on a mismatch
    context.state[_BINS] = ConfigRecord({"json": bins_json})
    context.state[_SCORES] = ArrayRecord([np.zeros(site.n_patients)])
    context.state[_TREES] = ConfigRecord({"n": 0})
    return Message(RecordDict({"metrics": MetricRecord({"ready": 1})}), reply_to=message)


@gbdt_client_app.query("histogram")
def answer_histogram(message: Message, context: Context) -> Message:
    """Answer one level's histograms; apply the last finished tree first if needed."""
    if _BINS not in context.state:
        raise InvalidInputError("histogram asked before gbdt_setup sent the bins")
    bins = FeatureBins.from_dict(json.loads(str(_config(context.state, _BINS)["json"])))
    worker = HistogramSite(_site(context), bins)
    worker.raw_score = _arrays(context.state, _SCORES)[0].astype(np.float64)
    worker.n_trees = int(str(_config(context.state, _TREES)["n"]))
    request = HistogramRequest.from_json(str(_config(message.content, "config")["request"]))
    hist = worker.histograms(request)
    context.state[_SCORES] = ArrayRecord([worker.raw_score])
    context.state[_TREES] = ConfigRecord({"n": worker.n_trees})
    return Message(RecordDict({"histograms": ArrayRecord([hist])}), reply_to=message)


def _send(
    grid: Grid, nodes: Sequence[int], kind: str, config: ConfigRecord, group: str, timeout: float
) -> dict[int, Message]:
    messages = [
        Message(
            RecordDict({"config": config}),
            dst_node_id=node,
            message_type=f"query.{kind}",
            group_id=group,
        )
        for node in nodes
    ]
    replies = grid.send_and_receive(messages, timeout=timeout)
    return {r.metadata.src_node_id: r for r in replies}


def _reason(reply: Message | None) -> str:
    if reply is None:
        return "no reply before the timeout"
    return f"error {reply.error.code}: {reply.error.reason}"


def grid_transport(grid: Grid, nodes: Sequence[int], timeout_s: float = 120.0) -> Transport:
    """A :func:`~healthtwin.federation.gbdt.boost` transport over a Flower grid.

    Bytes count the request's JSON text and the histograms' ``ArrayRecord``.
    """

    def send(request: HistogramRequest) -> list[HistogramReply]:
        text = request.to_json()
        config = ConfigRecord({"request": text})
        group = f"tree-{request.tree_index}"
        replies = _send(grid, nodes, "histogram", config, group, timeout_s)
        sent = len(text.encode())
        out = []
        for node in nodes:
            reply = replies.get(node)
            name = f"node-{node}"
            if reply is None or reply.has_error():
                out.append(HistogramReply(name, None, _reason(reply), sent))
                continue
            record = reply.content["histograms"]
            hist: IntArray = np.asarray(_arrays(reply.content, "histograms")[0], np.int64)
            out.append(HistogramReply(name, hist, "", sent, int(record.count_bytes())))
        return out

    return send


def boosting_config_from_run(run_config: Mapping[str, Scalar]) -> BoostingConfig:
    """The boosting settings from a Flower run config (module docstring).

    Examples
    --------
    >>> boosting_config_from_run({"num-trees": 5, "dp-epsilon": 0}).n_trees
    5
    """
    epsilon = float(run_config.get("dp-epsilon", 0.0))
    return BoostingConfig(
        n_trees=int(run_config.get("num-trees", 50)),
        max_depth=int(run_config.get("max-depth", 3)),
        learning_rate=float(run_config.get("learning-rate", 0.1)),
        l2=float(run_config.get("l2", 1.0)),
        min_child_weight=float(run_config.get("min-child-weight", 1.0)),
        min_split_gain=float(run_config.get("min-split-gain", 0.0)),
        dp_epsilon=epsilon if epsilon > 0.0 else None,
        dp_delta=float(run_config.get("delta", 1e-5)),
    )


def serve_boosting(
    grid: Grid,
    run_config: Mapping[str, Scalar],
    on_tree: Callable[[int, int], None] | None = None,
) -> BoostingResult:
    """The server's side: describe, agree on bins, grow the trees (module docstring).

    ``on_tree`` is called with ``(trees grown, trees)`` after each tree.

    Raises
    ------
    InvalidInputError
        If no site answers or the sites disagree on the number of features.
    InvalidParameterError
        If ``binning`` is neither ``uniform`` nor ``sketch``.
    """
    config = boosting_config_from_run(run_config)
    timeout = float(run_config.get("timeout-s", 120.0))
    rng = np.random.default_rng(int(run_config.get("seed", 0)))
    nodes = _wait(grid, int(run_config.get("min-available-sites", 0)), timeout)
    binning = str(run_config.get("binning", "uniform"))
    if binning not in {"uniform", "sketch"}:
        raise InvalidParameterError(f"binning = {binning!r}; choose 'uniform' or 'sketch'")
    settings = ConfigRecord(
        {
            "bin-lower": float(run_config.get("bin-lower", -3.0)),
            "bin-upper": float(run_config.get("bin-upper", 3.0)),
            "sketch-bins": int(run_config.get("sketch-bins", 256)) if binning == "sketch" else 0,
        }
    )
    described = _send(grid, nodes, "gbdt_describe", settings, "describe", timeout)
    answered = {n: r for n, r in described.items() if not r.has_error()}
    widths = {int(str(r.content["metrics"]["n-features"])) for r in answered.values()}
    if len(widths) != 1:
        raise InvalidInputError(
            f"sites report feature counts {sorted(widths)} ({len(answered)} of {len(nodes)} "
            "answered); all sites must harmonise to the same encoded features"
        )
    d = widths.pop()
    n_bins = int(run_config.get("n-bins", 32))
    extra = 0
    if binning == "sketch":
        counts = [_arrays(r.content, "counts")[0] for r in answered.values()]
        extra = 1 if config.dp_epsilon is not None else 0
        sigma = config.noise_multiplier(extra)
        bins = sketch_bins(counts, _fine_grid(settings, d), n_bins, noise_multiplier=sigma, rng=rng)
    else:
        lower, upper = float(str(settings["bin-lower"])), float(str(settings["bin-upper"]))
        bins = FeatureBins.uniform([lower] * d, [upper] * d, n_bins)
    setup = ConfigRecord({"bins": json.dumps(bins.to_dict())})
    ready = _send(grid, list(answered), "gbdt_setup", setup, "setup", timeout)
    members = [n for n in answered if n in ready and not ready[n].has_error()]
    transport = grid_transport(grid, members, timeout)
    return boost(transport, bins, config, rng, extra_mechanisms=extra, on_tree=on_tree)


def _wait(grid: Grid, wanted: int, timeout_s: float) -> list[int]:
    """Give SuperNodes that are still connecting up to ``timeout_s`` to appear."""
    deadline = time.monotonic() + timeout_s
    while len(list(grid.get_node_ids())) < wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    return sorted(grid.get_node_ids())


@gbdt_server_app.main()
def run_boosting(grid: Grid, context: Context) -> None:
    """Train; write the model and the level records to ``result-path`` when given."""
    result = serve_boosting(grid, context.run_config)
    path = str(context.run_config.get("result-path", ""))
    if path:
        payload = {
            "model": json.loads(result.model.to_json()),
            "epsilon": result.epsilon,
            "levels": [dataclasses.asdict(level) for level in result.levels],
        }
        Path(path).write_text(json.dumps(payload, indent=1))


def run_boosting_in_grid(
    grid: InProcessGrid,
    run_config: Mapping[str, Scalar],
    on_tree: Callable[[int, int], None] | None = None,
) -> BoostingResult:
    """Run the ServerApp's loop on an in-process grid (``on_tree``: trees grown, trees).

    Examples
    --------
    >>> nodes = [{"dataset": "veterans", "outcome": "binary", "site-index": k, "n-sites": 2}
    ...          for k in range(2)]
    >>> result = run_boosting_in_grid(InProcessGrid(gbdt_client_app, nodes),
    ...                               {"num-trees": 3, "max-depth": 2})
    >>> len(result.model.trees), result.levels[0].answered
    (3, ('node-1', 'node-2'))
    """
    with server_identity(grid.run.run_id):
        return serve_boosting(grid, run_config, on_tree)
