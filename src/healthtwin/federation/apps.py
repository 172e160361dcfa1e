"""The Flower apps: a ServerApp that runs the rounds and a ClientApp that trains at a site.

Both use Flower's Message API (``flwr.app``): the server sends ``query`` (how many features
and patients a site has), ``train`` (global parameters in an ``ArrayRecord``, settings in a
``ConfigRecord``) and ``evaluate`` messages; a site answers with its parameters and a
``MetricRecord``. Aggregation, sampling, DP and the round records are the pure functions of
:mod:`~healthtwin.federation.strategies`, so the apps hold no numerics of their own.

Configuration comes from Flower's two places:

- the **run config** (``flwr run ... --run-config``; the server reads it): ``model``,
  ``num-rounds``, ``strategy``, ``proximal-mu``, ``local-steps``, ``learning-rate``,
  ``fraction-sites``, ``min-sites``, ``min-available-sites`` (wait until that many sites
  are connected), ``dp-epsilon`` (0 = off), ``clip-norm``, ``delta``,
  ``secure-aggregation`` (SecAgg+, :mod:`~healthtwin.federation.secure_aggregation`; off by
  default), ``secagg-clipping-range`` (``c``, default 8), ``seed``, ``l2``, ``timeout-s``
  and ``result-path`` (where the server writes the round records as JSON; empty = nowhere),
  and ``queries`` + ``alpha``: analytics queries (JSON list) the same nodes answer after
  the rounds (:mod:`~healthtwin.federation.analytics_flower`; its node-config keys);
- the **node config** (``flower-supernode --node-config``; each site reads its own):
  ``data-path`` (an ``.npz`` with ``features``, ``time``, ``event`` and, for the glucose
  forecaster, ``target``, that the site has harmonised itself) or, for demonstrations,
  ``dataset`` + ``site-index`` + ``n-sites`` + ``split`` (``iid`` or ``case-mix``) +
  ``split-seed`` + ``outcome``, which cuts one shipped data set into the same sites on
  every node; and the site's own governance (:mod:`~healthtwin.federation.site_governance`):
  ``ledger-path`` + ``budget-epsilon`` (+ ``budget-delta``), charged each round's DP cost
  before training, and ``audit-path``, a hash-chained log of every round.

The module-level ``server_app`` and ``client_app`` are what Flower loads
(``healthtwin.federation.apps:server_app``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, InvalidParameterError, SolverError
from healthtwin.federation._flower import (
    ArrayRecord,
    ClientApp,
    Code,
    ConfigRecord,
    Context,
    FitRes,
    Grid,
    Message,
    MetricRecord,
    RecordDict,
    ServerApp,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
    recorddict_compat,
)
from healthtwin.federation.analytics_flower import answer_query, queries_from_run
from healthtwin.federation.models import FederatedModel, LocalResult, make_model
from healthtwin.federation.privacy import DifferentialPrivacy, clip_update
from healthtwin.federation.secure_aggregation import (
    SecureAggregation,
    secure_aggregation_mod,
    secure_round,
)
from healthtwin.federation.site_governance import SiteGovernance
from healthtwin.federation.sites import (
    SiteData,
    load_site_data,
    split_by_case_mix,
    split_iid,
)
from healthtwin.federation.strategies import (
    FederationConfig,
    FederationResult,
    RoundRecord,
    SiteReply,
    close_round,
    sample_sites,
    train_at_site,
    weighted_metrics,
)

__all__ = [
    "client_app",
    "config_from_run",
    "format_round",
    "serve_rounds",
    "server_app",
    "site_data_from_node_config",
]

Scalar = bool | float | int | str

client_app = ClientApp()
server_app = ServerApp()


def site_data_from_node_config(node_config: Mapping[str, Scalar]) -> SiteData:
    """Load the site's own records as its node config says (module docstring).

    Raises
    ------
    InvalidInputError
        If neither ``data-path`` nor ``dataset`` is given, or the file lacks an array.

    Examples
    --------
    >>> site = site_data_from_node_config(
    ...     {"dataset": "veterans", "site-index": 1, "n-sites": 2, "split": "iid"})
    >>> site.name, site.n_patients
    ('site-1', 68)
    """
    if "data-path" in node_config:
        path = Path(str(node_config["data-path"]))
        with np.load(path) as arrays:
            try:
                return SiteData(
                    np.asarray(arrays["features"], np.float64),
                    np.asarray(arrays["time"], np.float64),
                    np.asarray(arrays["event"], np.bool_),
                    str(node_config.get("site-name", path.stem)),
                    np.asarray(arrays["target"], np.float64) if "target" in arrays else None,
                )
            except KeyError as err:
                raise InvalidInputError(
                    f"{path} lacks array {err}; give 'features', 'time' and 'event'"
                ) from err
    if "dataset" not in node_config:
        raise InvalidInputError(
            f"node config {dict(node_config)} names no data; give data-path=<file.npz> or "
            "dataset=<name> with site-index and n-sites"
        )
    pooled = load_site_data(
        str(node_config["dataset"]), outcome=str(node_config.get("outcome", "survival"))
    )
    n_sites = int(node_config.get("n-sites", 1))
    rng = np.random.default_rng(int(node_config.get("split-seed", 0)))
    if node_config.get("split", "iid") == "case-mix":
        sites = split_by_case_mix(pooled, n_sites, rng, skew=float(node_config.get("skew", 0.8)))
    else:
        sites = split_iid(pooled, n_sites, rng)
    return sites[int(node_config.get("site-index", 0))]


def _site(context: Context) -> SiteData:
    """The site's records, loaded once per run and kept in the node's Flower state."""
    if "site-data" in context.state:
        features, time_, event, *target = _arrays(context.state, "site-data")
        name = str(context.state["site-name"]["name"])
        return SiteData(features, time_, event.astype(np.bool_), name, *target)
    site = site_data_from_node_config(context.node_config)
    arrays = [site.features, site.time, site.event]
    context.state["site-data"] = ArrayRecord(
        arrays + ([] if site.target is None else [site.target])
    )
    context.state["site-name"] = ConfigRecord({"name": site.name})
    return site


def config_from_run(run_config: Mapping[str, Scalar]) -> FederationConfig:
    """The federation settings from a Flower run config (module docstring).

    Examples
    --------
    >>> config_from_run({"num-rounds": 3, "strategy": "fedprox", "dp-epsilon": 0}).rounds
    3
    """
    rounds = int(run_config.get("num-rounds", 5))
    epsilon = float(run_config.get("dp-epsilon", 0.0))
    dp = None
    if epsilon > 0.0:
        dp = DifferentialPrivacy.for_epsilon(
            epsilon,
            rounds=rounds,
            clip_norm=float(run_config.get("clip-norm", 1.0)),
            delta=float(run_config.get("delta", 1e-5)),
        )
    strategy = str(run_config.get("strategy", "fedavg"))
    if strategy not in ("fedavg", "fedprox"):
        raise InvalidParameterError(f"strategy = {strategy!r}; choose 'fedavg' or 'fedprox'")
    return FederationConfig(
        rounds=rounds,
        strategy="fedprox" if strategy == "fedprox" else "fedavg",
        proximal_mu=float(run_config.get("proximal-mu", 0.1)),
        local_steps=int(run_config.get("local-steps", 10)),
        learning_rate=float(run_config.get("learning-rate", 0.5)),
        fraction_sites=float(run_config.get("fraction-sites", 1.0)),
        min_sites=int(run_config.get("min-sites", 1)),
        dp=dp,
        seed=int(run_config.get("seed", 0)),
        secure_aggregation=_flag(run_config.get("secure-aggregation", False)),
        secagg_clipping_range=float(run_config.get("secagg-clipping-range", 8.0)),
    )


def _flag(value: Scalar) -> bool:
    if isinstance(value, str):
        if value.lower() not in {"true", "false", "1", "0", ""}:
            raise InvalidParameterError(f"expected true or false, got {value!r}")
        return value.lower() in {"true", "1"}
    return bool(value)


def _train_config(run_config: Mapping[str, Scalar], config: FederationConfig) -> ConfigRecord:
    return ConfigRecord(
        {
            "model": str(run_config.get("model", "cox")),
            "l2": float(run_config.get("l2", 1e-3)),
            "local-steps": config.local_steps,
            "learning-rate": config.learning_rate,
            "proximal-mu": config.mu,
        }
    )


def _round_config(
    train_config: ConfigRecord, config: FederationConfig, number: int
) -> ConfigRecord:
    """The round's settings: the run's, the round's number and the DP settings sites charge."""
    dp = config.dp
    return ConfigRecord(
        {
            **train_config,
            "round": number,
            "dp-noise-multiplier": 0.0 if dp is None else dp.noise_multiplier,
            "dp-clip-norm": 0.0 if dp is None else dp.clip_norm,
            "dp-delta": 0.0 if dp is None else dp.delta,
        }
    )


def _governance(context: Context, site: SiteData) -> SiteGovernance:
    return SiteGovernance.from_node_config(context.node_config, site.name)


def _charge(context: Context, site: SiteData, settings: Mapping[str, object]) -> str | None:
    """Charge the round's DP cost to the site's ledger; audit a refusal; its reason or None."""
    number = int(_number(settings.get("round", 0)))
    governance = _governance(context, site)
    sigma = float(_number(settings.get("dp-noise-multiplier", 0.0)))
    dp = None
    if sigma > 0.0:
        dp = DifferentialPrivacy(
            clip_norm=float(_number(settings["dp-clip-norm"])),
            noise_multiplier=sigma,
            delta=float(_number(settings["dp-delta"])),
        )
    refusal = governance.charge_round(number, dp, str(context.run_id))
    if refusal is not None:
        governance.audit(
            "federation.training-round", "minor-failure", {"round": number, "refused": refusal}
        )
    return refusal


def _audit_training(
    context: Context, site: SiteData, settings: Mapping[str, object], error: str | None
) -> None:
    _governance(context, site).audit(
        "federation.training-round",
        "success" if error is None else "minor-failure",
        {
            "round": int(_number(settings.get("round", 0))),
            "model": str(settings.get("model", "")),
            "n_patients": site.n_patients,
            "dp_noise_multiplier": float(_number(settings.get("dp-noise-multiplier", 0.0))),
            "error": error,
        },
    )


@client_app.query()
def describe_site(message: Message, context: Context) -> Message:
    """Answer how many features and patients this site has."""
    site = _site(context)
    metrics = MetricRecord({"n-features": site.features.shape[1], "num-examples": site.n_patients})
    return Message(RecordDict({"metrics": metrics}), reply_to=message)


def _local_training(settings: Mapping[str, object]) -> tuple[FederatedModel, FederationConfig]:
    model = make_model(str(settings["model"]), l2=float(_number(settings["l2"])))
    config = FederationConfig(
        strategy="fedprox" if float(_number(settings["proximal-mu"])) > 0 else "fedavg",
        proximal_mu=float(_number(settings["proximal-mu"])),
        local_steps=int(_number(settings["local-steps"])),
        learning_rate=float(_number(settings["learning-rate"])),
    )
    return model, config


@client_app.train(mods=[secure_aggregation_mod])
def train_site(message: Message, context: Context) -> Message:
    """Train locally from the received parameters; reply with the new ones."""
    if "fitins.config" in message.content:
        return _train_for_secure_aggregation(message, context)
    site = _site(context)
    settings = message.content["config"]
    theta = _arrays(message.content, "arrays")[0]
    refusal = _charge(context, site, settings)
    if refusal is not None:
        metrics = MetricRecord({"num-examples": 0, "failed": 1})
        return Message(
            RecordDict({"metrics": metrics, "error": ConfigRecord({"reason": refusal})}),
            reply_to=message,
        )
    model, config = _local_training(settings)
    reply = train_at_site(model, np.asarray(theta, np.float64), site, config)
    _audit_training(context, site, settings, reply.error if reply.result is None else None)
    if reply.result is None:
        # A failure is data: the server records the reason and the round goes on.
        metrics = MetricRecord({"num-examples": 0, "failed": 1})
        return Message(
            RecordDict({"metrics": metrics, "error": ConfigRecord({"reason": reply.error})}),
            reply_to=message,
        )
    content = RecordDict(
        {
            "arrays": ArrayRecord([reply.result.theta]),
            "metrics": MetricRecord(
                {"num-examples": reply.result.n_patients, "train-loss": reply.result.loss}
            ),
        }
    )
    return Message(content, reply_to=message)


def _train_for_secure_aggregation(message: Message, context: Context) -> Message:
    """Train and hand the weighted update to the SecAgg+ mod, which masks it.

    A failure raises: to the protocol the site has dropped out, and the others' masks
    are still removed (module docstring of :mod:`~healthtwin.federation.secure_aggregation`).
    """
    site = _site(context)
    fitins = recorddict_compat.recorddict_to_fitins(message.content, keep_input=True)
    settings = fitins.config
    theta = np.asarray(parameters_to_ndarrays(fitins.parameters)[0], np.float64)
    refusal = _charge(context, site, settings)
    if refusal is not None:
        raise SolverError(f"site {site.name!r} sits the round out: {refusal}")
    model, config = _local_training(settings)
    reply = train_at_site(model, theta, site, config)
    _audit_training(context, site, settings, reply.error if reply.result is None else None)
    if reply.result is None:
        raise SolverError(f"site {site.name!r} could not train: {reply.error}")
    update = reply.result.theta - theta
    clip_norm = float(_number(settings.get("clip-norm", 0.0)))
    clipped = False
    weight = site.n_patients
    if clip_norm > 0.0:
        # DP with SecAgg+: the site clips, all weights are equal, the server adds noise.
        update, clipped = clip_update(update, clip_norm)
        weight = 1
    limit = float(_number(settings["secagg-clipping-range"]))
    scaled = float(np.max(np.abs(update))) * weight / float(_number(settings["max-weight"]))
    if scaled > limit:
        raise SolverError(
            f"site {site.name!r}: the weighted update reaches {scaled:.3g}, beyond the SecAgg+ "
            f"clipping range {limit}; raise secagg-clipping-range in the run config"
        )
    fit = FitRes(
        Status(Code.OK, ""),
        ndarrays_to_parameters([update]),
        weight,
        {"train-loss": reply.result.loss, "clipped": int(clipped)},
    )
    return Message(recorddict_compat.fitres_to_recorddict(fit, keep_input=True), reply_to=message)


@client_app.evaluate()
def evaluate_site(message: Message, context: Context) -> Message:
    """Evaluate the received global parameters on this site's records."""
    site = _site(context)
    settings = message.content["config"]
    model = make_model(str(settings["model"]), l2=float(_number(settings["l2"])))
    theta = np.asarray(_arrays(message.content, "arrays")[0], np.float64)
    metrics: dict[str, int | float | list[int] | list[float]] = {"num-examples": site.n_patients}
    with np.errstate(invalid="ignore", over="ignore"):
        scores = model.evaluate(theta, site)
    if not all(math.isfinite(v) for v in scores.values()):
        # Bad records at this site: it sits out the federated evaluation.
        metrics["num-examples"] = 0
    metrics.update(scores)
    _governance(context, site).audit(
        "federation.evaluation-round",
        "success" if metrics["num-examples"] else "minor-failure",
        {"model": str(settings["model"]), "n_patients": site.n_patients},
    )
    return Message(RecordDict({"metrics": MetricRecord(metrics)}), reply_to=message)


def _arrays(content: RecordDict, key: str) -> list[FloatArray]:
    record = content[key]
    if not isinstance(record, ArrayRecord):
        raise InvalidInputError(f"message record {key!r} is a {type(record).__name__}, not arrays")
    return [np.asarray(a) for a in record.to_numpy_ndarrays()]


def _number(value: object) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    raise InvalidInputError(f"expected a number in the train config, got {value!r}")


def _ask(
    grid: Grid, nodes: list[int], content: RecordDict, kind: str, group: str, timeout: float
) -> tuple[dict[int, Message], int]:
    messages = [
        Message(content, dst_node_id=node, message_type=kind, group_id=group) for node in nodes
    ]
    sent = sum(_payload_bytes(m) for m in messages)
    replies = grid.send_and_receive(messages, timeout=timeout)
    return {r.metadata.src_node_id: r for r in replies}, sent


def _wait_for_sites(grid: Grid, wanted: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    nodes = sorted(grid.get_node_ids())
    while len(nodes) < wanted and time.monotonic() < deadline:
        time.sleep(0.5)
        nodes = sorted(grid.get_node_ids())
    return nodes


def _payload_bytes(message: Message) -> int:
    if not message.has_content() or "arrays" not in message.content:
        return 0
    return int(message.content["arrays"].count_bytes())


def _site_reply(node: int, reply: Message | None) -> SiteReply:
    name = f"node-{node}"
    if reply is None:
        return SiteReply(name, None, "no reply before the timeout")
    if reply.has_error():
        return SiteReply(name, None, f"error {reply.error.code}: {reply.error.reason}")
    if "arrays" not in reply.content:
        reason = reply.content["error"]["reason"] if "error" in reply.content else "no update"
        return SiteReply(name, None, str(reason))
    metrics = reply.content["metrics"]
    theta = np.asarray(_arrays(reply.content, "arrays")[0], np.float64)
    result = LocalResult(
        theta, float(_number(metrics["train-loss"])), int(_number(metrics["num-examples"]))
    )
    return SiteReply(name, result)


# The same nodes answer analytics queries in a learning run (one run, not two: on a
# deployment each run costs process start-up and polling).
client_app.query("analytics")(answer_query)


@server_app.main()
def run_server(grid: Grid, context: Context) -> None:
    """Run the rounds, then any analytics ``queries``; write all to ``result-path``."""
    result = serve_rounds(grid, context.run_config)
    analytics = queries_from_run(grid, context.run_config)
    path = str(context.run_config.get("result-path", ""))
    if path:
        payload = {
            "theta": result.theta.tolist(),
            "rounds": [r.as_dict() for r in result.rounds],
            "analytics": analytics,
        }
        Path(path).write_text(json.dumps(payload, indent=1))


def serve_rounds(
    grid: Grid,
    run_config: Mapping[str, Scalar],
    on_round: Callable[[int, int], None] | None = None,
) -> FederationResult:
    """The server's loop over rounds (module docstring); returns the result.

    ``on_round`` is called with ``(rounds done, rounds)`` after each round's evaluation;
    it only observes.
    """
    config = config_from_run(run_config)
    timeout = float(run_config.get("timeout-s", 120.0))
    rng = np.random.default_rng(config.seed)
    nodes = _wait_for_sites(grid, int(run_config.get("min-available-sites", 0)), timeout)
    described, _ = _ask(grid, nodes, RecordDict({}), "query", "describe", timeout)
    widths = {
        int(_number(r.content["metrics"]["n-features"]))
        for r in described.values()
        if not r.has_error()
    }
    sizes = {
        node: int(_number(r.content["metrics"]["num-examples"]))
        for node, r in described.items()
        if not r.has_error()
    }
    if len(widths) != 1:
        raise InvalidInputError(
            f"sites report feature counts {sorted(widths)}; all sites must harmonise to the "
            "same encoded features before training"
        )
    model = make_model(str(run_config.get("model", "cox")), l2=float(run_config.get("l2", 1e-3)))
    theta: FloatArray = np.zeros(model.n_parameters(widths.pop()))
    train_config = _train_config(run_config, config)
    records: list[RoundRecord] = []
    for number in range(1, config.rounds + 1):
        start = time.perf_counter()
        names = [str(n) for n in nodes]
        sampled = [
            int(n) for n in sample_sites(names, config.fraction_sites, config.min_sites, rng)
        ]
        round_config = _round_config(train_config, config, number)
        if config.secure_aggregation:
            weight = 1.0 if config.dp is not None else max(sizes.get(n, 1) for n in sampled)
            theta, record, sent, received = _secure_aggregation_round(
                grid, sampled, theta, round_config, config, weight, rng, number, timeout
            )
        else:
            content = RecordDict({"arrays": ArrayRecord([theta]), "config": round_config})
            replies, sent = _ask(grid, sampled, content, "train", str(number), timeout)
            site_replies = [_site_reply(n, replies.get(n)) for n in sampled]
            received = sum(_payload_bytes(r) for r in replies.values() if not r.has_error())
            theta, record = close_round(model, theta, site_replies, config, rng, number)
        content = RecordDict({"arrays": ArrayRecord([theta]), "config": train_config})
        evaluated, _ = _ask(grid, nodes, content, "evaluate", str(number), timeout)
        records.append(
            RoundRecord(
                number,
                tuple(f"node-{n}" for n in sampled),
                record.failed,
                record.train_loss,
                _federated_metrics(evaluated.values()),
                record.n_clipped,
                record.epsilon,
                sent,
                received,
                time.perf_counter() - start,
            )
        )
        if on_round is not None:
            on_round(number, config.rounds)
    return FederationResult(theta, tuple(records))


def _secure_aggregation_round(
    grid: Grid,
    sampled: list[int],
    theta: FloatArray,
    train_config: ConfigRecord,
    config: FederationConfig,
    max_weight: float,
    rng: np.random.Generator,
    number: int,
    timeout: float,
) -> tuple[FloatArray, RoundRecord, int, int]:
    """One round over SecAgg+: the server gets the weighted mean update and nothing finer."""
    settings = SecureAggregation(clipping_range=config.secagg_clipping_range)
    epsilon = config.dp.epsilon(number) if config.dp is not None else 0.0
    if len(sampled) < 2:
        reason = "secure aggregation needs at least two sampled sites"
        failed = tuple((f"node-{n}", reason) for n in sampled)
        return theta, RoundRecord(number, (), failed, math.nan, {}, 0, epsilon), 0, 0
    fit_config: dict[str, Scalar] = {
        **{str(k): v for k, v in train_config.items() if isinstance(v, Scalar)},
        "secagg-clipping-range": settings.clipping_range,
        "max-weight": float(max_weight),
        "clip-norm": config.dp.clip_norm if config.dp is not None else 0.0,
    }
    outcome = secure_round(
        grid, sampled, theta, fit_config, settings,
        max_weight=max_weight, round_number=number, timeout_s=timeout,
    )  # fmt: skip
    if outcome.mean_update is None:
        reason = "secure aggregation halted: too few sites answered to unmask the sum"
        failed = tuple((f"node-{n}", reason) for n in sampled)
        record = RoundRecord(number, (), failed, math.nan, {}, 0, epsilon)
        return theta, record, outcome.bytes_sent, outcome.bytes_received
    update = outcome.mean_update
    n_clipped = 0
    if config.dp is not None:
        sigma = config.dp.noise_multiplier * config.dp.clip_norm
        update = update + rng.normal(0.0, sigma, size=update.shape) / len(outcome.reports)
        n_clipped = sum(int(_number(m.get("clipped", 0))) for _, m in outcome.reports.values())
    weights = {n: w for n, (w, _) in outcome.reports.items()}
    loss = sum(
        w * float(_number(outcome.reports[n][1]["train-loss"])) for n, w in weights.items()
    ) / sum(weights.values())
    failed = tuple(
        (f"node-{n}", "dropped out of secure aggregation")
        for n in sampled
        if n not in outcome.reports
    )
    record = RoundRecord(number, (), failed, loss, {}, n_clipped, epsilon)
    return theta + update, record, outcome.bytes_sent, outcome.bytes_received


def _federated_metrics(replies: Iterable[Message]) -> dict[str, float]:
    """Patient-weighted mean of the sites' evaluation metrics (sites with 0 patients skip)."""
    per_site = []
    for reply in replies:
        if reply.has_error():
            continue
        metrics = reply.content["metrics"]
        n = int(_number(metrics["num-examples"]))
        if n > 0:
            values = {k: float(_number(v)) for k, v in metrics.items() if k != "num-examples"}
            per_site.append((n, values))
    return weighted_metrics(per_site)


def format_round(record: RoundRecord) -> str:
    """One line per round for a terminal.

    Examples
    --------
    >>> format_round(RoundRecord(1, ("a",), (), 0.5, {"c_index": 0.71}))
    'round 1: sites 1/1, train loss 0.5000, c_index 0.7100'
    """
    parts = [
        f"round {record.round}: sites {len(record.sampled) - len(record.failed)}"
        f"/{len(record.sampled)}",
        f"train loss {record.train_loss:.4f}" if math.isfinite(record.train_loss) else "no loss",
    ]
    parts += [f"{k} {v:.4f}" for k, v in record.metrics.items()]
    if record.epsilon:
        parts.append(f"epsilon {record.epsilon:.3f}")
    if record.failed:
        parts.append("failed: " + "; ".join(f"{s} ({why})" for s, why in record.failed))
    return ", ".join(parts)
