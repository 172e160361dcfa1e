"""Remembered tokens: a token is answered from memory only while it is certainly valid.

:class:`~healthtwin.api.security.VerifiedTokens` sits in front of full token validation in
the governance layer. Here: a remembered token is not verified again; tokens near their
edges (inside the leeway) and refused tokens are never remembered; the memory is bounded;
and a remembered token past its ``exp`` is validated anew (and refused when it has expired).
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from healthtwin.api import security
from healthtwin.api.security import (
    AuthenticationError,
    SecurityConfig,
    VerificationKey,
    VerifiedTokens,
)
from healthtwin.errors import InvalidParameterError

SECRET = b"k" * 32
CONFIG = SecurityConfig(
    mode="development",
    keys=(VerificationKey.hmac(SECRET),),
    issuer="https://idp",
    audience="healthtwin",
)


def _token(secret: bytes = SECRET, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "u1", "iss": "https://idp", "aud": "healthtwin", "iat": now - 5}
    body |= {"exp": now + 600} | claims
    return jwt.encode(body, secret, algorithm="HS256")


class CountingValidation:
    """Counts full validations (the real ones) through the module's function."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = security.validate_token

        def counted(token: str, config: SecurityConfig) -> dict[str, Any]:
            self.calls += 1
            return real(token, config)

        monkeypatch.setattr(security, "validate_token", counted)


def test_a_remembered_token_is_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = CountingValidation(monkeypatch)
    tokens = VerifiedTokens(CONFIG)
    token = _token(scope="user/*.rs", roles=["clinician"])
    first = tokens.principal(token)
    assert all(tokens.principal(token) is first for _ in range(5))
    assert counter.calls == 1
    assert (first.subject, first.scopes, first.roles) == ("u1", ("user/*.rs",), ("clinician",))


@pytest.mark.parametrize(
    ("claim", "offset_s"),
    [
        ("exp", -5),  # expired, but inside the 30 s leeway
        ("nbf", 10),  # not valid yet, but inside the leeway
        ("iat", 10),
    ],
)
def test_a_token_inside_the_leeway_is_accepted_but_not_remembered(
    monkeypatch: pytest.MonkeyPatch, claim: str, offset_s: int
) -> None:
    counter = CountingValidation(monkeypatch)
    tokens = VerifiedTokens(CONFIG)
    edge: dict[str, Any] = {claim: int(time.time()) + offset_s}
    token = _token(**edge)
    assert tokens.principal(token).subject == "u1"
    assert tokens.principal(token).subject == "u1"
    assert (len(tokens), counter.calls) == (0, 2)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"secret": b"x" * 32}, "signature does not verify"),
        ({"exp": -120}, "expired"),
        ({"aud": "someone-else"}, "token refused"),
        ({"sub": ""}, "'sub'"),
        (None, "malformed token"),
    ],
)
def test_refused_tokens_are_refused_every_time_and_never_remembered(
    claims: dict[str, Any] | None, message: str
) -> None:
    if claims is None:
        token = "not.a.token"
    else:
        claims = dict(claims)
        if "exp" in claims:
            claims["exp"] += int(time.time())
        token = _token(**claims)
    tokens = VerifiedTokens(CONFIG)
    for _ in range(2):
        with pytest.raises(AuthenticationError, match=message):
            tokens.principal(token)
    assert len(tokens) == 0


def test_a_remembered_token_past_its_exp_is_validated_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = CountingValidation(monkeypatch)
    now = [time.time()]
    tokens = VerifiedTokens(CONFIG, clock=lambda: now[0])
    exp = int(now[0]) + 60
    token = _token(exp=exp)
    tokens.principal(token)
    now[0] = exp - 0.001
    tokens.principal(token)
    assert counter.calls == 1
    now[0] = float(exp)  # from exp on, memory no longer answers
    tokens.principal(token)  # the real clock: still valid, validated again
    assert counter.calls == 2


def test_an_expired_token_is_refused_whatever_the_memorys_clock() -> None:
    tokens = VerifiedTokens(CONFIG, clock=lambda: 0.0)  # a memory whose clock is far behind
    token = _token(exp=int(time.time()) - 120, iat=-10)
    with pytest.raises(AuthenticationError, match="expired"):
        tokens.principal(token)  # full validation against the real clock
    assert len(tokens) == 0


def test_the_memory_is_bounded_and_forgets_the_oldest(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = CountingValidation(monkeypatch)
    tokens = VerifiedTokens(CONFIG, max_tokens=2)
    a, b, c = (_token(sub=s) for s in ("a", "b", "c"))
    for token in (a, b, c):
        tokens.principal(token)
    assert len(tokens) == 2
    tokens.principal(b)
    tokens.principal(c)
    assert counter.calls == 3
    tokens.principal(a)  # forgotten: validated again
    assert counter.calls == 4
    with pytest.raises(InvalidParameterError, match="max_tokens"):
        VerifiedTokens(CONFIG, max_tokens=0)
