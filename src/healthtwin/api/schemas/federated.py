"""Success bodies of the federated training routes (``/api/v1/federated-runs``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from healthtwin.api.schemas.common import ResponseBody
from healthtwin.api.schemas.jobs import JobRecord

__all__ = ["FederatedRunList", "FederatedRunResults", "FederatedRunStatus"]


class FederatedRound(ResponseBody):
    """One finished round: federated metrics and the privacy spent so far."""

    round: int
    metrics: dict[str, float | None]
    epsilon: float | None


class FederatedRunStatus(JobRecord):
    """A federated run's job and the rounds finished so far."""

    rounds: list[FederatedRound]


class FederatedRunListed(JobRecord):
    """A federated run in the list, with how many rounds are done."""

    rounds_done: int


class FederatedRunList(ResponseBody):
    """Federated runs, newest first."""

    federated_runs: list[FederatedRunListed]


class SiteOut(ResponseBody):
    """One synthetic site."""

    name: str
    n_patients: int
    event_rate: float


class RoundRecord(ResponseBody):
    """One round of the finished run (numbers that are not finite are ``null``)."""

    round: int
    sampled: list[str]
    failed: list[list[str]] = Field(description="[site, reason] of sites without an update.")
    train_loss: float | None
    metrics: dict[str, float | None]
    n_clipped: int
    epsilon: float | None
    bytes_sent: int
    bytes_received: int
    seconds: float


class CentralFit(ResponseBody):
    """The pooled (central) fit the federated model is compared with."""

    theta: list[float | None]
    metrics: dict[str, float | None]


class FederatedRunResults(ResponseBody):
    """The run's rounds, final model, central reference and privacy spent."""

    kind: str
    model: str
    strategy: str
    settings: dict[str, Any] = Field(description="The run as requested.")
    sites: list[SiteOut]
    rounds: list[RoundRecord]
    theta: list[float | None]
    final_metrics: dict[str, float | None]
    central: CentralFit
    distance_to_central: float
    true_coefficients: list[float]
    privacy: dict[str, Any] = Field(description="Mechanism, epsilon budget and spent, delta.")
