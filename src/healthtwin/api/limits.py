"""Request-size limits enforced before a body is parsed, so no request can exhaust memory.

:class:`BodyLimit` is plain ASGI middleware: a declared ``Content-Length`` above the cap is
answered ``413`` at once, and a body sent without one (chunked) is counted as it arrives
and cut off at the cap. Nesting depth and bundle size are checked by the JSON reader
(:func:`healthtwin.interop.fhir_json.parse_json_safely`).

The refusal speaks the language of the route: an ``OperationOutcome`` under ``/fhir``, RFC
9457 problem details (``application/problem+json``) under ``/api/v1``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from healthtwin.api.outcome import FHIR_JSON, operation_outcome

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodyLimit"]

V1_PREFIX = "/api/v1"
PROBLEM_JSON = "application/problem+json"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: 32 MiB: a 100,000-observation bundle is about 60 MB, so large loads go through
#: ``healthtwin data import`` or paged transactions rather than one request.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


class _BodyCutOffError(Exception):
    """Raised inside ``receive`` when a streamed body passes the cap."""


class BodyLimit:
    """ASGI middleware that refuses request bodies larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send, int(declared))
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyCutOffError
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _BodyCutOffError:
            if not started:
                await self._refuse(scope, send, seen)

    async def _refuse(self, scope: Scope, send: Send, size: int) -> None:
        message = (
            f"the request body ({size} bytes so far) exceeds the server's limit of "
            f"{self.max_bytes} bytes; split the bundle into several requests or load it "
            "with 'healthtwin data import'"
        )
        path: str = scope.get("path", "")
        media_type, payload = FHIR_JSON, operation_outcome(message, code="too-costly")
        if path == V1_PREFIX or path.startswith(V1_PREFIX + "/"):
            media_type = PROBLEM_JSON
            payload = {
                "type": "about:blank",
                "title": "Content Too Large",
                "status": 413,
                "detail": message,
            }
        body = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", media_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
