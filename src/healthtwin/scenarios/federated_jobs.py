"""A federated training run over synthetic sites, in process: rounds, central fit, privacy.

:func:`plan_federated_run` checks a run's size and that Flower is installed now;
:meth:`FederatedRun.run` later runs the real Flower apps (:mod:`healthtwin.federation.apps`:
ServerApp loop and ClientApp at every site) over an in-process grid
(:class:`~healthtwin.federation.local_grid.InProcessGrid`) of synthetic sites. Each site
draws its own cohort with four standardized features from a known model
(:func:`synthetic_site`, true coefficients :data:`TRUE_COEFFICIENTS`): a binary outcome
for ``logistic``, survival times with exponential censoring for ``cox``; sites differ in
case mix by shifting their feature means (``case_mix_shift``). The cohorts are written to
``.npz`` files in a private temporary directory that each site reads through its node
config (``data-path``) and that is removed when the run ends.

Each evaluated round is added to a :class:`RoundLog` (round, federated evaluation metrics,
epsilon spent so far) as it finishes, with a progress report (rounds done over rounds) and
a stop check at every message exchange. The summary holds every round, the final
parameters, the central fit of the same objective (what federated training is judged by)
and the privacy spent: exact epsilon of DP-FedAvg (analytic Gaussian mechanism) and its
Renyi-DP bound, with delta, noise multiplier and clip norm (``dp_epsilon = 0``: no DP).
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from healthtwin.errors import InvalidInputError, InvalidParameterError, MissingDependencyError
from healthtwin.scenarios.reporting import Reporter, RunOutput

__all__ = [
    "MAX_PATIENT_ROUNDS",
    "RUN_KIND",
    "TRUE_COEFFICIENTS",
    "FederatedRun",
    "FederatedRunSettings",
    "RoundLog",
    "plan_federated_run",
    "privacy_summary",
    "synthetic_site",
]

#: The ``kind`` of a federated run's summary.
RUN_KIND = "federated-run"
#: Coefficients of the four features in every synthetic site's outcome model.
TRUE_COEFFICIENTS = (0.8, -0.5, 0.3, 0.0)
#: Most patient-rounds (sites x patients x rounds) one run may ask for.
MAX_PATIENT_ROUNDS = 200_000
_FED_EXTRA = "pip install 'healthtwin[fed]'"


@dataclass(frozen=True, kw_only=True)
class FederatedRunSettings:
    """A federated training run over synthetic sites (the fields of the run's summary).

    Attributes
    ----------
    model, strategy
        ``logistic`` or ``cox``; ``fedavg`` or ``fedprox``.
    sites, patients_per_site, rounds
        The federation's size.
    dp_epsilon, delta, clip_norm
        DP-FedAvg's privacy budget (``0``: no DP), delta and update clip norm.
    local_steps, learning_rate
        Each site's local training per round.
    case_mix_shift
        Spread of the sites' feature means (0: identical sites).
    seed
        Root seed of the cohorts and the training.

    Examples
    --------
    >>> FederatedRunSettings(sites=1)
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidParameterError: a federated run needs at least 2 sites, got 1
    """

    model: Literal["logistic", "cox"] = "logistic"
    sites: int = 4
    patients_per_site: int = 200
    rounds: int = 10
    strategy: Literal["fedavg", "fedprox"] = "fedavg"
    dp_epsilon: float = 0.0
    delta: float = 1e-5
    clip_norm: float = 1.0
    local_steps: int = 10
    learning_rate: float = 0.5
    case_mix_shift: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sites < 2:
            raise InvalidParameterError(f"a federated run needs at least 2 sites, got {self.sites}")
        if self.patients_per_site < 1 or self.rounds < 1 or self.dp_epsilon < 0:
            raise InvalidParameterError(
                f"patients_per_site {self.patients_per_site}, rounds {self.rounds}, "
                f"dp_epsilon {self.dp_epsilon}: give counts >= 1 and an epsilon >= 0"
            )

    def run_config(self) -> dict[str, bool | float | int | str]:
        """The Flower run config of the server and client apps."""
        return {
            "model": self.model,
            "num-rounds": self.rounds,
            "strategy": self.strategy,
            "dp-epsilon": self.dp_epsilon,
            "delta": self.delta,
            "clip-norm": self.clip_norm,
            "local-steps": self.local_steps,
            "learning-rate": self.learning_rate,
            "seed": self.seed,
            "timeout-s": 60.0,
        }


@dataclass
class RoundLog:
    """The rounds one federated run has finished so far (appended by the run's thread).

    Examples
    --------
    >>> log = RoundLog()
    >>> log.record({"round": 1, "metrics": {"auc": 0.7}})
    >>> log.entries()[0]["round"]
    1
    """

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


@dataclass(frozen=True)
class FederatedRun:
    """A checked federated run, ready to run (see :func:`plan_federated_run`)."""

    settings: FederatedRunSettings
    log: RoundLog

    def run(self, reporter: Reporter) -> RunOutput:
        """Write the sites, run the rounds over the in-process grid, then summarise."""
        from healthtwin.federation.apps import client_app, config_from_run
        from healthtwin.federation.local_grid import run_in_grid
        from healthtwin.federation.models import fit_central, make_model
        from healthtwin.federation.strategies import weighted_metrics

        settings, run_config = self.settings, self.settings.run_config()
        dp = config_from_run(run_config).dp
        model = make_model(settings.model)
        with tempfile.TemporaryDirectory(prefix="healthtwin-fed-") as folder:
            nodes, sites = _write_sites(settings, Path(folder))
            grid = _reporting_grid(client_app, nodes, reporter, self.log, settings.rounds, dp)
            reporter.progress(0.0, "sending the model to the sites")
            result = run_in_grid(grid, run_config)
        reporter.check()
        central = fit_central(model, sites)
        central_metrics = weighted_metrics(
            [(s.n_patients, model.evaluate(central, s)) for s in sites]
        )
        rounds = [r.as_dict() for r in result.rounds]
        summary = {
            "kind": RUN_KIND,
            "model": settings.model,
            "strategy": settings.strategy,
            "settings": dataclasses.asdict(settings),
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
            "privacy": privacy_summary(dp, settings),
        }
        return RunOutput(summary, {"theta": result.theta, "central_theta": central})


def plan_federated_run(settings: FederatedRunSettings, log: RoundLog) -> FederatedRun:
    """Check a federated run now (size, Flower installed); run it later.

    Raises
    ------
    InvalidInputError
        If the run is larger than :data:`MAX_PATIENT_ROUNDS`.
    MissingDependencyError
        If Flower (the ``fed`` extra) is not installed.

    Examples
    --------
    >>> plan_federated_run(FederatedRunSettings(sites=16, patients_per_site=2000,
    ...     rounds=100), RoundLog())
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: 16 sites x 2000 patients x 100 rounds = ...
    """
    size = settings.sites * settings.patients_per_site * settings.rounds
    if size > MAX_PATIENT_ROUNDS:
        raise InvalidInputError(
            f"{settings.sites} sites x {settings.patients_per_site} patients x "
            f"{settings.rounds} rounds = {size} patient-rounds; at most "
            f"{MAX_PATIENT_ROUNDS}: ask for a smaller run"
        )
    try:
        import healthtwin.federation.apps
        import healthtwin.federation.local_grid  # noqa: F401
    except ImportError as err:
        raise MissingDependencyError(f"federated runs need Flower: {_FED_EXTRA}") from err
    return FederatedRun(settings, log)


def privacy_summary(dp: Any, settings: FederatedRunSettings) -> dict[str, Any]:
    """The privacy a run spends: none, or DP-FedAvg's epsilon, its RDP bound and settings."""
    if dp is None:
        return {"differential_privacy": False, "epsilon_spent": 0.0, "epsilon_budget": None}
    return {
        "differential_privacy": True,
        "mechanism": "DP-FedAvg (site-level, Gaussian noise on clipped updates)",
        "epsilon_budget": settings.dp_epsilon,
        "epsilon_spent": dp.epsilon(settings.rounds),
        "rdp_epsilon_bound": dp.rdp_epsilon(settings.rounds),
        "delta": dp.delta,
        "noise_multiplier": dp.noise_multiplier,
        "clip_norm": dp.clip_norm,
        "rounds": settings.rounds,
    }


def _write_sites(settings: FederatedRunSettings, folder: Path) -> tuple[list[Any], list[Any]]:
    """Each site's cohort as an ``.npz`` file (node configs) and as site data."""
    from healthtwin.federation.sites import SiteData

    nodes, sites = [], []
    for k in range(settings.sites):
        arrays = synthetic_site(
            settings.model,
            k,
            settings.sites,
            settings.patients_per_site,
            settings.case_mix_shift,
            settings.seed,
        )
        path = folder / f"site-{k}.npz"
        np.savez(path, features=arrays["features"], time=arrays["time"], event=arrays["event"])
        nodes.append({"data-path": str(path), "site-name": f"site-{k}"})
        sites.append(SiteData(arrays["features"], arrays["time"], arrays["event"], f"site-{k}"))
    return nodes, sites


def _reporting_grid(
    app: Any, nodes: list[Any], reporter: Reporter, log: RoundLog, rounds: int, dp: Any
) -> Any:
    """The in-process grid, logging each evaluated round and checking for a stop."""
    from healthtwin.federation.local_grid import InProcessGrid
    from healthtwin.federation.strategies import weighted_metrics

    class ReportingGrid(InProcessGrid):
        def send_and_receive(self, messages: Iterable[Any], *, timeout: float | None = None) -> Any:
            messages = list(messages)
            reporter.check()
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
                log.record(
                    {
                        "round": number,
                        "metrics": weighted_metrics(per_site),
                        "epsilon": dp.epsilon(number) if dp is not None else 0.0,
                    }
                )
                reporter.progress(number / rounds, f"round {number} of {rounds}")
            return replies

    return ReportingGrid(app, nodes)


def _number(value: object) -> float:
    if isinstance(value, bool | int | float):
        return float(value)
    raise InvalidInputError(f"a site answered a metric that is not a number: {value!r}")
