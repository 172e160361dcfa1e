"""A deployed site's own privacy budget and audit log, kept in files on the site's machine.

In a real deployment each SuperNode is a hospital's or a country's machine: the budget it
may spend on learning and the record of every round it took part in belong there, not on
the server. The node config names them:

- ``ledger-path``: a JSON-lines privacy ledger
  (:class:`~healthtwin.governance.privacy_budget.JsonLinesLedgerStore`) with the site's
  learning budget ``budget-epsilon`` (and ``budget-delta``, default ``1e-5``) for the
  project ``federated-learning``; the server sends the run's DP settings (noise
  multiplier, clip norm, delta) with each round, and the site, computing the accountant
  itself, charges its ``k``-th participation ``epsilon(k) - epsilon(k - 1)`` (and the delta
  once) *before* training; a refused charge makes the site sit the round out, a failure the
  server records as data;
- ``audit-path``: a JSON-lines audit log, one event per line, hash-chained exactly as the
  store's audit log (:mod:`healthtwin.governance.audit_chain`): each training and
  evaluation round, with its outcome, refusals included. :func:`verify_audit_file` checks
  the chain.

Either may be absent (no budget enforcement, no audit); a budget without a ledger file (or
the reverse) is a configuration error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from healthtwin.errors import ConsentError, InvalidInputError
from healthtwin.federation.privacy import DifferentialPrivacy
from healthtwin.governance.audit_chain import (
    GENESIS_HASH,
    AuditEntry,
    VerifyReport,
    seal,
    utc_iso,
    verify,
)
from healthtwin.governance.privacy_budget import (
    JsonLinesLedgerStore,
    PrivacyBudget,
    PrivacyCost,
    PrivacyLedger,
)

__all__ = [
    "LEARNING_PROJECT",
    "GovernedPrivacyLedger",
    "SiteGovernance",
    "read_audit_file",
    "verify_audit_file",
]

#: The ledger project that federated learning spends are charged to.
LEARNING_PROJECT = "federated-learning"

Scalar = bool | float | int | str


class GovernedPrivacyLedger:
    """The federation's ``PrivacyLedger`` protocol, backed by a governance ledger.

    ``spend(site, epsilon, delta, purpose)`` charges a pure ``epsilon`` to ``project``
    and to the dataset ``site``; governance charges no delta on pure releases, so the
    deltas are added here and a spend whose total delta would exceed the site's dataset
    budget is refused too (:class:`~healthtwin.errors.ConsentError`, nothing recorded).

    Examples
    --------
    >>> from healthtwin.governance.privacy_budget import MemoryLedgerStore
    >>> ledger = PrivacyLedger(MemoryLedgerStore(), project_budgets={"p": PrivacyBudget(1.0)},
    ...                        dataset_budgets={"us": PrivacyBudget(1.0, 1e-5)})
    >>> governed = GovernedPrivacyLedger(ledger, "p", delta_budget=1e-5)
    >>> governed.spend("us", 0.6, 1e-6, "round 1")
    >>> governed.spend("us", 0.6, 1e-6, "round 2")
    Traceback (most recent call last):
    ...
    healthtwin.errors.ConsentError: privacy budget of project 'p' exceeded: ...
    """

    def __init__(self, ledger: PrivacyLedger, project: str, *, delta_budget: float) -> None:
        self.ledger = ledger
        self.project = project
        self.delta_budget = Decimal(repr(float(delta_budget)))

    def _delta_spent(self, site: str) -> Decimal:
        return sum(
            (
                Decimal(str(s.parameters.get("delta", "0")))
                for s in self.ledger.spends()
                if s.project == self.project and s.dataset == site
            ),
            Decimal(0),
        )

    def participations(self, site: str, run: str) -> int:
        """Rounds of ``run`` that ``site`` has been charged for."""
        return sum(
            1
            for s in self.ledger.spends()
            if s.project == self.project and s.dataset == site and s.parameters.get("run") == run
        )

    def charge_participation(
        self, site: str, dp: DifferentialPrivacy, run: str, purpose: str
    ) -> None:
        """Charge the site's next participation in ``run``: ``epsilon(k) - epsilon(k - 1)``.

        ``k`` counts the rounds *this site* took part in, so a site that sat rounds out
        has paid exactly the accountant's epsilon for the rounds its data entered (paying
        the run's per-round increments instead would undercharge a site that skipped a
        round, since composition is not additive). The run's delta is charged once.

        Examples
        --------
        >>> from healthtwin.governance.privacy_budget import MemoryLedgerStore
        >>> budget = PrivacyBudget(5.0, 1e-5)
        >>> ledger = PrivacyLedger(MemoryLedgerStore(), project_budgets={"p": budget},
        ...                        dataset_budgets={"us": budget})
        >>> governed = GovernedPrivacyLedger(ledger, "p", delta_budget=1e-5)
        >>> dp = DifferentialPrivacy.for_epsilon(2.0, rounds=3, clip_norm=0.5)
        >>> for k in range(3):
        ...     governed.charge_participation("us", dp, "run-1", f"round {k + 1}")
        >>> round(float(ledger.spent(dataset="us").epsilon), 9)
        2.0
        """
        k = self.participations(site, run) + 1
        epsilon = dp.epsilon(k) - (dp.epsilon(k - 1) if k > 1 else 0.0)
        self.spend(site, epsilon, dp.delta if k == 1 else 0.0, purpose, run=run)

    def spend(
        self, site: str, epsilon: float, delta: float, purpose: str, *, run: str | None = None
    ) -> None:
        """Charge ``epsilon`` (and count ``delta``); raise ``ConsentError`` if over budget."""
        total_delta = self._delta_spent(site) + Decimal(repr(float(delta)))
        if total_delta > self.delta_budget:
            raise ConsentError(
                f"privacy budget of site {site!r}: delta would reach {total_delta} > "
                f"{self.delta_budget}; nothing was computed"
            )
        self.ledger.charge(
            self.project,
            site,
            PrivacyCost(epsilon=epsilon),
            query=purpose,
            mechanism="gaussian (DP-FedAvg)",
            parameters={"delta": repr(float(delta))} | ({} if run is None else {"run": run}),
        )


def _entry_from_json(line: str, path: Path, number: int) -> AuditEntry:
    try:
        doc = json.loads(line)
        doc["time"] = datetime.fromisoformat(doc["time"].replace("Z", "+00:00"))
        doc["resource_refs"] = tuple(doc.get("resource_refs", ()))
        return AuditEntry(**doc)
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidInputError(f"{path} line {number} is not an audit event: {err}") from err


def read_audit_file(path: str | Path) -> list[AuditEntry]:
    """The events of a site's audit file, in order (a missing file has none)."""
    file = Path(path)
    if not file.exists():
        return []
    lines = file.read_text(encoding="utf-8").splitlines()
    return [_entry_from_json(line, file, k) for k, line in enumerate(lines, 1) if line.strip()]


def verify_audit_file(path: str | Path) -> VerifyReport:
    """Check a site's audit file's hash chain; the report names the first bad event.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> gov = SiteGovernance.from_node_config({"audit-path": str(folder / "a.jsonl")}, "s1")
    >>> _ = gov.audit("federation.training-round", "success", {"round": 1})
    >>> verify_audit_file(folder / "a.jsonl").ok
    True
    """
    return verify(read_audit_file(path))


@dataclass(frozen=True)
class SiteGovernance:
    """The site's ledger (or None) and audit file (or None); see the module docstring."""

    site: str
    ledger: PrivacyLedger | None
    audit_path: Path | None
    delta_budget: float = 1e-5

    @classmethod
    def from_node_config(cls, node_config: Mapping[str, Scalar], site: str) -> SiteGovernance:
        """Read ``ledger-path``, ``budget-epsilon``, ``budget-delta`` and ``audit-path``.

        Raises
        ------
        InvalidInputError
            A ledger without a budget, or a budget without a ledger.
        """
        ledger_path = node_config.get("ledger-path")
        budget = node_config.get("budget-epsilon")
        if (ledger_path is None) != (budget is None):
            raise InvalidInputError(
                "a site's privacy ledger needs both ledger-path=<file.jsonl> and "
                f"budget-epsilon=<number> in its node config; got ledger-path={ledger_path!r}, "
                f"budget-epsilon={budget!r}"
            )
        ledger = None
        delta_budget = float(node_config.get("budget-delta", 1e-5))
        if ledger_path is not None and budget is not None:
            limit = PrivacyBudget(float(budget), delta_budget)
            ledger = PrivacyLedger(
                JsonLinesLedgerStore(Path(str(ledger_path))),
                project_budgets={LEARNING_PROJECT: limit},
                dataset_budgets={site: limit},
            )
        audit = node_config.get("audit-path")
        return cls(site, ledger, None if audit is None else Path(str(audit)), delta_budget)

    def charge_round(
        self, round_number: int, dp: DifferentialPrivacy | None, run: str
    ) -> str | None:
        """Charge this site's participation in a DP round before training.

        Returns the refusal's reason, or None if allowed (or nothing to charge).
        """
        if self.ledger is None or dp is None:
            return None
        governed = GovernedPrivacyLedger(
            self.ledger, LEARNING_PROJECT, delta_budget=self.delta_budget
        )
        try:
            governed.charge_participation(self.site, dp, run, f"round {round_number}")
        except ConsentError as err:
            return str(err)
        return None

    def audit(self, action: str, outcome: str, details: Mapping[str, Any]) -> AuditEntry | None:
        """Append one event to the site's audit file, chained to the last; None without one."""
        if self.audit_path is None:
            return None
        events = read_audit_file(self.audit_path)
        previous = events[-1] if events else None
        entry = seal(
            AuditEntry(
                sequence=1 if previous is None else previous.sequence + 1,
                time=datetime.now(UTC),
                actor=f"site:{self.site}",
                action=action,
                purpose=LEARNING_PROJECT,
                outcome=outcome,
                details=dict(details),
            ),
            GENESIS_HASH if previous is None or previous.hash is None else previous.hash,
        )
        doc = asdict(entry)
        doc["time"] = utc_iso(entry.time)
        doc["resource_refs"] = list(entry.resource_refs)
        self.audit_path.parent.mkdir(parents=True, exist_ok=True)
        with self.audit_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(doc, sort_keys=True) + "\n")
        return entry
