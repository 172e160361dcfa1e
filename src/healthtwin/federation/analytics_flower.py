"""Federated analytics over Flower: a ClientApp that answers, a ServerApp that asks.

The same queries and answers as in process (:mod:`~healthtwin.federation.analytics`) travel
as JSON text in a ``ConfigRecord`` of ``query.analytics`` messages (Flower Message API), so
a coordinator runs unchanged over a real SuperLink and SuperNodes: give
:class:`GridTransport` to :class:`~healthtwin.federation.analytics.FederatedAnalytics`.

Each SuperNode reads its **node config**:

- its records: ``data-path`` (a CSV the site has harmonised itself; numeric columns as
  numbers, others as text) or, for demonstrations, ``dataset`` + ``split-by`` + ``site``
  (the rows of a shipped data set whose column ``split-by`` equals ``site``);
- its policy: ``min-cell`` (the suppression ``k``; 0 turns it off; default 10),
  ``epsilon-per-query`` (0 = no DP, default), ``epsilon-budget`` (its total, default 1)
  and ``ledger-path`` (a JSON-lines privacy ledger; without it the spends live in the
  node's Flower state for the run, which is right only for demonstrations).

The ServerApp (``healthtwin.federation.analytics_flower:analytics_server_app``) reads its
**run config**: ``queries`` (a JSON list of queries, :func:`query_to_json` form),
``alpha``, ``min-available-sites`` (wait until that many nodes are connected),
``timeout-s`` and ``result-path`` (where the results go as JSON).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.errors import InvalidInputError
from healthtwin.federation._flower import (
    ClientApp,
    ConfigRecord,
    Context,
    Grid,
    Message,
    RecordDict,
    ServerApp,
    TaskIdentity,
)
from healthtwin.federation.analytics import (
    FederatedAnalytics,
    combine_counts,
    combine_histograms,
    combine_moments,
    combine_survival,
)
from healthtwin.federation.analytics_queries import (
    CountQuery,
    HistogramQuery,
    MomentsQuery,
    Query,
    SiteAnswer,
    query_from_json,
    query_to_json,
)
from healthtwin.federation.analytics_site import (
    AnalyticsSite,
    SitePolicy,
    site_tables_from_dataset,
)
from healthtwin.governance.privacy_budget import (
    JsonLinesLedgerStore,
    LedgerStore,
    PrivacyBudget,
    PrivacyLedger,
    Spend,
)

__all__ = [
    "MESSAGE_TYPE",
    "GridTransport",
    "analytics_client_app",
    "analytics_server_app",
    "queries_from_run",
    "run_queries",
    "server_identity",
    "site_from_node_config",
]

Scalar = bool | float | int | str
MESSAGE_TYPE = "query.analytics"
_LEDGER_KEY = "analytics-ledger"
_TABLE_KEY = "analytics-table"
_NAME_KEY = "__site-name__"

analytics_client_app = ClientApp()
analytics_server_app = ServerApp()


@dataclasses.dataclass
class _StateLedgerStore:
    """Spends kept in the node's Flower state (one JSON line each) for the run."""

    state: RecordDict

    def append(self, spend: Spend) -> None:
        lines = [*self._lines(), spend.to_json()]
        self.state[_LEDGER_KEY] = ConfigRecord({"spends": lines})

    def load(self) -> Iterator[Spend]:
        return iter([Spend.from_json(line) for line in self._lines()])

    def _lines(self) -> list[str]:
        if _LEDGER_KEY not in self.state:
            return []
        spends = _config(self.state, _LEDGER_KEY)["spends"]
        return [str(v) for v in spends] if isinstance(spends, list) else []


def site_from_node_config(
    node_config: Mapping[str, Scalar], state: RecordDict | None = None
) -> AnalyticsSite:
    """The site's records, policy and ledger as its node config says (module docstring).

    Examples
    --------
    >>> site = site_from_node_config({"dataset": "gbsg2", "split-by": "tgrade", "site": "I"})
    >>> site.name, site.n_rows, site.policy.min_cell
    ('I', 81, 10)
    """
    columns, name = _records(node_config) if state is None else _cached_records(node_config, state)
    k = int(node_config.get("min-cell", 10))
    epsilon = float(node_config.get("epsilon-per-query", 0.0))
    policy = SitePolicy(min_cell=k or None, epsilon_per_query=epsilon or None)
    ledger = None
    if policy.epsilon_per_query is not None:
        store: LedgerStore
        if "ledger-path" in node_config:
            store = JsonLinesLedgerStore(Path(str(node_config["ledger-path"])))
        else:
            store = _StateLedgerStore(RecordDict() if state is None else state)
        budget = PrivacyBudget(float(node_config.get("epsilon-budget", 1.0)))
        ledger = PrivacyLedger(
            store, project_budgets={policy.project: budget}, dataset_budgets={name: budget}
        )
    return AnalyticsSite(name, columns, policy, ledger)


def _records(node_config: Mapping[str, Scalar]) -> tuple[dict[str, npt.NDArray[Any]], str]:
    if "data-path" in node_config:
        import pandas as pd

        path = Path(str(node_config["data-path"]))
        frame = pd.read_csv(path)
        columns = {
            str(c): frame[c].to_numpy(np.float64)
            if pd.api.types.is_numeric_dtype(frame[c])
            else frame[c].astype(str).to_numpy()
            for c in frame.columns
        }
        return columns, str(node_config.get("site-name", path.stem))
    if "dataset" not in node_config or "split-by" not in node_config:
        raise InvalidInputError(
            f"node config {dict(node_config)} names no data; give data-path=<file.csv> or "
            "dataset=<name> with split-by=<column> and site=<value>"
        )
    tables = site_tables_from_dataset(str(node_config["dataset"]), str(node_config["split-by"]))
    site = str(node_config.get("site", ""))
    if site not in tables:
        raise InvalidInputError(f"site = {site!r}; the split has sites {sorted(tables)}")
    return tables[site], str(node_config.get("site-name", site))


def _cached_records(
    node_config: Mapping[str, Scalar], state: RecordDict
) -> tuple[dict[str, npt.NDArray[Any]], str]:
    """The records, read once per run and kept in the node's Flower state."""
    if _TABLE_KEY not in state:
        columns, name = _records(node_config)
        record: dict[str, list[str] | list[float]] = {
            k: v.tolist() if v.dtype.kind in "fb" else [str(x) for x in v]
            for k, v in columns.items()
        }
        state[_TABLE_KEY] = ConfigRecord({**record, _NAME_KEY: name})
    cached = _config(state, _TABLE_KEY)
    table = {
        str(k): np.asarray(v, np.str_ if v and isinstance(v[0], str) else np.float64)
        for k, v in cached.items()
        if k != _NAME_KEY and isinstance(v, list)
    }
    return table, str(cached[_NAME_KEY])


def _config(content: RecordDict, key: str) -> ConfigRecord:
    record = content.get(key)
    if not isinstance(record, ConfigRecord):
        raise InvalidInputError(
            f"message record {key!r} is {type(record).__name__}, not a ConfigRecord"
        )
    return record


@analytics_client_app.query("analytics")
def answer_query(message: Message, context: Context) -> Message:
    """Answer one analytics query with this site's aggregates (or its refusal)."""
    request = _config(message.content, "query")
    site = site_from_node_config(context.node_config, context.state)
    query = query_from_json(str(request["json"]))
    answer = site.answer(query)
    content = RecordDict({"answer": ConfigRecord({"json": answer.to_json()})})
    return Message(content, reply_to=message)


@dataclasses.dataclass(frozen=True)
class GridTransport:
    """Send queries to every node of a Flower grid; a node that does not reply is missing.

    Parameters
    ----------
    grid : Grid
        The ServerApp's grid (a real SuperLink, or an in-process one).
    timeout_s : float
        How long to wait for replies.
    """

    grid: Grid
    timeout_s: float = 60.0

    def _nodes(self) -> list[int]:
        return sorted(self.grid.get_node_ids())

    def site_names(self) -> Sequence[str]:
        """One name per node (``node-<id>``)."""
        return [f"node-{n}" for n in self._nodes()]

    def ask(self, query: Query) -> list[SiteAnswer]:
        """Every node's answer, or a refusal for a node that did not reply."""
        request = ConfigRecord({"json": query_to_json(query)})
        nodes = self._nodes()
        messages = [
            Message(
                RecordDict({"query": request}),
                dst_node_id=node,
                message_type=MESSAGE_TYPE,
                group_id=query.kind,
            )
            for node in nodes
        ]
        replies = self.grid.send_and_receive(messages, timeout=self.timeout_s)
        by_node = {r.metadata.src_node_id: r for r in replies}
        return [_answer(node, by_node.get(node)) for node in nodes]


def _answer(node: int, reply: Message | None) -> SiteAnswer:
    if reply is None:
        return SiteAnswer(f"node-{node}", refusal="no reply before the timeout")
    if reply.has_error():
        return SiteAnswer(f"node-{node}", refusal=f"error {reply.error.code}: {reply.error.reason}")
    return SiteAnswer.from_json(str(_config(reply.content, "answer")["json"]))


def run_queries(analytics: FederatedAnalytics, queries: Sequence[Query]) -> list[dict[str, Any]]:
    """Run each query and return its combined result as plain JSON-ready data."""
    results = []
    for query in queries:
        answers = analytics.ask(query)
        combined: Any
        alpha = analytics.alpha
        if isinstance(query, CountQuery):
            combined = combine_counts(answers, alpha)
        elif isinstance(query, MomentsQuery):
            combined = combine_moments(answers, query, alpha)
        elif isinstance(query, HistogramQuery):
            combined = combine_histograms(answers, query, alpha)
        else:
            combined = combine_survival(answers, query, alpha=alpha)
        results.append({"query": json.loads(query_to_json(query)), "result": _plain(combined)})
    return results


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    return value


@contextmanager
def server_identity(run_id: int) -> Iterator[None]:
    """Stamp messages as the ServerApp's task while driving an in-process grid.

    Flower's process launcher sets this for a deployed ServerApp; in-process callers
    (tests, one-machine demos) set it here, and the previous identity is restored.
    """
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = run_id, 0, 1
    try:
        yield
    finally:
        TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


def _wait_for_nodes(grid: Grid, wanted: int, timeout_s: float) -> None:
    """Give SuperNodes that are still connecting up to ``timeout_s`` to appear."""
    deadline = time.monotonic() + timeout_s
    while len(list(grid.get_node_ids())) < wanted and time.monotonic() < deadline:
        time.sleep(0.5)


@analytics_server_app.main()
def serve_queries(grid: Grid, context: Context) -> None:
    """Run the run config's queries; write the results to ``result-path`` when given."""
    results = queries_from_run(grid, context.run_config)
    path = str(context.run_config.get("result-path", ""))
    if path:
        Path(path).write_text(json.dumps(results, indent=1))


def queries_from_run(grid: Grid, config: Mapping[str, Scalar]) -> list[dict[str, Any]]:
    """Ask the run config's ``queries`` over ``grid``; the combined results as JSON data.

    Raises
    ------
    InvalidInputError
        If ``queries`` is not a JSON list of queries.
    """
    try:
        raw = json.loads(str(config.get("queries", "[]")))
        queries = [query_from_json(json.dumps(q)) for q in raw]
    except ValueError as err:
        raise InvalidInputError(
            f"run config 'queries' must be a JSON list of queries, got {config.get('queries')!r}"
        ) from err
    if not queries:
        return []
    timeout = float(config.get("timeout-s", 60.0))
    _wait_for_nodes(grid, int(config.get("min-available-sites", 0)), timeout)
    transport = GridTransport(grid, timeout)
    analytics = FederatedAnalytics(transport, float(config.get("alpha", 0.05)))
    return run_queries(analytics, queries)
