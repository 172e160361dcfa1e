"""Textbook queues as hospital configs: M/M/c (Erlang C) and M/M/c/c (Erlang B).

One unit with ``servers`` beds, Poisson arrivals and exponential stays; with
``waiting_room=0`` an arrival that finds every bed taken is refused (Erlang 1917).
"""

from __future__ import annotations

from healthtwin.errors import InvalidParameterError
from healthtwin.hospital.config import HospitalConfig

__all__ = ["mmc_config"]


def mmc_config(
    arrival_rate: float, service_rate: float, servers: int, *, waiting_room: int | None = None
) -> HospitalConfig:
    """A one-unit hospital that is the M/M/c queue (rates per hour).

    Examples
    --------
    >>> cfg = mmc_config(9.0, 1.0, 10)
    >>> cfg.units["queue"].beds, cfg.units["queue"].los_hours.mean_hours()
    (10, 1.0)
    """
    if not (arrival_rate > 0 and service_rate > 0 and servers >= 1):
        raise InvalidParameterError(
            "M/M/c needs arrival_rate > 0, service_rate > 0 and servers >= 1, got "
            f"{arrival_rate!r}, {service_rate!r}, {servers!r}"
        )
    return HospitalConfig.model_validate(
        {
            "units": {
                "queue": {
                    "kind": "ed",
                    "beds": servers,
                    "los_hours": {"dist": "exponential", "mean": 1.0 / service_rate},
                }
            },
            "arrivals": [{"unit": "queue", "rate_per_hour": arrival_rate}],
            "pathways": {"queue": {"discharge": 1.0}},
            "diversion": {"unit": "queue", "max_queue": waiting_room},
        }
    )
