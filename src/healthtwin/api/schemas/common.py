"""What every response schema shares: the base model, absent members, the decorator helper."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import SkipJsonSchema

__all__ = ["OPEN_BODIES", "Absent", "Quantiles", "ResponseBody", "success"]

#: A member some answers leave out: ``field: float | Absent = None`` is not required and
#: its schema is the plain type (``null`` is never sent).
Absent = SkipJsonSchema[None]

#: Quantile level (``"0.05"``, ``"0.5"``...) to one value per time point.
Quantiles = dict[str, list[float | None]]

#: Operations whose success body has no fixed members, and why (``(method, path)``).
OPEN_BODIES: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("get", "/api/v1/jobs/{job_id}/result"): (
            "a job's result is the summary its kind of work writes (population scenario, "
            "hospital, cohort evaluation, federated run, world, debrief): typed on the routes "
            "of each kind, open here"
        ),
    }
)


class ResponseBody(BaseModel):
    """A success body as its handler builds it (documentation: never re-serialized)."""


def success(status: int, model: type[BaseModel], description: str) -> dict[int | str, Any]:
    """The ``responses=`` entry declaring ``model`` as the body of the ``status`` answer.

    Examples
    --------
    >>> class Answer(ResponseBody):
    ...     n: int
    >>> entry = success(201, Answer, "Created.")
    >>> entry[201]["model"] is Answer, entry[201]["description"]
    (True, 'Created.')
    """
    return {status: {"model": model, "description": description}}
