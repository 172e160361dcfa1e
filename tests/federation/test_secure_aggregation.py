"""SecAgg+ in the learning apps: FedAvg's aggregate, without the server seeing an update."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

from healthtwin.errors import InvalidParameterError

pytest.importorskip("flwr", reason="Flower is the 'fed' extra: pip install 'healthtwin[fed]'")
from flwr.common import bytes_to_ndarray
from flwr.common.secure_aggregation.secaggplus_constants import Key

from healthtwin.federation._flower import SECAGG_RECORD, ArrayRecord, ConfigRecord, Message
from healthtwin.federation.apps import client_app, config_from_run
from healthtwin.federation.local_grid import InProcessGrid, run_in_grid
from healthtwin.federation.models import CoxPH, train_locally
from healthtwin.federation.secure_aggregation import SecureAggregation
from healthtwin.federation.sites import load_site_data, split_iid

NODES = [{"dataset": "whas500", "site-index": k, "n-sites": 3, "split": "iid"} for k in range(3)]
PLAIN = {"num-rounds": 2, "model": "cox", "local-steps": 5}
SECURE = PLAIN | {"secure-aggregation": True}


class RecordingGrid(InProcessGrid):
    """An in-process grid that keeps every reply the server receives."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.received: list[Message] = []

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        replies = list(super().pull_messages(message_ids))
        self.received.extend(replies)
        return replies


def test_secure_aggregate_equals_plain_fedavg_within_the_stated_tolerance() -> None:
    plain = run_in_grid(InProcessGrid(client_app, NODES), PLAIN)
    secure = run_in_grid(InProcessGrid(client_app, NODES), SECURE)
    sites = split_iid(load_site_data("whas500"), 3, np.random.default_rng(0))
    n = np.array([s.n_patients for s in sites], float)
    first = [train_locally(CoxPH(), np.zeros(14), s, steps=5).theta for s in sites]
    bound = SecureAggregation().tolerance(n / n.max(), float(np.abs(first).max()))
    assert bound < 2e-5
    # Two rounds: the first round's error carries into the second's starting point.
    np.testing.assert_allclose(secure.theta, plain.theta, rtol=0, atol=4 * bound)
    assert not np.array_equal(secure.theta, plain.theta)  # quantized, so not bit-equal
    for p, s in zip(plain.rounds, secure.rounds, strict=True):
        assert s.failed == ()
        assert s.train_loss == pytest.approx(p.train_loss, abs=1e-4)
        assert s.metrics["c_index"] == pytest.approx(p.metrics["c_index"], abs=1e-3)
        # Keys, shares and masked vectors cost more than one plain vector each way.
        assert s.bytes_received > 5 * p.bytes_received


def test_the_server_never_receives_an_individual_update() -> None:
    grid = RecordingGrid(client_app, NODES)
    run_in_grid(grid, SECURE | {"num-rounds": 1})
    sites = split_iid(load_site_data("whas500"), 3, np.random.default_rng(0))
    updates = [train_locally(CoxPH(), np.zeros(14), s, steps=5).theta for s in sites]
    train_replies = [
        r for r in grid.received if r.metadata.message_type == "train" and not r.has_error()
    ]
    assert len(train_replies) == 4 * 3  # four SecAgg+ stages, three sites
    n = np.array([s.n_patients for s in sites], float)
    settings = SecureAggregation()
    step = 2 * settings.clipping_range / settings.quantization_range
    # What each site would send unmasked: its weighted update, quantized.
    quantized = [
        (u * k / n.max() + settings.clipping_range) / step for u, k in zip(updates, n, strict=True)
    ]
    masked = []
    for reply in train_replies:
        for record in reply.content.values():
            # Arrays (where a plain reply carries the parameters) arrive empty.
            if isinstance(record, ArrayRecord):
                assert len(record) == 0
        protocol = reply.content[SECAGG_RECORD]
        assert isinstance(protocol, ConfigRecord)
        if Key.MASKED_PARAMETERS in protocol:
            # Flower sends the masked weight, then the masked weighted update.
            _, raw = protocol[Key.MASKED_PARAMETERS]
            masked.append(bytes_to_ndarray(raw).astype(np.float64).ravel())
    assert len(masked) == 3
    for vector in masked:
        assert vector.shape == (14,)
        # Masks are uniform over 2**32: nothing near any site's own quantized update.
        assert all(np.max(np.abs(vector - q)) > 1e6 for q in quantized)


def test_a_silent_site_drops_out_and_the_others_are_still_unmasked() -> None:
    plain = run_in_grid(InProcessGrid(client_app, NODES, unreachable=[2]), PLAIN)
    secure = run_in_grid(InProcessGrid(client_app, NODES, unreachable=[2]), SECURE)
    assert secure.rounds[-1].failed == (("node-2", "dropped out of secure aggregation"),)
    np.testing.assert_allclose(secure.theta, plain.theta, rtol=0, atol=1e-4)


def test_secure_aggregation_with_dp_clips_at_the_sites_and_spends_epsilon() -> None:
    config = SECURE | {"num-rounds": 2, "dp-epsilon": 2.0, "clip-norm": 0.5}
    result = run_in_grid(InProcessGrid(client_app, NODES), config)
    assert [round(r.epsilon, 6) for r in result.rounds][-1] == 2.0
    assert all(r.failed == () for r in result.rounds)
    assert result.rounds[0].n_clipped == 3  # updates from zero exceed 0.5


def test_one_sampled_site_is_refused_and_recorded() -> None:
    result = run_in_grid(InProcessGrid(client_app, NODES[:1] + NODES[1:2]),
                         SECURE | {"fraction-sites": 0.5, "num-rounds": 1})  # fmt: skip
    ((_, reason),) = result.rounds[0].failed
    assert "at least two" in reason


def test_settings_are_validated_and_read_from_the_run_config() -> None:
    with pytest.raises(InvalidParameterError, match="power of two"):
        SecureAggregation(modulus_range=3 * 2**22)
    with pytest.raises(InvalidParameterError, match="true or false"):
        config_from_run({"secure-aggregation": "maybe"})
    config = config_from_run({"secure-aggregation": "true", "secagg-clipping-range": 4.0})
    assert config.secure_aggregation
    assert config.secagg_clipping_range == 4.0
