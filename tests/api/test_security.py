"""Hardening and the governance layer over real HTTP, plus the pure pieces they are made of.

Security headers (HSTS only in production), no OpenAPI document in production, the CORS
allow-list, the ``_count`` cap, per-client rate limits, the caller's identity replacing a
spoofed ``X-Actor``, consents written through the API taking effect at once, the answer
withheld when the audit cannot be written, development mode's key and demo token, and
``healthtwin serve``'s option checks.
"""

from __future__ import annotations

import stat
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from tests.api.security_fixtures import (
    Keys,
    SecureServer,
    claims,
    config,
    observation,
    patient,
    research_optin,
    secure_server,
)

from healthtwin.api.devmode import (
    DEV_AUDIENCE,
    demo_token,
    dev_banner,
    development_config,
    ensure_dev_key,
)
from healthtwin.api.governance_layer import classify, search_patient
from healthtwin.api.hardening import RateLimiter, cap_count
from healthtwin.api.security import SecurityConfig, principal_from_claims, validate_token
from healthtwin.errors import InvalidParameterError, StoreError


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureServer]:
    keys = Keys.make()
    with secure_server(tmp_path_factory.mktemp("security"), keys, config(keys)) as running:
        yield running


@pytest.fixture
def clinician(server: SecureServer) -> Iterator[httpx.Client]:
    with server.client(server.keys.sign(claims(sub="doc"))) as client:
        yield client


def test_security_headers_on_every_answer(server: SecureServer, clinician: httpx.Client) -> None:
    for response in (clinician.get("/Patient"), clinician.get("/metadata"), clinician.get("/nope")):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-store"
        assert headers["strict-transport-security"].startswith("max-age=")
    unauthenticated = httpx.get(f"{server.base}/Patient", timeout=30)
    assert unauthenticated.headers["x-frame-options"] == "DENY"


def test_head_is_not_served_under_governance(server: SecureServer) -> None:
    token = server.keys.sign(claims(sub="head"))
    with server.client(token) as client:
        assert client.head("/Patient").status_code == 405
        assert client.get("/Patient").status_code == 200


def test_no_openapi_or_docs_in_production(server: SecureServer) -> None:
    root = server.base.removesuffix("/fhir")
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert httpx.get(root + path, timeout=30).status_code == 404


def test_cors_allows_only_listed_origins(server: SecureServer) -> None:
    preflight = {"Access-Control-Request-Method": "GET"}
    allowed = httpx.options(
        f"{server.base}/Patient", headers={"Origin": "https://app.test", **preflight}, timeout=30
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.test"
    assert "Authorization" in allowed.headers["access-control-allow-headers"]
    other = httpx.options(
        f"{server.base}/Patient", headers={"Origin": "https://evil.test", **preflight}, timeout=30
    )
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers


def test_count_is_capped(clinician: httpx.Client) -> None:
    for number in range(3):
        pid = f"cap-{number}"
        assert clinician.put(f"/Patient/{pid}", json=patient(pid)).status_code == 201
    bundle = clinician.get("/Patient", params={"_count": "100000"}).json()
    self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert "_count=50" in self_link


def test_rate_limit_per_client(tmp_path: Path) -> None:
    keys = Keys.make()
    with secure_server(tmp_path, keys, config(keys, rate_per_s=0.01, burst=3)) as running:
        with running.client(keys.sign(claims(sub="greedy"))) as greedy:
            statuses = [greedy.get("/Patient").status_code for _ in range(5)]
            limited = greedy.get("/Patient")
        with running.client(keys.sign(claims(sub="polite"))) as polite:
            assert polite.get("/Patient").status_code == 200
    assert statuses == [200, 200, 200, 429, 429]
    assert int(limited.headers["retry-after"]) >= 1


def test_spoofed_actor_header_is_replaced(server: SecureServer, clinician: httpx.Client) -> None:
    response = clinician.put(
        "/Patient/spoof", json=patient("spoof"), headers={"X-Actor": "Practitioner/someone-else"}
    )
    assert response.status_code == 201
    writes = server.store.audit_events(resource_ref="Patient/spoof")
    assert {e.actor for e in writes} == {"Practitioner/doc"}
    assert server.store.audit_events(actor="Practitioner/someone-else") == []


def test_consent_written_through_the_api_applies_at_once(
    server: SecureServer, clinician: httpx.Client
) -> None:
    for pid in ("late-a", "late-b"):
        assert clinician.put(f"/Patient/{pid}", json=patient(pid)).status_code == 201
        body = observation(f"obs-{pid}", pid)
        assert clinician.put(f"/Observation/obs-{pid}", json=body).status_code == 201
    token = server.keys.sign(claims("researcher", "user/*.rs", sub="res", project="cgm-study"))
    with server.client(token, "HRESCH") as researcher:
        assert researcher.get("/Observation/obs-late-a").status_code == 403
        optin = research_optin("consent-late-a", "late-a")
        assert clinician.put("/Consent/consent-late-a", json=optin).status_code == 201
        assert researcher.get("/Observation/obs-late-a").status_code == 200
        assert researcher.get("/Observation/obs-late-b").status_code == 403
        assert clinician.delete("/Consent/consent-late-a").status_code == 204
        assert researcher.get("/Observation/obs-late-a").status_code == 403


def test_answer_withheld_when_audit_fails(
    server: SecureServer, clinician: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: Any) -> None:
        raise StoreError("audit table unavailable")

    monkeypatch.setattr(server.store, "record_audit", broken)
    response = clinician.get("/Patient")
    assert response.status_code == 503
    assert "entry" not in response.json()


def test_classify_maps_methods_and_paths() -> None:
    cases = {
        ("GET", "/fhir/Patient"): ("search", "s", "Patient", None),
        ("POST", "/fhir/Patient"): ("create", "c", "Patient", None),
        ("PUT", "/fhir/Patient/1"): ("update", "u", "Patient", "1"),
        ("DELETE", "/fhir/Patient/1"): ("delete", "d", "Patient", "1"),
        ("GET", "/fhir/Patient/1/_history/2"): ("vread", "r", "Patient", "1"),
        ("GET", "/fhir/Patient/1/_history"): ("history", "r", "Patient", "1"),
        ("POST", "/fhir"): ("transaction", "c", None, None),
        ("GET", "/fhir/metadata"): ("metadata", "r", None, None),
    }
    for (method, path), expected in cases.items():
        found = classify(method, path)
        assert (found.kind, found.action, found.resource_type, found.resource_id) == expected


def test_search_patient_needs_one_patient() -> None:
    assert search_patient("Observation", [("patient", "Patient/1")]) == "1"
    assert search_patient("Observation", [("patient", "1,2")]) is None
    assert search_patient("Observation", [("patient", "1"), ("subject", "2")]) is None
    assert search_patient("Observation", [("subject", "Group/1")]) is None
    assert search_patient("Condition", [("subject:Patient", "9")]) == "9"


def test_rate_limiter_refills_and_evicts() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 2, max_clients=2, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.5]
    now[0] = 0.5
    assert limiter.take("a") == 0.0
    limiter.take("b")
    limiter.take("c")
    assert limiter.take("a") == 0.0  # evicted, so a fresh full bucket


def test_cap_count_keeps_other_parameters() -> None:
    assert cap_count(b"a=1&_count=999&b=%20x", 10) == b"a=1&_count=10&b=+x"
    assert cap_count(b"_count=abc", 10) == b"_count=abc"


def test_principal_prefers_fhir_user_and_client() -> None:
    principal = principal_from_claims(
        {"sub": "s", "client_id": "app", "patient": "p1", "purpose_of_use": "TREAT HRESCH"}
    )
    assert (principal.actor, principal.client_id, principal.patient_id) == ("s", "app", "p1")
    assert principal.purposes == ("TREAT", "HRESCH")


def test_development_key_is_private_and_reused(tmp_path: Path) -> None:
    first = ensure_dev_key(tmp_path)
    path = tmp_path / "dev-keys" / "signing-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_dev_key(tmp_path).public_key() == first.public_key()
    config_, token = development_config(tmp_path)
    assert config_.mode == "development"
    assert validate_token(token, config_)["roles"] == ["demo"]
    assert "DEVELOPMENT MODE" in dev_banner(token, "http://127.0.0.1:8000/fhir")
    stranger = demo_token(ensure_dev_key(tmp_path / "other"))
    with pytest.raises(PermissionError):
        validate_token(stranger, config_)
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == DEV_AUDIENCE


def test_development_server_serves_the_demo_token(tmp_path: Path) -> None:
    dev, token = development_config(tmp_path)
    with secure_server(tmp_path, Keys.make(), dev) as running:
        with running.client(token, purpose=None) as client:
            assert client.get("/Patient").status_code == 200
        root = running.base.removesuffix("/fhir")
        assert httpx.get(root + "/openapi.json", timeout=30).status_code == 200
        assert "strict-transport-security" not in httpx.get(root + "/openapi.json").headers


def _serve_module() -> Any:
    with warnings.catch_warnings():
        # typer 0.20 + click 8.5 warn on import; not ours to fix here.
        warnings.simplefilter("ignore", DeprecationWarning)
        from healthtwin.cli import serve
    return serve


def test_serve_options_refuse_unsafe_combinations(tmp_path: Path) -> None:
    serve = _serve_module()
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "production": False,
        "dev": False,
        "policy": None,
        "jwks": None,
        "issuer": None,
        "audience": None,
        "cors_origins": (),
        "data_dir": tmp_path,
    }
    with pytest.raises(InvalidParameterError, match="not both"):
        serve.security_from_options(**{**base, "production": True, "dev": True})
    with pytest.raises(InvalidParameterError, match="--jwks, --issuer, --audience, --policy"):
        serve.security_from_options(**{**base, "production": True})
    with pytest.raises(InvalidParameterError, match="loopback"):
        serve.security_from_options(**{**base, "host": "0.0.0.0"})
    keys = Keys.make()
    pem_path = tmp_path / "idp.pem"
    from cryptography.hazmat.primitives import serialization

    pem_path.write_bytes(
        keys.ed25519.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text("rules: []\n")
    production, token = serve.security_from_options(
        **{
            **base,
            "host": "0.0.0.0",
            "production": True,
            "jwks": pem_path,
            "issuer": "https://idp",
            "audience": "aud",
            "policy": policy_path,
        }
    )
    assert token is None
    assert production.mode == "production"
    assert production.default_purpose is None
    assert isinstance(production, SecurityConfig)
    assert replace(production, cors_origins=("https://a",)).cors_origins == ("https://a",)
