"""Secure aggregation (SecAgg+) for the learning apps: the server learns only the sum.

SecAgg+ (Bonawitz et al., CCS 2017; Bell et al., CCS 2020) lets the server add up the
sites' vectors without seeing any one of them: each site masks its quantized vector with
pairwise masks that cancel in the sum and a private mask whose seed is secret-shared among
its neighbours (Shamir), so the sum survives sites dropping out mid-round. This module
wires Flower's implementation into the learning apps of :mod:`~healthtwin.federation.apps`:

- **site**: :func:`secure_aggregation_mod` runs Flower's ``secaggplus_mod`` on the messages
  of the protocol (those carrying a ``secaggplus_configs`` record) and lets plain ``train``
  messages through, so one ClientApp serves both modes and the switch is the server's run
  config (``secure-aggregation``);
- **server**: :func:`secure_round` runs Flower's ``SecAggPlusWorkflow`` (setup, share keys,
  collect masked vectors, unmask: four ``train`` exchanges) for one round over the sites
  already sampled, behind a minimal legacy strategy (:class:`_RoundStrategy`) whose
  ``aggregate_fit`` receives only the unmasked weighted mean.

What a site masks is its **update** ``Delta_k = theta_k - theta`` scaled by its weight
``r_k = n_k / n_max`` (``1`` under DP), so the result is FedAvg's
``theta + sum r_k Delta_k / sum r_k``. Per-site scalars still travel in the clear, as in
Flower: the number of patients (also answered by the ``query`` message), the training loss
and, under DP, whether the update was clipped.

Quantization: a site's scaled update is clipped to ``[-c, c]`` (``clipping_range``) and
rounded stochastically to one of ``Q`` levels (``quantization_range``), i.e. to a step of
``2c / Q``; weights are rounded to ``1 / Q``. The aggregate therefore differs from plain
FedAvg's by at most :meth:`SecureAggregation.tolerance` per coordinate
(``m 2c / (Q sum r_k)`` plus ``max |Delta| / min(Q r_k)`` for the weight rounding): about
``1e-5`` for three sites of 170 patients with the defaults ``c = 8`` and ``Q = 2^22``. A site
whose scaled update leaves ``[-c, c]`` refuses to train (the clip would bias the sum) and
says to raise ``secagg-clipping-range``.

Differential privacy together with SecAgg+: each site clips its own update to ``C`` and
sends it with weight 1; the server adds ``N(0, (sigma C)^2)`` to the unmasked sum, which
is DP-FedAvg's mechanism (:mod:`~healthtwin.federation.privacy`) with the clipping moved to
the sites.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidParameterError
from healthtwin.federation._flower import (
    SECAGG_RECORD,
    ArrayRecord,
    ClientManager,
    ClientProxy,
    ConfigRecord,
    Context,
    EvaluateIns,
    EvaluateRes,
    FitIns,
    FitRes,
    FlowerScalar,
    Grid,
    GridClientProxy,
    LegacyContext,
    Message,
    Parameters,
    RecordDict,
    Run,
    SecAggPlusWorkflow,
    Strategy,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
    recorddict_compat,
    secaggplus_mod,
)

__all__ = [
    "MeteredGrid",
    "SecureAggregation",
    "SecureRound",
    "secure_aggregation_mod",
    "secure_round",
]

Scalar = bool | float | int | str


@dataclass(frozen=True)
class SecureAggregation:
    """SecAgg+ settings (module docstring).

    Attributes
    ----------
    clipping_range : float
        ``c``: a site's scaled update must lie in ``[-c, c]``.
    quantization_range : int
        ``Q``: quantization levels over ``[-c, c]``.
    modulus_range : int
        Masks are drawn modulo this power of two, larger than ``Q`` times the sites.
    reconstruction_threshold : float
        Share of a site's neighbours whose key shares rebuild its masks (at least 2).

    Examples
    --------
    >>> f"{SecureAggregation().tolerance([1.0, 1.0, 1.0]):.1e}"
    '3.8e-06'
    """

    clipping_range: float = 8.0
    quantization_range: int = 2**22
    modulus_range: int = 2**32
    reconstruction_threshold: float = 2.0 / 3.0

    def __post_init__(self) -> None:
        if not self.clipping_range > 0.0 or not 0.0 < self.reconstruction_threshold <= 1.0:
            raise InvalidParameterError(
                f"clipping_range = {self.clipping_range}, reconstruction_threshold = "
                f"{self.reconstruction_threshold}; give a positive range and a share in (0, 1]"
            )
        if self.modulus_range <= self.quantization_range or self.modulus_range.bit_count() != 1:
            raise InvalidParameterError(
                f"modulus_range = {self.modulus_range}; give a power of two larger than "
                f"quantization_range = {self.quantization_range}"
            )

    def tolerance(self, weights: Sequence[float], max_abs_update: float = 0.0) -> float:
        """Bound on ``|secure - plain|`` per coordinate of the mean update (module docstring).

        Parameters
        ----------
        weights : sequence of float
            The sites' weights ``r_k`` in ``(0, 1]``.
        max_abs_update : float
            Largest absolute coordinate of any site's update (for the weight rounding).
        """
        r = np.asarray(weights, dtype=np.float64)
        q = self.quantization_range
        step = 2.0 * self.clipping_range / q
        return float(r.size * step / r.sum() + max_abs_update / max(float(r.min()) * q, 1.0))


def secure_aggregation_mod(message: Message, context: Context, call_next: object) -> Message:
    """Flower's ``secaggplus_mod`` for SecAgg+ messages; other messages pass straight on."""
    if message.has_content() and SECAGG_RECORD in message.content:
        return secaggplus_mod(message, context, call_next)  # type: ignore[arg-type]
    return call_next(message, context)  # type: ignore[operator,no-any-return]


class MeteredGrid(Grid):
    """A ``Grid`` that passes everything on and counts the payload bytes each way.

    Arrays count their bytes; in config records, byte strings (keys, key shares, masked
    vectors) count their length.
    """

    def __init__(self, grid: Grid) -> None:
        self._grid = grid
        self.bytes_sent = 0
        self.bytes_received = 0

    def set_run(self, run: Run) -> None:
        self._grid.set_run(run)

    @property
    def run(self) -> Run:
        return self._grid.run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return self._grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        return self._grid.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        messages = list(messages)
        self.bytes_sent += sum(payload_bytes(m) for m in messages)
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        replies = list(self._grid.pull_messages(message_ids))
        self.bytes_received += sum(payload_bytes(m) for m in replies)
        return replies

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        messages = list(messages)
        self.bytes_sent += sum(payload_bytes(m) for m in messages)
        replies = list(self._grid.send_and_receive(messages, timeout=timeout))
        self.bytes_received += sum(payload_bytes(m) for m in replies)
        return replies


def payload_bytes(message: Message) -> int:
    """Bytes of a message's arrays and of the byte strings in its config records."""
    if not message.has_content():
        return 0
    total = 0
    for record in message.content.values():
        if isinstance(record, ArrayRecord):
            total += int(record.count_bytes())
        elif isinstance(record, ConfigRecord):
            for value in record.values():
                items = value if isinstance(value, list) else [value]
                total += sum(len(v) for v in items if isinstance(v, bytes))
    return total


@dataclass
class _RoundStrategy(Strategy):
    """The legacy strategy Flower's workflow asks for, reduced to one round's two hooks."""

    proxies: Sequence[ClientProxy]
    fit_config: Mapping[str, Scalar]
    mean: FloatArray | None = None
    reports: dict[int, tuple[int, Mapping[str, FlowerScalar]]] = field(default_factory=dict)

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        return None

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        config: dict[str, FlowerScalar] = dict(self.fit_config)
        return [(proxy, FitIns(parameters, config)) for proxy in self.proxies]

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, FlowerScalar]]:
        # Flower hands every result the same, already unmasked, aggregate.
        if results:
            self.mean = np.asarray(parameters_to_ndarrays(results[0][1].parameters)[0], float)
        for proxy, fit in results:
            self.reports[int(proxy.cid)] = (fit.num_examples, dict(fit.metrics))
        return None, {}

    def configure_evaluate(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, EvaluateIns]]:
        return []

    def aggregate_evaluate(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, EvaluateRes]],
        failures: list[tuple[ClientProxy, EvaluateRes] | BaseException],
    ) -> tuple[float | None, dict[str, FlowerScalar]]:
        return None, {}

    def evaluate(
        self, server_round: int, parameters: Parameters
    ) -> tuple[float, dict[str, FlowerScalar]] | None:
        return None


class _Workflow(SecAggPlusWorkflow):
    """Flower's SecAgg+ workflow, with a node that is silent at setup left out.

    Such a node published no keys, so no neighbour masks against it and none holds its
    shares; Flower 1.42 still counts it as a dropout to unmask and halts the round.
    """

    def setup_stage(self, grid: Grid, context: LegacyContext, state: Any) -> bool:
        proceed = bool(super().setup_stage(grid, context, state))
        state.sampled_node_ids = set(state.active_node_ids)
        return proceed


@dataclass(frozen=True)
class SecureRound:
    """What the server learns from one SecAgg+ round.

    Attributes
    ----------
    mean_update : ndarray, shape (p,), or None
        Weighted mean of the sites' updates; ``None`` if the protocol halted.
    reports : dict of int to (int, dict)
        Per answering node: its weight (patients, or 1 under DP) and its scalar metrics.
    bytes_sent, bytes_received : int
        Protocol payload (keys, shares, masked vectors) over the four stages.
    """

    mean_update: FloatArray | None
    reports: Mapping[int, tuple[int, Mapping[str, FlowerScalar]]]
    bytes_sent: int
    bytes_received: int


def secure_round(
    grid: Grid,
    nodes: Sequence[int],
    theta: FloatArray,
    fit_config: Mapping[str, Scalar],
    settings: SecureAggregation,
    *,
    max_weight: float,
    round_number: int,
    timeout_s: float | None = None,
) -> SecureRound:
    """One round of training over SecAgg+ with the sampled ``nodes`` (module docstring).

    Parameters
    ----------
    grid : Grid
        The ServerApp's grid.
    nodes : sequence of int
        The sampled node ids (at least two).
    theta : ndarray, shape (p,)
        The global parameters sent to the sites.
    fit_config : mapping
        The training settings every site receives.
    settings : SecureAggregation
        Quantization and threshold.
    max_weight : float
        The largest site weight (``r_k = weight / max_weight``).
    round_number : int
        Message group of the round.
    timeout_s : float, optional
        How long each stage waits for replies.
    """
    metered = MeteredGrid(grid)
    proxies = [GridClientProxy(node, metered, grid.run.run_id) for node in nodes]
    strategy = _RoundStrategy(proxies, fit_config)
    base = Context(grid.run.run_id, 0, {}, RecordDict(), {})
    context = LegacyContext(base, strategy=strategy)
    context.state["config"] = ConfigRecord({"current_round": round_number})
    parameters = ndarrays_to_parameters([np.asarray(theta, np.float64)])
    context.state["parameters"] = recorddict_compat.parameters_to_arrayrecord(parameters, True)
    workflow = _Workflow(
        num_shares=1.0,
        reconstruction_threshold=settings.reconstruction_threshold,
        max_weight=float(max_weight),
        clipping_range=settings.clipping_range,
        quantization_range=settings.quantization_range,
        modulus_range=settings.modulus_range,
        timeout=timeout_s,
    )
    workflow(metered, context)
    return SecureRound(
        strategy.mean, dict(strategy.reports), metered.bytes_sent, metered.bytes_received
    )
