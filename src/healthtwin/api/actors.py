"""Who made a request: the ``X-Actor`` header, as the governance layer sets it.

Under governance (:mod:`healthtwin.api.governance_layer`) the header is replaced by the
authenticated principal's actor; without it the caller's own header is taken (or
``anonymous``). One helper for every route that records who did something.
"""

from __future__ import annotations

from fastapi import Request

__all__ = ["MAX_ACTOR_CHARS", "request_actor"]

#: Longest actor kept (the audit log's and the job records' column width).
MAX_ACTOR_CHARS = 255


def request_actor(request: Request) -> str:
    """The request's actor: ``X-Actor`` stripped and cut to 255 characters, else ``anonymous``.

    Examples
    --------
    >>> from starlette.requests import Request
    >>> def made(headers: list[tuple[bytes, bytes]]) -> Request:
    ...     return Request({"type": "http", "headers": headers})
    >>> request_actor(made([(b"x-actor", b" Practitioner/p1 ")])), request_actor(made([]))
    ('Practitioner/p1', 'anonymous')
    >>> request_actor(made([(b"x-actor", b"  ")]))
    'anonymous'
    >>> len(request_actor(made([(b"x-actor", b"a" * 300)])))
    255
    """
    return (request.headers.get("x-actor") or "anonymous").strip()[:MAX_ACTOR_CHARS] or "anonymous"
