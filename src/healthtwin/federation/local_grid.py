"""An in-memory Flower ``Grid``: the real ServerApp and ClientApp, without the network.

:class:`InProcessGrid` delivers each message straight to a ``ClientApp`` with that node's
``Context`` (its node config) and returns the replies, so the apps' logic is tested and
benchmarked in one process in milliseconds. A node listed in ``unreachable`` never answers,
which is how tests show that a site dropping out is recorded and the round goes on. A
ClientApp that raises answers with an error message, as a SuperNode's runtime does.

Flower stamps new messages with the identity of the running task (``TaskIdentity``, set
by its own process launcher); :func:`run_in_grid` sets it for the duration of the call and
restores it after.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from healthtwin.federation._flower import (
    ClientApp,
    Context,
    Error,
    Grid,
    Message,
    RecordDict,
    Run,
    TaskIdentity,
)
from healthtwin.federation.strategies import FederationResult

__all__ = ["InProcessGrid", "run_in_grid"]

Scalar = bool | float | int | str
_SERVER_NODE = 0
_APP_RAISED = 2  # Flower's ErrorCode.CLIENT_APP_RAISED_EXCEPTION


class InProcessGrid(Grid):
    """Deliver messages to in-process ClientApps (module docstring).

    Parameters
    ----------
    client_app : ClientApp
        The app every node runs.
    node_configs : sequence of mapping
        One node config per node; node ids are 1, 2, ...
    unreachable : iterable of int
        Node ids that never answer.
    """

    def __init__(
        self,
        client_app: ClientApp,
        node_configs: Sequence[Mapping[str, Scalar]],
        unreachable: Iterable[int] = (),
        run_id: int = 1,
    ) -> None:
        self._app = client_app
        self._contexts = {
            k: Context(run_id, k, dict(cfg), RecordDict(), {})
            for k, cfg in enumerate(node_configs, start=1)
        }
        self._unreachable = frozenset(unreachable)
        self._run = Run.create_empty(run_id)
        self._replies: dict[str, Message] = {}
        self._ids = itertools.count(1)

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(
            content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id, ttl=ttl
        )

    def get_node_ids(self) -> Iterable[int]:
        return list(self._contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            message_id = f"m{next(self._ids)}"
            # The SuperLink assigns message ids; here the grid plays its part.
            message.metadata.__dict__["_message_id"] = message_id
            ids.append(message_id)
            node = message.metadata.dst_node_id
            if node in self._contexts and node not in self._unreachable:
                self._replies[message_id] = self._deliver(message, self._contexts[node])
        return ids

    def _deliver(self, message: Message, context: Context) -> Message:
        # Over a network each node gets its own copy; handlers (Flower's SecAgg+ mod
        # among them) may change what they receive.
        message = copy.deepcopy(message)
        try:
            return self._app(message, context)
        except Exception as err:
            # A SuperNode turns whatever its ClientApp raises into an error reply.
            reason = f"{type(err).__name__}: {err}"
            return Message(Error(_APP_RAISED, reason), reply_to=message)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


@contextmanager
def _task_identity(run_id: int) -> Iterator[None]:
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = run_id, _SERVER_NODE, 1
    try:
        yield
    finally:
        TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved


def run_in_grid(
    grid: InProcessGrid,
    run_config: Mapping[str, Scalar],
    on_round: Callable[[int, int], None] | None = None,
) -> FederationResult:
    """Run the ServerApp's loop on an in-process grid (``on_round``: rounds done, rounds).

    Examples
    --------
    >>> from healthtwin.federation.apps import client_app
    >>> nodes = [{"dataset": "veterans", "site-index": k, "n-sites": 2} for k in range(2)]
    >>> result = run_in_grid(InProcessGrid(client_app, nodes), {"num-rounds": 2})
    >>> len(result.rounds), sorted(result.rounds[-1].metrics)
    (2, ['c_index'])
    """
    from healthtwin.federation.apps import serve_rounds

    with _task_identity(grid.run.run_id):
        return serve_rounds(grid, run_config, on_round)
