"""Success bodies of the job routes (``/api/v1/jobs``): status records, lists, results."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from healthtwin.api.schemas.common import Absent, ResponseBody

__all__ = ["JobList", "JobRecord", "JobResult", "JobStatusName"]

#: A job's status; ``interrupted``: the server stopped while it ran (found after a restart).
JobStatusName = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]


class JobRecord(ResponseBody):
    """A background job's status and progress (times ISO 8601, ``null`` until they happen)."""

    id: str
    kind: str
    description: str
    actor: str
    status: JobStatusName
    progress: float = Field(ge=0, le=1)
    message: str
    created: str
    started: str | None
    finished: str | None
    error: str | None
    result: str | None = Field(description="Where the result is, once the job has succeeded.")


class JobList(ResponseBody):
    """Every job of this server, newest first."""

    jobs: list[JobRecord]


class JobResult(ResponseBody):
    """A succeeded job's result: the summary its kind of work writes (open)."""

    model_config = ConfigDict(extra="allow")
    kind: str | Absent = Field(default=None, description="The kind of work, when it says.")
