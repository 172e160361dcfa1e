"""Federated runs over HTTP: train a model across synthetic sites, in process, as a job.

``POST /api/v1/federated-runs`` starts a background job (:mod:`healthtwin.api.jobs`) that
runs the real Flower apps (:mod:`healthtwin.federation.apps`: ServerApp loop and
ClientApp at every site) over an in-process grid
(:class:`~healthtwin.federation.local_grid.InProcessGrid`) of synthetic sites. Each site
draws its own cohort with four standardized features from a known model (true
coefficients :data:`TRUE_COEFFICIENTS`): a binary outcome for ``logistic``, survival times
with exponential censoring for ``cox``; sites differ in case mix by shifting their
feature means (``case_mix_shift``). The cohorts are written to ``.npz`` files in a private
temporary directory that each site reads through its node config (``data-path``) and that
is removed when the run ends.

- ``GET /api/v1/federated-runs`` and ``GET /api/v1/federated-runs/{id}``: status with the
  rounds finished so far (round, federated evaluation metrics, epsilon spent so far);
  progress is rounds done over rounds; cancellation (``POST /api/v1/jobs/{id}/cancel``)
  stops the run at the next message exchange.
- ``GET /api/v1/federated-runs/{id}/results``: every round's record, the final parameters,
  the central fit of the same objective (what federated training is judged by) and the
  privacy spent: exact epsilon of DP-FedAvg (analytic Gaussian mechanism) and its
  Renyi-DP bound, with delta, noise multiplier and clip norm (``dp_epsilon = 0``: no DP).
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from healthtwin.api.jobs import JobContext, JobOutput, JobRunner
from healthtwin.errors import InvalidInputError, MissingDependencyError, NotFoundError

__all__ = [
    "TRUE_COEFFICIENTS",
    "FederatedRunIn",
    "LiveRounds",
    "RoundLog",
    "federated_runs_router",
    "federated_work",
    "synthetic_site",
]

federated_runs_router = APIRouter(prefix="/api/v1", tags=["federated-runs"])
KIND = "federated-run"
#: Coefficients of the four features in every synthetic site's outcome model.
TRUE_COEFFICIENTS = (0.8, -0.5, 0.3, 0.0)
#: Most patient-rounds (sites x patients x rounds) one run may ask for.
MAX_PATIENT_ROUNDS = 200_000
_FED_EXTRA = "pip install 'healthtwin[fed]'"


class FederatedRunIn(BaseModel):
    """A federated training run over synthetic sites."""

    model_config = ConfigDict(extra="forbid")
    model: Literal["logistic", "cox"] = "logistic"
    sites: int = Field(default=4, ge=2, le=16)
    patients_per_site: int = Field(default=200, ge=20, le=2000)
    rounds: int = Field(default=10, ge=1, le=100)
    strategy: Literal["fedavg", "fedprox"] = "fedavg"
    dp_epsilon: float = Field(default=0.0, ge=0, le=100, description="0: no DP.")
    delta: float = Field(default=1e-5, gt=0, le=1e-2)
    clip_norm: float = Field(default=1.0, gt=0, le=100)
    local_steps: int = Field(default=10, ge=1, le=200)
    learning_rate: float = Field(default=0.5, gt=0, le=10)
    case_mix_shift: float = Field(default=0.5, ge=0, le=3)
    seed: int = Field(default=0, ge=0, le=2**32 - 1)


@dataclass
class RoundLog:
    """The rounds one federated run has finished so far (appended by the run's thread)."""

    _entries: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, entry: dict[str, Any]) -> None:
        """Add a finished round."""
        with self._lock:
            self._entries.append(dict(entry))

    def entries(self) -> list[dict[str, Any]]:
        """The finished rounds, first first."""
        with self._lock:
            return [dict(e) for e in self._entries]


@dataclass
class LiveRounds:
    """The round logs of an application's federated jobs, by job id (thread-safe).

    A log is made before its job is submitted and attached to the job's id right after,
    so the run never needs its own id.

    Examples
    --------
    >>> live, log = LiveRounds(), RoundLog()
    >>> live.attach("job-1", log)
    >>> log.record({"round": 1, "metrics": {"auc": 0.7}})
    >>> live.rounds("job-1")[0]["metrics"], live.rounds("job-2")
    ({'auc': 0.7}, [])
    """

    _logs: dict[str, RoundLog] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, job_id: str, log: RoundLog) -> None:
        """Follow ``log`` as the rounds of ``job_id``."""
        with self._lock:
            self._logs[job_id] = log

    def rounds(self, job_id: str) -> list[dict[str, Any]]:
        """The finished rounds of ``job_id`` (none if unknown)."""
        with self._lock:
            log = self._logs.get(job_id)
        return log.entries() if log is not None else []


def synthetic_site(
    model: str, site: int, n_sites: int, n_patients: int, shift: float, seed: int
) -> dict[str, np.ndarray]:
    """One site's cohort: ``features`` (n, 4), ``time`` (n,), ``event`` (n,).

    Site ``k`` of ``K`` has feature means ``shift x (k / (K - 1) - 1/2)``; the outcome
    follows :data:`TRUE_COEFFICIENTS` (logistic: label with intercept -0.2; Cox: hazard
    ``exp(x . beta)`` per unit time, censoring at rate 0.3).

    Examples
    --------
    >>> data = synthetic_site("cox", 0, 3, 50, 0.5, seed=1)
    >>> data["features"].shape, data["time"].shape, data["event"].dtype
    ((50, 4), (50,), dtype('bool'))
    """
    rng = np.random.default_rng([seed, site])
    beta = np.asarray(TRUE_COEFFICIENTS)
    centre = shift * (site / max(n_sites - 1, 1) - 0.5)
    x = rng.normal(centre, 1.0, size=(n_patients, beta.size))
    score = x @ beta
    if model == "logistic":
        label = rng.random(n_patients) < 1.0 / (1.0 + np.exp(0.2 - score))
        return {"features": x, "time": np.ones(n_patients), "event": label}
    onset = rng.exponential(1.0 / np.exp(score))
    censor = rng.exponential(1.0 / 0.3, size=n_patients)
    return {"features": x, "time": np.minimum(onset, censor), "event": onset <= censor}


def _run_config(body: FederatedRunIn) -> dict[str, bool | float | int | str]:
    return {
        "model": body.model,
        "num-rounds": body.rounds,
        "strategy": body.strategy,
        "dp-epsilon": body.dp_epsilon,
        "delta": body.delta,
        "clip-norm": body.clip_norm,
        "local-steps": body.local_steps,
        "learning-rate": body.learning_rate,
        "seed": body.seed,
        "timeout-s": 60.0,
    }


def federated_work(body: FederatedRunIn, log: RoundLog) -> Callable[[JobContext], JobOutput]:
    """The job's work: write the sites, run the rounds, summarise (validated now).

    Each finished round is added to ``log`` (round, federated metrics, epsilon so far).

    Raises
    ------
    InvalidInputError
        If the run is larger than :data:`MAX_PATIENT_ROUNDS`.
    MissingDependencyError
        If Flower (the ``fed`` extra) is not installed.
    """
    size = body.sites * body.patients_per_site * body.rounds
    if size > MAX_PATIENT_ROUNDS:
        raise InvalidInputError(
            f"{body.sites} sites x {body.patients_per_site} patients x {body.rounds} rounds = "
            f"{size} patient-rounds; at most {MAX_PATIENT_ROUNDS}: ask for a smaller run"
        )
    try:
        from healthtwin.federation.apps import client_app, config_from_run
        from healthtwin.federation.local_grid import InProcessGrid, run_in_grid
        from healthtwin.federation.models import fit_central, make_model
        from healthtwin.federation.sites import SiteData
        from healthtwin.federation.strategies import weighted_metrics
    except ImportError as err:
        raise MissingDependencyError(f"federated runs need Flower: {_FED_EXTRA}") from err
    run_config = _run_config(body)
    dp = config_from_run(run_config).dp

    class ReportingGrid(InProcessGrid):
        """The in-process grid, reporting each evaluated round and checking cancellation."""

        context: JobContext

        def send_and_receive(self, messages: Iterable[Any], *, timeout: float | None = None) -> Any:
            messages = list(messages)
            self.context.check()
            replies = list(super().send_and_receive(messages, timeout=timeout))
            if messages and messages[0].metadata.message_type == "evaluate":
                number = int(messages[0].metadata.group_id)
                per_site = []
                for reply in replies:
                    if reply.has_error():
                        continue
                    metrics = {k: _number(v) for k, v in reply.content["metrics"].items()}
                    n = int(metrics.pop("num-examples"))
                    if n > 0:
                        per_site.append((n, metrics))
                entry = {
                    "round": number,
                    "metrics": weighted_metrics(per_site),
                    "epsilon": dp.epsilon(number) if dp is not None else 0.0,
                }
                log.record(entry)
                self.context.progress(number / body.rounds, f"round {number} of {body.rounds}")
            return replies

    def work(context: JobContext) -> JobOutput:
        model = make_model(body.model)
        with tempfile.TemporaryDirectory(prefix="healthtwin-fed-") as folder:
            nodes, sites = [], []
            for k in range(body.sites):
                arrays = synthetic_site(
                    body.model,
                    k,
                    body.sites,
                    body.patients_per_site,
                    body.case_mix_shift,
                    body.seed,
                )
                path = Path(folder) / f"site-{k}.npz"
                np.savez(
                    path, features=arrays["features"], time=arrays["time"], event=arrays["event"]
                )
                nodes.append({"data-path": str(path), "site-name": f"site-{k}"})
                sites.append(
                    SiteData(arrays["features"], arrays["time"], arrays["event"], f"site-{k}")
                )
            grid = ReportingGrid(client_app, nodes)
            grid.context = context
            context.progress(0.0, "sending the model to the sites")
            result = run_in_grid(grid, run_config)
        context.check()
        central = fit_central(model, sites)
        central_metrics = weighted_metrics(
            [(s.n_patients, model.evaluate(central, s)) for s in sites]
        )
        rounds = [r.as_dict() for r in result.rounds]
        summary = {
            "kind": KIND,
            "model": body.model,
            "strategy": body.strategy,
            "settings": body.model_dump(),
            "sites": [
                {"name": s.name, "n_patients": s.n_patients, "event_rate": float(s.event.mean())}
                for s in sites
            ],
            "rounds": rounds,
            "final_metrics": rounds[-1]["metrics"] if rounds else {},
            "theta": [float(v) for v in result.theta],
            "central": {"theta": [float(v) for v in central], "metrics": central_metrics},
            "distance_to_central": float(np.linalg.norm(result.theta - central)),
            "true_coefficients": list(TRUE_COEFFICIENTS),
            "privacy": _privacy(dp, body),
        }
        return JobOutput(summary, {"theta": result.theta, "central_theta": central})

    return work


def _number(value: object) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    raise InvalidInputError(f"a site answered a metric that is not a number: {value!r}")


def _privacy(dp: Any, body: FederatedRunIn) -> dict[str, Any]:
    if dp is None:
        return {"differential_privacy": False, "epsilon_spent": 0.0, "epsilon_budget": None}
    return {
        "differential_privacy": True,
        "mechanism": "DP-FedAvg (site-level, Gaussian noise on clipped updates)",
        "epsilon_budget": body.dp_epsilon,
        "epsilon_spent": dp.epsilon(body.rounds),
        "rdp_epsilon_bound": dp.rdp_epsilon(body.rounds),
        "delta": dp.delta,
        "noise_multiplier": dp.noise_multiplier,
        "clip_norm": dp.clip_norm,
        "rounds": body.rounds,
    }


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


def _live(request: Request) -> LiveRounds:
    live: LiveRounds = request.app.state.federated_rounds
    return live


def _status(request: Request, job_id: str) -> dict[str, Any]:
    job = _runner(request).get(job_id)
    if job.kind != KIND:
        raise NotFoundError(f"job {job_id[:80]!r} is not a federated run; see /api/v1/jobs")
    return job.to_dict() | {"rounds": _live(request).rounds(job_id)}


@federated_runs_router.post("/federated-runs", status_code=202)
def submit_federated_run(request: Request, body: FederatedRunIn) -> dict[str, Any]:
    """Start a federated training run over synthetic sites (``202`` with the job)."""
    log = RoundLog()
    work = federated_work(body, log)
    actor = (request.headers.get("x-actor") or "anonymous").strip()[:255] or "anonymous"
    dp = f", DP epsilon {body.dp_epsilon:g}" if body.dp_epsilon > 0 else ""
    job = _runner(request).submit(
        KIND,
        work,
        actor=actor,
        description=f"{body.model}: {body.sites} sites x {body.rounds} rounds{dp}",
    )
    _live(request).attach(job.id, log)
    return job.to_dict() | {"rounds": []}


@federated_runs_router.get("/federated-runs")
def list_federated_runs(request: Request) -> dict[str, Any]:
    """Federated runs, newest first."""
    live = _live(request)
    runs = [
        j.to_dict() | {"rounds_done": len(live.rounds(j.id))}
        for j in _runner(request).jobs()
        if j.kind == KIND
    ]
    return {"federated_runs": runs}


@federated_runs_router.get("/federated-runs/{job_id}")
def federated_run_status(request: Request, job_id: str) -> dict[str, Any]:
    """A federated run's status, progress and the rounds finished so far."""
    return _status(request, job_id)


@federated_runs_router.get("/federated-runs/{job_id}/results")
def federated_run_results(request: Request, job_id: str) -> dict[str, Any]:
    """The run's rounds, final model, central reference and privacy spent (``409`` before)."""
    _status(request, job_id)
    return _runner(request).result(job_id)
