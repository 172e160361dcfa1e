"""Hardening of every response: security headers, ``_count`` cap, CORS allow-list, rate limits.

- :class:`SecurityHeaders` (ASGI middleware) adds ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``, ``Cache-Control: no-store``
  (answers hold health data), a Content-Security-Policy that lets an API response load
  nothing and be framed by nobody, and in production ``Strict-Transport-Security``. It
  also lowers a search's ``_count`` above the cap to the cap (FHIR lets a server return
  fewer entries than asked).
- :func:`cors_options`: the keyword arguments of Starlette's ``CORSMiddleware`` for an
  allow-list of origins (no credentials, our headers only).
- :class:`RateLimiter`: a token bucket per client key (about a microsecond per check,
  memory bounded by evicting idle buckets). We use our own rather than slowapi, which is
  not installed here and limits per decorated route before authentication, while we limit
  per authenticated client (and per address before authentication) in
  :mod:`healthtwin.api.governance_layer`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from healthtwin.errors import InvalidParameterError

__all__ = [
    "API_CSP",
    "RateLimiter",
    "SecurityHeaders",
    "cap_count",
    "cors_options",
    "security_headers",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: A JSON API loads nothing, runs nothing and is framed by no page.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: Two years, as the HSTS preload list asks.
HSTS = "max-age=63072000; includeSubDomains"


def security_headers(*, production: bool) -> list[tuple[bytes, bytes]]:
    """The headers added to every response (HSTS only in production).

    Examples
    --------
    >>> dict(security_headers(production=False))[b"x-frame-options"]
    b'DENY'
    >>> b"strict-transport-security" in dict(security_headers(production=True))
    True
    """
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", API_CSP.encode()),
        (b"cache-control", b"no-store"),
    ]
    if production:
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


def cap_count(query_string: bytes, max_count: int) -> bytes:
    """The query string with every ``_count`` above ``max_count`` lowered to it.

    Examples
    --------
    >>> cap_count(b"code=x&_count=5000", 100)
    b'code=x&_count=100'
    >>> cap_count(b"_count=10", 100)
    b'_count=10'
    """
    if b"_count" not in query_string:
        return query_string
    items = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    changed = False
    for number, (name, value) in enumerate(items):
        if name == "_count" and value.strip().isdigit() and int(value) > max_count:
            items[number] = (name, str(max_count))
            changed = True
    return urlencode(items).encode("latin-1") if changed else query_string


class SecurityHeaders:
    """ASGI middleware: security headers on every HTTP response, ``_count`` capped."""

    def __init__(self, app: ASGIApp, *, production: bool, max_count: int) -> None:
        self.app = app
        self.headers = security_headers(production=production)
        self.max_count = max_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["query_string"] = cap_count(scope.get("query_string", b""), self.max_count)
        names = {name for name, _ in self.headers}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = kept + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cors_options(origins: tuple[str, ...], purpose_header: str) -> dict[str, Any]:
    """Keyword arguments for Starlette's ``CORSMiddleware`` allowing only ``origins``.

    Examples
    --------
    >>> cors_options(("https://app.example",), "X-Purpose-Of-Use")["allow_origins"]
    ['https://app.example']
    """
    return {
        "allow_origins": list(origins),
        "allow_methods": ["GET", "POST", "PUT", "DELETE"],
        "allow_headers": ["Authorization", "Content-Type", "If-Match", "Prefer", purpose_header],
        "expose_headers": ["Location", "ETag"],
        "allow_credentials": False,
        "max_age": 600,
    }


class RateLimiter:
    """Token buckets per client key: ``rate_per_s`` sustained, ``burst`` at once.

    Thread-safe. Idle buckets beyond ``max_clients`` are evicted oldest first (an evicted
    client starts again with a full bucket).

    Parameters
    ----------
    rate_per_s : float
    burst : int
    max_clients : int
    clock : callable, optional
        Seconds (monotonic); injectable for tests.

    Examples
    --------
    >>> now = [0.0]
    >>> limiter = RateLimiter(1.0, 2, clock=lambda: now[0])
    >>> [limiter.take("a") for _ in range(3)]
    [0.0, 0.0, 1.0]
    >>> now[0] = 1.0
    >>> limiter.take("a")
    0.0
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or max_clients < 1:
            raise InvalidParameterError(
                f"rate_per_s, burst and max_clients must be positive, got {rate_per_s}, "
                f"{burst}, {max_clients}"
            )
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one token of ``key``'s bucket; 0 if allowed, else seconds until one is free."""
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate_per_s)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate_per_s
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return wait

    @staticmethod
    def retry_after(wait_s: float) -> str:
        """The ``Retry-After`` header value (whole seconds, at least 1).

        Examples
        --------
        >>> RateLimiter.retry_after(0.2)
        '1'
        """
        return str(max(1, math.ceil(wait_s)))
