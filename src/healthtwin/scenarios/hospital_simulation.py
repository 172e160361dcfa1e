"""A hospital simulated over a window: each metric's mean and interval over replications.

:func:`plan_hospital_simulation` validates a hospital configuration and the run's size now;
:meth:`HospitalSimulation.run` runs the discrete-event engine
(:func:`healthtwin.hospital.simulate.simulate`) later, as one unit of work (splitting the
replications into chunks would change which random streams each replication draws), with
stop checks before and after. Forecasting a hospital *from today's census* is
:mod:`healthtwin.scenarios.hospital_forecast`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from healthtwin.errors import InvalidInputError
from healthtwin.hospital.config import HospitalConfig
from healthtwin.hospital.simulate import simulate
from healthtwin.scenarios.reporting import Reporter, RunOutput

__all__ = ["MAX_REPLICATION_DAYS", "HospitalSimulation", "plan_hospital_simulation"]

#: Most simulated replication-days (replications x (days + warm-up days)) one run may ask for.
MAX_REPLICATION_DAYS = 20_000


@dataclass(frozen=True)
class HospitalSimulation:
    """A validated hospital simulation, ready to run.

    Attributes
    ----------
    config
        The hospital.
    days, warmup_days
        The measured window and the discarded warm-up before it.
    replications, seed
        Independent runs and their root seed.
    """

    config: HospitalConfig
    days: float
    warmup_days: float
    replications: int
    seed: int

    def run(self, reporter: Reporter) -> RunOutput:
        """Simulate; the summary's ``metrics`` hold each metric's mean, interval and level.

        The arrays hold every metric per replication, shape ``(replications,)``, named with
        ``:`` replaced by ``_``.

        Examples
        --------
        >>> from healthtwin.hospital.textbook import mmc_config
        >>> from healthtwin.scenarios.reporting import SilentReporter
        >>> config = mmc_config(9.0, 1.0, 10).model_dump(mode="json")
        >>> plan = plan_hospital_simulation(config, days=2.0, replications=2)
        >>> out = plan.run(SilentReporter())
        >>> out.summary["kind"], out.arrays["arrivals"].shape
        ('hospital', (2,))
        """
        reporter.check()
        reporter.progress(0.05, f"simulating {self.replications} replications")
        result = simulate(
            self.config,
            days=self.days,
            replications=self.replications,
            seed=self.seed,
            warmup_days=self.warmup_days,
        )
        reporter.check()
        summary = {
            name: {"mean": s.mean, "low": s.low, "high": s.high, "level": s.level}
            for name, s in result.summary().items()
        }
        arrays = {name.replace(":", "_"): v for name, v in result.per_replication.items()}
        return RunOutput({"kind": "hospital", "metrics": summary}, arrays)


def plan_hospital_simulation(
    config: Mapping[str, Any],
    *,
    days: float,
    warmup_days: float = 0.0,
    replications: int = 10,
    seed: int = 0,
) -> HospitalSimulation:
    """Validate a hospital simulation now (it runs later, see :class:`HospitalSimulation`).

    Parameters
    ----------
    config
        A ``HospitalConfig`` as JSON (units, arrivals, pathways).
    days, warmup_days
        The measured window and the warm-up before it.
    replications, seed
        Independent runs and their root seed.

    Returns
    -------
    HospitalSimulation

    Raises
    ------
    InvalidInputError
        If the run exceeds :data:`MAX_REPLICATION_DAYS` or ``config`` is not a valid
        hospital configuration.

    Examples
    --------
    >>> plan_hospital_simulation({"units": {}}, days=1.0)
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: hospital config is invalid: ...
    """
    if replications * (days + warmup_days) > MAX_REPLICATION_DAYS:
        raise InvalidInputError(
            f"{replications} replications of {days + warmup_days:g} days exceed "
            f"{MAX_REPLICATION_DAYS} replication-days per job; run fewer or shorter ones"
        )
    try:
        hospital = HospitalConfig.model_validate(config)
    except ValidationError as err:
        raise InvalidInputError(f"hospital config is invalid: {err}") from err
    return HospitalSimulation(hospital, days, warmup_days, replications, seed)
