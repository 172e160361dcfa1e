"""Development mode: a local signing key and a printed demo token, clearly marked as such.

``healthtwin serve --dev`` (never ``--production``) generates an Ed25519 key pair once and
keeps it in the user's data directory (``<data dir>/dev-keys/signing-key.pem``, mode 0600;
``$HEALTHTWIN_DATA_DIR`` overrides the directory), then prints a demo token signed with it:
broad scopes (``user/*.cruds``), the ``demo`` role that :data:`DEMO_POLICY` permits for
every purpose, valid for eight hours. The server trusts only that key's public half, with
the issuer :data:`DEV_ISSUER` and audience :data:`DEV_AUDIENCE`, so a demo token is useless
against a production server configured with real keys.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from healthtwin.api.security import SecurityConfig, VerificationKey
from healthtwin.errors import InvalidInputError
from healthtwin.governance.policy import Policy, load_policy
from healthtwin.governance.purpose import PURPOSES, ancestors

__all__ = [
    "DEMO_SCOPES",
    "DEV_AUDIENCE",
    "DEV_ISSUER",
    "DEV_KID",
    "demo_policy",
    "demo_token",
    "dev_banner",
    "dev_data_dir",
    "development_config",
    "ensure_dev_key",
]

DEV_ISSUER = "urn:healthtwin:dev"
DEV_AUDIENCE = "urn:healthtwin:fhir"
DEV_KID = "healthtwin-dev"
DEMO_SCOPES = ("openid", "fhirUser", "user/*.cruds")
_LIFETIME_S = 8 * 3600


def dev_data_dir(override: Path | None = None) -> Path:
    """Where development keys live: ``override``, ``$HEALTHTWIN_DATA_DIR``, or the user's
    data directory for healthtwin.

    Examples
    --------
    >>> dev_data_dir(Path("/tmp/x"))
    PosixPath('/tmp/x')
    """
    if override is not None:
        return override
    if os.environ.get("HEALTHTWIN_DATA_DIR"):
        return Path(os.environ["HEALTHTWIN_DATA_DIR"])
    import platformdirs

    return Path(platformdirs.user_data_dir("healthtwin"))


def ensure_dev_key(data_dir: Path) -> Ed25519PrivateKey:
    """The development signing key, generated on first use and kept in ``data_dir``.

    Raises
    ------
    InvalidInputError
        If the key file exists but cannot be read as an Ed25519 private key.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     a = ensure_dev_key(Path(d)); b = ensure_dev_key(Path(d))
    ...     a.public_key() == b.public_key()
    True
    """
    path = data_dir / "dev-keys" / "signing-key.pem"
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as err:
            raise InvalidInputError(
                f"cannot read the development key {str(path)!r}: {err}; delete it to make a new one"
            ) from err
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidInputError(
                f"{str(path)!r} is not an Ed25519 key; delete it to make a new one"
            )
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return key


def demo_policy() -> Policy:
    """The development policy: the ``demo`` role may do anything, for any purpose.

    Examples
    --------
    >>> demo_policy().rules[0].actions
    'cruds'
    """
    roots = [code for code in PURPOSES if len(ancestors(code)) == 1]
    return load_policy(
        {
            "rules": [
                {
                    "id": "demo",
                    "roles": ["demo"],
                    "actions": "cruds",
                    "resource_types": ["*"],
                    "purposes": roots,
                }
            ]
        }
    )


def demo_token(
    key: Ed25519PrivateKey,
    *,
    subject: str = "demo-user",
    scopes: Sequence[str] = DEMO_SCOPES,
    roles: Sequence[str] = ("demo",),
    lifetime_s: int = _LIFETIME_S,
    extra: dict[str, Any] | None = None,
) -> str:
    """A token for the development server, signed with its key.

    Examples
    --------
    >>> key = Ed25519PrivateKey.generate()
    >>> claims = jwt.decode(demo_token(key), key.public_key(), algorithms=["EdDSA"],
    ...                     audience=DEV_AUDIENCE)
    >>> claims["scope"], claims["roles"]
    ('openid fhirUser user/*.cruds', ['demo'])
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": subject,
        "fhirUser": f"Practitioner/{subject}",
        "scope": " ".join(scopes),
        "roles": list(roles),
        "client_id": "healthtwin-dev-client",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_s,
        "healthtwin_dev": True,
    }
    claims.update(extra or {})
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": DEV_KID})


def development_config(
    data_dir: Path | None = None,
    *,
    policy: Policy | None = None,
    cors_origins: tuple[str, ...] = (),
) -> tuple[SecurityConfig, str]:
    """The development security configuration and a fresh demo token.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     config, token = development_config(Path(d))
    >>> config.mode, config.default_purpose, token.count(".")
    ('development', 'TREAT', 2)
    """
    key = ensure_dev_key(dev_data_dir(data_dir))
    config = SecurityConfig(
        mode="development",
        keys=(VerificationKey("EdDSA", key.public_key(), DEV_KID),),
        issuer=DEV_ISSUER,
        audience=DEV_AUDIENCE,
        policy=policy or demo_policy(),
        default_purpose="TREAT",
        cors_origins=cors_origins,
    )
    return config, demo_token(key)


def dev_banner(token: str, base_url: str) -> str:
    """The clearly marked notice printed when a development server starts.

    Examples
    --------
    >>> "DEVELOPMENT MODE" in dev_banner("t.o.k", "http://127.0.0.1:8000/fhir")
    True
    """
    line = "!" * 78
    return (
        f"{line}\n"
        "!! DEVELOPMENT MODE - NOT FOR REAL PATIENT DATA\n"
        "!! Tokens are signed by a key generated on this machine; the demo token below\n"
        "!! grants every scope for eight hours. Use 'healthtwin serve --production\n"
        "!! --jwks FILE --issuer URL --audience AUD --policy FILE' for real deployments.\n"
        f"{line}\n"
        f"DEMO TOKEN (development only):\n{token}\n\n"
        f'curl -H "Authorization: Bearer $TOKEN" -H "X-Purpose-Of-Use: TREAT" '
        f"{base_url}/Patient\n"
        f"{line}"
    )
