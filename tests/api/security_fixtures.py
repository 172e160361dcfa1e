"""Helpers for the security tests: signing keys, tokens, a policy, and a secured uvicorn server.

The server runs over a SQLite file in a thread on a free loopback port, with the app built
by :func:`healthtwin.api.app.create_app` and a :class:`SecurityConfig`; tokens are signed
with keys made here (Ed25519, RSA, EC P-256) whose public halves the config trusts.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from healthtwin.api.app import create_app
from healthtwin.api.security import SecurityConfig, VerificationKey
from healthtwin.governance.policy import load_policy
from healthtwin.store import Store, open_store

ISSUER = "https://idp.test"
AUDIENCE = "https://twin.test/fhir"
POLICY = load_policy(
    """
datasets: {cgm: [Observation, Patient]}
rules:
  - {id: care, roles: [clinician], actions: cruds, resource_types: ["*"], purposes: [TREAT]}
  - {id: study, roles: [researcher], actions: rs, resource_types: [Observation, Patient,
     Condition], purposes: [HRESCH], requires_permit: true}
  - {id: no-conditions, effect: deny, roles: [researcher], actions: rs,
     resource_types: [Condition], purposes: [HRESCH]}
  - {id: surveillance, roles: [epidemiologist], actions: s, resource_types: [Observation],
     purposes: [PUBHLTH]}
  - {id: self, roles: [patient], actions: rs, resource_types: ["*"], purposes: [PATRQT]}
permits:
  - {project: cgm-study, purposes: [HRESCH], datasets: [cgm], expires: "2099-01-01T00:00:00Z"}
"""
)


@dataclass(frozen=True)
class Keys:
    """Private keys of the test identity provider, one per algorithm."""

    ed25519: Ed25519PrivateKey
    rsa: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey

    @classmethod
    def make(cls) -> Keys:
        return cls(
            Ed25519PrivateKey.generate(),
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            ec.generate_private_key(ec.SECP256R1()),
        )

    def verification(self) -> tuple[VerificationKey, ...]:
        return (
            VerificationKey("EdDSA", self.ed25519.public_key(), "ed"),
            VerificationKey("RS256", self.rsa.public_key(), "rs"),
            VerificationKey("ES256", self.ec.public_key(), "es"),
        )

    def sign(self, claims: dict[str, Any], algorithm: str = "EdDSA") -> str:
        key, kid = {
            "EdDSA": (self.ed25519, "ed"),
            "RS256": (self.rsa, "rs"),
            "ES256": (self.ec, "es"),
        }[algorithm]
        return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def claims(
    role: str = "clinician",
    scope: str = "user/*.cruds",
    *,
    sub: str = "u1",
    lifetime_s: int = 600,
    **extra: Any,
) -> dict[str, Any]:
    """Valid claims for a caller with one role and these scopes."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "fhirUser": f"Practitioner/{sub}",
        "scope": scope,
        "roles": [role],
        "client_id": f"client-{sub}",
        "iat": now,
        "exp": now + lifetime_s,
    }
    base.update(extra)
    return base


def config(keys: Keys, **changes: Any) -> SecurityConfig:
    """A production configuration trusting ``keys`` with the test policy."""
    base = SecurityConfig(
        mode="production",
        keys=keys.verification(),
        issuer=ISSUER,
        audience=AUDIENCE,
        policy=POLICY,
        cors_origins=("https://app.test",),
        rate_per_s=1000.0,
        burst=1000,
        max_count=50,
    )
    return replace(base, **changes)


@dataclass(frozen=True)
class SecureServer:
    """A running secured server: FHIR base URL, its store and the signing keys."""

    base: str
    store: Store
    keys: Keys

    def client(self, token: str | None, purpose: str | None = "TREAT") -> httpx.Client:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if purpose is not None:
            headers["X-Purpose-Of-Use"] = purpose
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def secure_server(directory: Path, keys: Keys, security: SecurityConfig) -> Iterator[SecureServer]:
    """Run a uvicorn server over a fresh SQLite store with ``security``."""
    store = open_store(f"sqlite:///{directory / f'{uuid.uuid4().hex[:8]}.sqlite'}")
    port = _free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    app = create_app(store, base_url=base, security=security)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="critical", lifespan="off", ws="none"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the secured test server did not start within 20 s")
        time.sleep(0.01)
    try:
        yield SecureServer(base, store, keys)
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


def patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female"}


def observation(oid: str, pid: str, value: float = 5.5) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "15074-8"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2025-05-01T08:00:00Z",
        "valueQuantity": {
            "value": value,
            "unit": "mmol/L",
            "system": "http://unitsofmeasure.org",
            "code": "mmol/L",
        },
    }


def research_optin(cid: str, pid: str) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": cid,
        "status": "active",
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{pid}"},
        "policyRule": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}
            ]
        },
    }
