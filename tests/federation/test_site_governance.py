"""A deployed site's own privacy ledger and audit log, charged and written by the ClientApp."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from healthtwin.errors import InvalidInputError

pytest.importorskip("flwr", reason="Flower is the 'fed' extra: pip install 'healthtwin[fed]'")
from healthtwin.federation.apps import client_app
from healthtwin.federation.local_grid import InProcessGrid, run_in_grid
from healthtwin.federation.privacy import DifferentialPrivacy
from healthtwin.federation.site_governance import (
    LEARNING_PROJECT,
    SiteGovernance,
    read_audit_file,
    verify_audit_file,
)
from healthtwin.governance.privacy_budget import JsonLinesLedgerStore

RUN = {"num-rounds": 3, "model": "cox", "local-steps": 5, "dp-epsilon": 2.0, "clip-norm": 0.5}


def _nodes(folder: Path, budget: float, n: int = 3) -> list[dict[str, object]]:
    return [
        {
            "dataset": "whas500",
            "site-index": k,
            "n-sites": n,
            "split": "iid",
            "ledger-path": str(folder / f"ledger-{k}.jsonl"),
            "budget-epsilon": budget,
            "audit-path": str(folder / f"audit-{k}.jsonl"),
        }
        for k in range(n)
    ]


def _spent(folder: Path, k: int) -> tuple[Decimal, Decimal]:
    spends = list(JsonLinesLedgerStore(folder / f"ledger-{k}.jsonl").load())
    assert all(s.project == LEARNING_PROJECT for s in spends)
    epsilon = sum((s.epsilon for s in spends), Decimal(0))
    delta = sum((Decimal(str(s.parameters["delta"])) for s in spends), Decimal(0))
    return epsilon, delta


def test_each_site_is_charged_what_the_accountant_reports_and_audits_every_round(
    tmp_path: Path,
) -> None:
    result = run_in_grid(InProcessGrid(client_app, _nodes(tmp_path, budget=5.0)), RUN)
    assert all(r.failed == () for r in result.rounds)
    for k in range(3):
        epsilon, delta = _spent(tmp_path, k)
        assert float(epsilon) == pytest.approx(result.rounds[-1].epsilon, rel=1e-9)
        assert float(delta) == pytest.approx(1e-5)
        events = read_audit_file(tmp_path / f"audit-{k}.jsonl")
        actions = [e.action for e in events]
        assert actions.count("federation.training-round") == 3
        assert actions.count("federation.evaluation-round") == 3
        assert [e.details["round"] for e in events if "round" in e.details] == [1, 2, 3]
        assert verify_audit_file(tmp_path / f"audit-{k}.jsonl").ok


def test_a_site_whose_budget_is_spent_sits_out_and_the_refusal_is_audited(tmp_path: Path) -> None:
    nodes = _nodes(tmp_path, budget=5.0)
    nodes[1]["budget-epsilon"] = 1.5  # round 1 costs 1.09 of the run's 2.0
    result = run_in_grid(InProcessGrid(client_app, nodes), RUN)
    refused = [r.failed for r in result.rounds]
    assert refused[0] == ()
    # Round 2 would bring this site to epsilon(2) = 1.60 > 1.5; so would round 3.
    assert refused[-1] == refused[1]
    ((site, reason),) = refused[-1]
    assert site == "node-2"
    assert "exceeded" in reason
    epsilon, _ = _spent(tmp_path, 1)
    assert float(epsilon) == pytest.approx(result.rounds[0].epsilon, rel=1e-9)
    outcomes = [e.outcome for e in read_audit_file(tmp_path / "audit-1.jsonl")]
    assert "minor-failure" in outcomes
    # The other sites went on and paid the whole run.
    assert float(_spent(tmp_path, 0)[0]) == pytest.approx(2.0, rel=1e-9)


def test_secure_aggregation_charges_too_and_a_refusal_is_a_dropout(tmp_path: Path) -> None:
    nodes = _nodes(tmp_path, budget=5.0)
    nodes[2]["budget-epsilon"] = 0.5
    run = RUN | {"secure-aggregation": True, "num-rounds": 2}
    result = run_in_grid(InProcessGrid(client_app, nodes), run)
    assert float(_spent(tmp_path, 0)[0]) == pytest.approx(result.rounds[-1].epsilon, rel=1e-9)
    assert any(site == "node-3" for r in result.rounds for site, _ in r.failed)
    assert float(_spent(tmp_path, 2)[0]) <= 0.5


def test_a_changed_audit_line_breaks_the_chain_there(tmp_path: Path) -> None:
    gov = SiteGovernance.from_node_config({"audit-path": str(tmp_path / "a.jsonl")}, "s")
    for k in range(1, 4):
        gov.audit("federation.training-round", "success", {"round": k})
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    doc = json.loads(lines[1])
    doc["details"]["round"] = 7
    lines[1] = json.dumps(doc)
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    report = verify_audit_file(tmp_path / "a.jsonl")
    assert not report.ok
    assert report.first_bad_sequence == 2


def test_without_governance_keys_nothing_is_charged_or_written(tmp_path: Path) -> None:
    gov = SiteGovernance.from_node_config({}, "s")
    dp = DifferentialPrivacy.for_epsilon(1.0, rounds=2, clip_norm=1.0)
    assert gov.charge_round(1, dp, "run") is None
    assert gov.audit("x", "success", {}) is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "config", [{"ledger-path": "l.jsonl"}, {"budget-epsilon": 1.0}], ids=["no-budget", "no-file"]
)
def test_half_a_ledger_configuration_is_refused(config: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError, match=r"ledger-path=<file\.jsonl> and budget-epsilon"):
        SiteGovernance.from_node_config(config, "s")  # type: ignore[arg-type]


def test_a_corrupt_audit_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("not json\n")
    with pytest.raises(InvalidInputError, match="line 1 is not an audit event"):
        read_audit_file(tmp_path / "a.jsonl")
