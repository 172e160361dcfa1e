"""A real Flower deployment on one machine: one SuperLink and N SuperNodes on loopback.

:class:`LoopbackFederation` starts the processes the way a multi-machine set-up would, only
bound to ``127.0.0.1``:

1. a private test CA and keys (:mod:`~healthtwin.federation.pki`);
2. ``flower-superlink`` with TLS (``--ssl-ca-certfile``, ``--ssl-certfile``,
   ``--ssl-keyfile``), SuperNode authentication (``--enable-supernode-auth``) and no
   run-time installs (``--disable-runtime-dependency-installation``);
3. ``flwr supernode register`` of each site's public key over the Control API (TLS);
4. ``flower-supernode`` per site (``--root-certificates``, ``--auth-supernode-private-key``,
   ``--node-config`` naming its data), each with its own loopback port for its ClientApp
   runtime;
5. ``flwr run`` of a generated Flower app project (:func:`write_app_project`) whose
   components an :class:`AppSpec` names: :data:`LEARNING_APP`
   (``healthtwin.federation.apps:server_app`` / ``client_app``; :meth:`LoopbackFederation.run`
   reads back the round records the ServerApp writes) or :data:`ANALYTICS_APP` (the
   ``query.analytics`` pair of :mod:`~healthtwin.federation.analytics_flower`;
   :meth:`LoopbackFederation.run_analytics` reads back the results). One federation serves
   both: the SuperNodes run whichever ClientApp the submitted app names, and each node's
   config may hold the keys of both apps.

Telemetry is off (``FLWR_TELEMETRY_ENABLED=0``) and ``FLWR_HOME`` is a private directory, so
nothing touches the user's Flower configuration. Every process gets its own session and is
stopped (SIGTERM, then SIGKILL) when the context exits, also after a failure.

The SuperLink's Control API shares the Fleet port and has no authentication of its own in
open-source Flower: keep it on loopback, or put a mutual-TLS proxy in front
(``docs/federation.md``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from healthtwin.errors import InvalidInputError, MissingDependencyError, SolverError
from healthtwin.federation.pki import TestPki, make_test_pki

if TYPE_CHECKING:
    from healthtwin.federation.analytics_queries import Query
from healthtwin.federation.strategies import FederationResult, RoundRecord

__all__ = [
    "ANALYTICS_APP",
    "ANALYTICS_RUN_CONFIG_DEFAULTS",
    "LEARNING_APP",
    "RUN_CONFIG_DEFAULTS",
    "AnalyticsDeployment",
    "AppSpec",
    "DeploymentResult",
    "LoopbackFederation",
    "write_app_project",
]

Scalar = bool | float | int | str
LOOPBACK = "127.0.0.1"
#: Every key a run may override, with its default (written into the app's pyproject).
RUN_CONFIG_DEFAULTS: dict[str, Scalar] = {
    "model": "cox",
    "num-rounds": 1,
    "strategy": "fedavg",
    "proximal-mu": 0.1,
    "local-steps": 10,
    "learning-rate": 0.5,
    "fraction-sites": 1.0,
    "min-sites": 1,
    "min-available-sites": 0,
    "dp-epsilon": 0.0,
    "clip-norm": 1.0,
    "delta": 1e-5,
    "secure-aggregation": False,
    "secagg-clipping-range": 8.0,
    "seed": 0,
    "l2": 1e-3,
    "timeout-s": 120.0,
    "queries": "[]",
    "alpha": 0.05,
    "result-path": "",
}
#: The analytics ServerApp's keys (analytics_flower's module docstring).
ANALYTICS_RUN_CONFIG_DEFAULTS: dict[str, Scalar] = {
    "queries": "[]",
    "alpha": 0.05,
    "min-available-sites": 0,
    "timeout-s": 60.0,
    "result-path": "",
}
FED_EXTRA = "pip install 'healthtwin[fed]'"


@dataclass(frozen=True)
class AppSpec:
    """A Flower app to submit: its two components and every run-config key with a default.

    Attributes
    ----------
    server_app, client_app : str
        ``module:attribute`` of the ServerApp and ClientApp.
    run_config : mapping of str to scalar
        The keys a run may override (``flwr run`` refuses others), with defaults.
    description : str
        Goes into the project's metadata.
    """

    server_app: str
    client_app: str
    run_config: Mapping[str, Scalar]
    description: str = "healthtwin federation"


#: Federated learning (:mod:`~healthtwin.federation.apps`).
LEARNING_APP = AppSpec(
    "healthtwin.federation.apps:server_app",
    "healthtwin.federation.apps:client_app",
    RUN_CONFIG_DEFAULTS,
    "healthtwin federated survival, risk and forecasting models",
)
#: Federated analytics (:mod:`~healthtwin.federation.analytics_flower`).
ANALYTICS_APP = AppSpec(
    "healthtwin.federation.analytics_flower:analytics_server_app",
    "healthtwin.federation.analytics_flower:analytics_client_app",
    ANALYTICS_RUN_CONFIG_DEFAULTS,
    "healthtwin federated analytics",
)


def _toml_value(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def write_app_project(directory: Path, app: AppSpec = LEARNING_APP) -> Path:
    """Write the Flower app project (a ``pyproject.toml``) that ``flwr run`` builds.

    Examples
    --------
    >>> import tempfile
    >>> text = (write_app_project(Path(tempfile.mkdtemp())) / "pyproject.toml").read_text()
    >>> 'serverapp = "healthtwin.federation.apps:server_app"' in text
    True
    >>> text = (write_app_project(Path(tempfile.mkdtemp()), ANALYTICS_APP) / "pyproject.toml")
    >>> "queries = " in text.read_text()
    True
    """
    directory.mkdir(parents=True, exist_ok=True)
    config = "\n".join(f"{k} = {_toml_value(v)}" for k, v in app.run_config.items())
    (directory / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["hatchling"]\n'
        'build-backend = "hatchling.build"\n\n'
        "[project]\n"
        'name = "healthtwin-federation"\n'
        'version = "1.0.0"\n'
        f"description = {json.dumps(app.description)}\n"
        'license = "MIT"\n'
        "dependencies = []\n\n"
        "[tool.flwr.app]\n"
        'publisher = "healthtwin"\n\n'
        "[tool.flwr.app.components]\n"
        f"serverapp = {json.dumps(app.server_app)}\n"
        f"clientapp = {json.dumps(app.client_app)}\n\n"
        f"[tool.flwr.app.config]\n{config}\n"
    )
    return directory


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class DeploymentResult:
    """What a deployed run gave back.

    Attributes
    ----------
    result : FederationResult
        Final parameters and round records, as the ServerApp wrote them.
    seconds : float
        Wall time of ``flwr run`` (submission to end of the run).
    refused_nodes : dict of int to int
        Exit code of each node started with an unregistered key (see
        :meth:`LoopbackFederation.start_unregistered_node`).
    analytics : list of dict
        Results of the analytics queries asked in the same run, as
        :attr:`AnalyticsDeployment.results`.
    """

    result: FederationResult
    seconds: float
    refused_nodes: Mapping[int, int] = field(default_factory=dict)
    analytics: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class AnalyticsDeployment:
    """What a deployed analytics run gave back.

    Attributes
    ----------
    results : list of dict
        One ``{"query": ..., "result": ...}`` per query, as the ServerApp wrote them
        (:func:`~healthtwin.federation.analytics_flower.run_queries`).
    seconds : float
        Wall time of ``flwr run``.
    """

    results: list[dict[str, Any]]
    seconds: float


class LoopbackFederation:
    """SuperLink + SuperNodes as processes on loopback (module docstring).

    Parameters
    ----------
    node_configs : sequence of mapping
        One Flower node config per SuperNode (what data the site holds; see
        :func:`~healthtwin.federation.apps.site_data_from_node_config`).
    workdir : Path, optional
        Where certificates, logs and Flower's home go (default: a new temporary directory,
        removed on exit).
    extra_keys : int
        Key pairs generated but never registered, for :meth:`start_unregistered_node`.
    """

    def __init__(
        self,
        node_configs: Sequence[Mapping[str, Scalar]],
        *,
        workdir: Path | None = None,
        extra_keys: int = 1,
    ) -> None:
        for tool in ("flower-superlink", "flower-supernode", "flwr"):
            if not self._tool(tool).exists():
                raise MissingDependencyError(f"{tool} is not installed: {FED_EXTRA}")
        self._node_configs = [dict(c) for c in node_configs]
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="ht-fed-")) if workdir is None else workdir
        self._extra_keys = extra_keys
        self._processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._refused: dict[int, subprocess.Popen[bytes]] = {}
        self.port = 0
        self.pki: TestPki | None = None

    @staticmethod
    def _tool(name: str) -> Path:
        return Path(sys.executable).parent / name

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        bin_dir = str(Path(sys.executable).parent)
        env.update(
            FLWR_TELEMETRY_ENABLED="0",
            FLWR_HOME=str(self.workdir / "flwr-home"),
            # SuperLink and SuperNodes start flower-superexec / flwr-serverapp by name.
            PATH=bin_dir + os.pathsep + env.get("PATH", ""),
            PYTHONUNBUFFERED="1",
        )
        return env

    def _start(self, label: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / "logs" / f"{label}.log").open("wb")
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._env(),
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()
        self._processes.append((label, process))
        return process

    def log(self, label: str) -> str:
        """The captured output of process ``label`` (``superlink``, ``node-0``, ``run``...)."""
        path = self.workdir / "logs" / f"{label}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self) -> LoopbackFederation:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the SuperLink, register the node keys and start the SuperNodes."""
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        n_nodes = len(self._node_configs)
        self.pki = make_test_pki(self.workdir / "pki", n_nodes + self._extra_keys)
        self.port = free_port()
        self._write_connection()
        self._start(
            "superlink",
            [
                str(self._tool("flower-superlink")),
                "--ssl-ca-certfile", str(self.pki.ca_cert),
                "--ssl-certfile", str(self.pki.server_cert),
                "--ssl-keyfile", str(self.pki.server_key),
                "--enable-supernode-auth",
                "--disable-runtime-dependency-installation",
                "--host", LOOPBACK,
                "--port", str(self.port),
            ],
        )  # fmt: skip
        self._wait_for_port(self.port, timeout_s)
        for k in range(n_nodes):
            self._register(self.pki.node_public_keys[k])
        for k, config in enumerate(self._node_configs):
            self._start_node(f"node-{k}", self.pki.node_keys[k], config)

    def _write_connection(self) -> None:
        assert self.pki is not None
        home = self.workdir / "flwr-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(
            '[superlink]\ndefault = "loopback"\n\n[superlink.loopback]\n'
            f'address = "{LOOPBACK}:{self.port}"\n'
            f"root-certificates = {json.dumps(str(self.pki.ca_cert))}\n"
        )

    def _wait_for_port(self, port: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                if probe.connect_ex((LOOPBACK, port)) == 0:
                    return
            if any(p.poll() is not None for label, p in self._processes if label == "superlink"):
                break
            time.sleep(0.2)
        raise SolverError(
            f"the SuperLink did not listen on {LOOPBACK}:{port} within {timeout_s} s; its "
            f"log says:\n{self.log('superlink')[-2000:]}"
        )

    def _register(self, public_key: Path) -> None:
        done = subprocess.run(
            [str(self._tool("flwr")), "supernode", "register", str(public_key), "loopback"],
            capture_output=True,
            env=self._env(),
            cwd=self.workdir,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise SolverError(
                f"registering {public_key.name} failed (exit {done.returncode}): "
                f"{done.stdout.decode(errors='replace')[-1000:]}"
            )

    def _start_node(
        self, label: str, key: Path, config: Mapping[str, Scalar]
    ) -> subprocess.Popen[bytes]:
        assert self.pki is not None
        node_config = " ".join(f"{k}={_toml_value(v)}" for k, v in config.items())
        return self._start(
            label,
            [
                str(self._tool("flower-supernode")),
                "--superlink", f"{LOOPBACK}:{self.port}",
                "--root-certificates", str(self.pki.ca_cert),
                "--auth-supernode-private-key", str(key),
                "--host", LOOPBACK,
                "--port", str(free_port()),
                "--node-config", node_config,
                "--max-retries", "5",
                "--max-wait-time", "30",
            ],
        )  # fmt: skip

    def start_unregistered_node(self, config: Mapping[str, Scalar]) -> int:
        """Start a SuperNode whose key was never registered; returns its index.

        The SuperLink must refuse it: the process exits with a non-zero code, which
        :meth:`run` reports in :attr:`DeploymentResult.refused_nodes`.
        """
        assert self.pki is not None
        index = len(self._node_configs) + len(self._refused)
        if index >= len(self.pki.node_keys):
            raise InvalidInputError("no unregistered key left; raise extra_keys")
        self._refused[index] = self._start_node(f"node-{index}", self.pki.node_keys[index], config)
        return index

    def run(
        self,
        run_config: Mapping[str, Scalar],
        *,
        queries: Sequence[Query] = (),
        timeout_s: float = 300.0,
    ) -> DeploymentResult:
        """Submit the learning app with ``flwr run`` and wait for its round records.

        ``queries`` are analytics queries the same nodes answer after the rounds, in the
        same run (the nodes' configs need the analytics keys too).

        Raises
        ------
        SolverError
            If the run fails or times out; the message quotes the logs.
        """
        config = dict(run_config)
        if queries:
            config["queries"] = _queries_json(queries)
        path, seconds = self.submit(LEARNING_APP, config, timeout_s=timeout_s)
        refused = {k: p.wait(timeout=60) for k, p in self._refused.items()}
        analytics = json.loads(path.read_text()).get("analytics", [])
        return DeploymentResult(_read_result(path), seconds, refused, analytics)

    def run_analytics(
        self, queries: Sequence[Query], *, alpha: float = 0.05, timeout_s: float = 300.0
    ) -> AnalyticsDeployment:
        """Submit the analytics app with ``queries`` and wait for the combined results.

        Raises
        ------
        SolverError
            If the run fails or times out; the message quotes the logs.
        """
        path, seconds = self.submit(
            ANALYTICS_APP, {"queries": _queries_json(queries), "alpha": alpha},
            timeout_s=timeout_s,
        )  # fmt: skip
        return AnalyticsDeployment(json.loads(path.read_text()), seconds)

    def submit(
        self, app: AppSpec, run_config: Mapping[str, Scalar], *, timeout_s: float = 300.0
    ) -> tuple[Path, float]:
        """Run ``app`` with ``flwr run``; return the file its ServerApp wrote and the time.

        ``result-path`` and (unless given) ``min-available-sites`` are set here, so
        the app's run config must have both keys.

        Raises
        ------
        SolverError
            If the run fails or times out; the message quotes the logs.
        """
        project = write_app_project(self.workdir / "app", app)
        result_path = self.workdir / "result.json"
        result_path.unlink(missing_ok=True)
        config = {**run_config, "result-path": str(result_path)}
        config.setdefault("min-available-sites", len(self._node_configs))
        # A file, not key=value words: Flower splits those at spaces and quotes, which
        # JSON values (the analytics queries) contain.
        overrides = self.workdir / "run-config.toml"
        overrides.write_text("".join(f"{k} = {_toml_value(v)}\n" for k, v in config.items()))
        start = time.perf_counter()
        runner = self._start(
            "run",
            [str(self._tool("flwr")), "run", str(project), "loopback", "--stream",
             "--run-config", str(overrides)],
        )  # fmt: skip
        try:
            runner.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as err:
            raise SolverError(
                f"the federated run did not finish within {timeout_s} s; run log:\n"
                f"{self.log('run')[-3000:]}"
            ) from err
        seconds = time.perf_counter() - start
        if runner.returncode != 0 or not result_path.exists():
            raise SolverError(
                f"the federated run failed (flwr run exit {runner.returncode}); run log:\n"
                f"{self.log('run')[-3000:]}"
            )
        return result_path, seconds

    def stop(self) -> None:
        """Stop every process started (SIGTERM, then SIGKILL after 10 s)."""
        for _, process in reversed(self._processes):
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 10.0
        for _, process in reversed(self._processes):
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout=10)
        self._processes.clear()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _queries_json(queries: Sequence[Query]) -> str:
    from healthtwin.federation.analytics_queries import query_to_json

    return "[" + ",".join(query_to_json(q) for q in queries) + "]"


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The group may have ended between the poll and the signal.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _read_result(path: Path) -> FederationResult:
    payload = json.loads(path.read_text())
    rounds = tuple(
        RoundRecord(
            int(r["round"]),
            tuple(r["sampled"]),
            tuple((str(s), str(why)) for s, why in r["failed"]),
            float(r["train_loss"]),
            {str(k): float(v) for k, v in r["metrics"].items()},
            int(r["n_clipped"]),
            float(r["epsilon"]),
            int(r["bytes_sent"]),
            int(r["bytes_received"]),
            float(r["seconds"]),
        )
        for r in payload["rounds"]
    )
    return FederationResult(np.asarray(payload["theta"], dtype=np.float64), rounds)
