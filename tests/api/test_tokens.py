"""Bearer tokens over real HTTP: every forged, stale or misdirected token is refused with 401.

Each case signs a token with the test identity provider's keys (or an attacker's), sends it
to a production-mode server and expects ``401`` with ``WWW-Authenticate: Bearer
error="invalid_token"``; valid tokens of all three algorithms pass.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.api.security_fixtures import Keys, SecureServer, claims, config, secure_server

from healthtwin.api.security import (
    AuthenticationError,
    SecurityConfig,
    VerificationKey,
    load_jwks,
    load_pem_key,
    validate_token,
)
from healthtwin.errors import InvalidParameterError


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureServer]:
    keys = Keys.make()
    with secure_server(tmp_path_factory.mktemp("tokens"), keys, config(keys)) as running:
        yield running


def _status(server: SecureServer, token: str) -> tuple[int, str]:
    with server.client(token) as client:
        response = client.get("/Patient", params={"_count": "1"})
    return response.status_code, response.headers.get("www-authenticate", "")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256", "ES256"])
def test_valid_tokens_of_each_algorithm_pass(server: SecureServer, algorithm: str) -> None:
    assert _status(server, server.keys.sign(claims(), algorithm))[0] == 200


def test_tampered_signature_is_refused(server: SecureServer) -> None:
    header, payload, signature = server.keys.sign(claims()).split(".")
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))
    status, challenge = _status(server, f"{header}.{payload}.{flipped}")
    assert status == 401
    assert challenge.startswith('Bearer error="invalid_token"')


def test_tampered_payload_is_refused(server: SecureServer) -> None:
    header, _, signature = server.keys.sign(claims(role="patient")).split(".")
    forged = _b64(claims(role="clinician"))
    assert _status(server, f"{header}.{forged}.{signature}")[0] == 401


def test_expired_token_is_refused_beyond_the_leeway(server: SecureServer) -> None:
    now = int(time.time())
    expired = server.keys.sign(claims(exp=now - 120, iat=now - 700))
    status, challenge = _status(server, expired)
    assert status == 401
    assert "expired" in challenge
    within_leeway = server.keys.sign(claims(exp=now - 5, iat=now - 600))
    assert _status(server, within_leeway)[0] == 200


def test_not_yet_valid_token_is_refused(server: SecureServer) -> None:
    now = int(time.time())
    assert _status(server, server.keys.sign(claims(nbf=now + 600)))[0] == 401
    assert _status(server, server.keys.sign(claims(nbf=now + 5)))[0] == 200


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"iss": "https://evil.test"}, "issuer"),
        ({"aud": "https://other.test/fhir"}, "audience"),
        ({"exp": None}, "exp"),
        ({"sub": None}, "sub"),
    ],
)
def test_wrong_or_missing_claims_are_refused(
    server: SecureServer, change: dict[str, Any], expected: str
) -> None:
    body = {k: v for k, v in {**claims(), **change}.items() if v is not None}
    status, challenge = _status(server, server.keys.sign(body))
    assert status == 401
    assert expected in challenge.lower()


def test_alg_none_is_refused(server: SecureServer) -> None:
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims())}."
    status, challenge = _status(server, unsigned)
    assert status == 401
    assert "'none'" in challenge


def test_hs256_signed_with_the_public_key_is_refused(server: SecureServer) -> None:
    """The HS/RS confusion: the RSA public key (PEM) used as an HMAC secret."""
    pem = server.keys.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "rs"})
    payload = _b64(claims())
    import hashlib
    import hmac

    mac = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert _status(server, f"{header}.{payload}.{signature}")[0] == 401


def test_attacker_key_and_unknown_kid_are_refused(server: SecureServer) -> None:
    attacker = Ed25519PrivateKey.generate()
    forged = jwt.encode(claims(), attacker, algorithm="EdDSA", headers={"kid": "ed"})
    assert _status(server, forged)[0] == 401
    unknown = jwt.encode(claims(), attacker, algorithm="EdDSA", headers={"kid": "nope"})
    status, challenge = _status(server, unknown)
    assert status == 401
    assert "kid" in challenge


@pytest.mark.parametrize(
    "authorization", [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Bearer not-a-jwt"]
)
def test_missing_or_malformed_header_is_refused(
    server: SecureServer, authorization: str | None
) -> None:
    import httpx

    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(f"{server.base}/Patient", headers=headers, timeout=30)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer error=")
    assert response.json()["resourceType"] == "OperationOutcome"


def test_metadata_stays_public(server: SecureServer) -> None:
    with server.client(None) as client:
        assert client.get("/metadata").status_code == 200


def test_refused_authentication_is_audited(server: SecureServer) -> None:
    before = len(server.store.audit_events(actor="unauthenticated"))
    _status(server, "garbage.token.here")
    events = server.store.audit_events(actor="unauthenticated")
    assert len(events) == before + 1
    assert events[-1].outcome == "minor-failure"
    assert events[-1].details["status"] == 401


def test_hs256_only_in_development() -> None:
    secret = b"k" * 32
    with pytest.raises(InvalidParameterError, match="HS256"):
        SecurityConfig(
            mode="production", keys=(VerificationKey.hmac(secret),), issuer="i", audience="a"
        )
    dev = SecurityConfig(mode="development", keys=(VerificationKey.hmac(secret),))
    token = jwt.encode({"sub": "u", "exp": int(time.time()) + 60}, secret, algorithm="HS256")
    assert validate_token(token, dev)["sub"] == "u"


def test_production_needs_issuer_audience_and_asymmetric_keys() -> None:
    key = VerificationKey("EdDSA", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(InvalidParameterError, match="issuer"):
        SecurityConfig(mode="production", keys=(key,))
    with pytest.raises(InvalidParameterError, match="verification key"):
        SecurityConfig(mode="production", issuer="i", audience="a")


def test_keys_load_from_pem_and_jwks() -> None:
    keys = Keys.make()
    pem = keys.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert load_pem_key(pem).algorithm == "RS256"
    jwks = {
        "keys": [
            {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys.rsa.public_key())), "kid": "r"},
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(keys.ec.public_key())), "kid": "e"},
            {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
        ]
    }
    loaded = load_jwks(json.dumps(jwks))
    assert [(k.algorithm, k.kid) for k in loaded] == [("RS256", "r"), ("ES256", "e")]
    production = SecurityConfig(
        mode="production", keys=loaded, issuer="https://idp.test", audience="https://twin.test/fhir"
    )
    token = jwt.encode(claims(), keys.ec, algorithm="ES256", headers={"kid": "e"})
    assert validate_token(token, production)["sub"] == "u1"
    with pytest.raises(AuthenticationError):
        validate_token(
            jwt.encode(claims(), keys.ec, algorithm="ES256", headers={"kid": "r"}), production
        )
