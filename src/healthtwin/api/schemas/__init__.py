"""The success bodies of the ``/api/v1`` operations, as pydantic models (one module per family).

The handlers build their answers as dictionaries; these models describe them in the OpenAPI
document (``responses={status: {"model": ...}}`` on each route), so generated clients get
typed bodies and the fuzz test validates every success body against its schema. They do
not re-serialize anything: a body is sent exactly as its handler built it.

A field that a body leaves out in some answers (rather than sending ``null``) is typed
``X | Absent`` with default ``None``: not required, and ``null`` is not promised. A body
that is genuinely open (a job's result, whose summary depends on the kind of job) allows
extra members; :data:`OPEN_BODIES` lists the operations whose body has no fixed
properties at all, with the reason.
"""

from __future__ import annotations

from healthtwin.api.schemas.common import OPEN_BODIES, Absent, ResponseBody, success

__all__ = ["OPEN_BODIES", "Absent", "ResponseBody", "success"]
