"""Bearer tokens: who is calling, proven by a JWT signed with a key the server trusts.

The service accepts OAuth2 bearer tokens (RFC 6750) that are JWTs (RFC 7519) signed by an
authorisation server whose public keys are configured (PEM files or a JWKS document):
``RS256``, ``ES256`` and ``EdDSA``. ``HS256`` (a shared secret) is accepted only in
development mode. Each key pins its algorithm, so a token cannot pick a weaker one
(``alg: none``) or use an RSA public key as an HMAC secret (the "HS/RS confusion").
:func:`validate_token` checks the signature, ``exp`` (required), ``nbf``, ``iat``, the
issuer and the audience with a small leeway for clock skew; every failure is an
:class:`AuthenticationError`, answered ``401`` with
``WWW-Authenticate: Bearer error="invalid_token"``.

The claims become a :class:`Principal` (:func:`principal_from_claims`): the actor
(SMART ``fhirUser`` or ``sub``), the client (``client_id`` or ``azp``), the SMART
``scope`` string, the launch ``patient``, and our claims ``roles``, ``organization``,
``purpose_of_use`` (the purposes the token may be used for) and ``project``.
:class:`SecurityConfig` gathers everything the governance layer needs per request.
:class:`VerifiedTokens` remembers the callers of tokens that validated, so that a client
sending the same token request after request is not verified again while the token is
certainly still valid (signature, issuer and audience depend only on the token and the
configuration; the times are checked on every use).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from healthtwin.errors import InvalidInputError, InvalidParameterError, TwinError
from healthtwin.governance.consent_index import ConsentIndex
from healthtwin.governance.optout import OptOutRegistry
from healthtwin.governance.policy import Policy
from healthtwin.interop.fhir_search import MAX_COUNT

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "AuthenticationError",
    "Principal",
    "SecurityConfig",
    "SecurityMode",
    "VerificationKey",
    "VerifiedTokens",
    "bearer_token",
    "load_jwks",
    "load_pem_key",
    "principal_from_claims",
    "validate_token",
]

SecurityMode = Literal["production", "development", "disabled"]
#: Signature algorithms accepted from configured public keys.
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256", "EdDSA")
#: Clock skew tolerated on ``exp``, ``nbf`` and ``iat``, in seconds.
DEFAULT_LEEWAY_S = 30.0


class AuthenticationError(TwinError, PermissionError):
    """A request carries no valid bearer token (HTTP 401, ``error="invalid_token"``).

    ``error`` is the RFC 6750 error code: ``invalid_request`` when the header is missing
    or malformed, ``invalid_token`` when the token is refused.
    """

    def __init__(self, message: str, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.error = error

    def www_authenticate(self) -> str:
        """The ``WWW-Authenticate`` header value for the 401 answer.

        Examples
        --------
        >>> AuthenticationError("token expired").www_authenticate()
        'Bearer error="invalid_token", error_description="token expired"'
        """
        text = str(self).replace('"', "'").replace("\\", "/")
        text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:200]
        return f'Bearer error="{self.error}", error_description="{text}"'


@dataclass(frozen=True)
class VerificationKey:
    """A key that verifies token signatures, pinned to one algorithm.

    Attributes
    ----------
    algorithm : str
        ``RS256``, ``ES256``, ``EdDSA`` or (development only) ``HS256``.
    key : object
        A ``cryptography`` public key, or the shared secret (bytes) for ``HS256``.
    kid : str or None
        The key id a token header names to select this key.
    """

    algorithm: str
    key: Any = field(repr=False)
    kid: str | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in (*ASYMMETRIC_ALGORITHMS, "HS256"):
            raise InvalidParameterError(
                f"key algorithm {self.algorithm!r} is not supported; use one of "
                f"{[*ASYMMETRIC_ALGORITHMS, 'HS256']}"
            )
        if self.algorithm == "HS256" and (not isinstance(self.key, bytes) or len(self.key) < 32):
            raise InvalidParameterError(
                "an HS256 secret must be at least 32 bytes; generate one with "
                "secrets.token_bytes(32)"
            )

    @classmethod
    def hmac(cls, secret: bytes, kid: str | None = None) -> VerificationKey:
        """A shared-secret key (``HS256``), accepted only in development mode.

        Examples
        --------
        >>> VerificationKey.hmac(bytes(32)).algorithm
        'HS256'
        """
        return cls("HS256", secret, kid)


def _algorithm_of(public_key: object) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name != "secp256r1":
            raise InvalidParameterError(
                f"EC key on curve {public_key.curve.name} is not supported; ES256 needs P-256"
            )
        return "ES256"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise InvalidParameterError(
        f"public key of type {type(public_key).__name__} is not supported; give an RSA, "
        "EC P-256 or Ed25519 public key"
    )


def load_pem_key(source: Path | str | bytes, kid: str | None = None) -> VerificationKey:
    """A verification key from a PEM public key (file path or PEM text).

    The algorithm follows the key type: RSA -> ``RS256``, EC P-256 -> ``ES256``,
    Ed25519 -> ``EdDSA``.

    Raises
    ------
    InvalidInputError
        If the file cannot be read or holds no PEM public key.
    InvalidParameterError
        If the key type is not supported.

    Examples
    --------
    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> from cryptography.hazmat.primitives import serialization as s
    >>> pem = Ed25519PrivateKey.generate().public_key().public_bytes(
    ...     s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo)
    >>> load_pem_key(pem, kid="k1").algorithm
    'EdDSA'
    """
    if isinstance(source, Path) or (isinstance(source, str) and "-----BEGIN" not in source):
        try:
            data = Path(source).read_bytes()
        except OSError as err:
            raise InvalidInputError(f"cannot read public key file {str(source)!r}: {err}") from err
    else:
        data = source.encode() if isinstance(source, str) else source
    try:
        public_key = load_pem_public_key(data)
    except ValueError as err:
        raise InvalidInputError(
            f"not a PEM public key ({err}); give a '-----BEGIN PUBLIC KEY-----' block"
        ) from err
    return VerificationKey(_algorithm_of(public_key), public_key, kid)


def load_jwks(source: Path | str | Mapping[str, Any]) -> tuple[VerificationKey, ...]:
    """The verification keys of a JWKS document (file path, JSON text or mapping).

    Keys meant for encryption (``"use": "enc"``) are skipped; symmetric (``oct``) keys
    become ``HS256`` keys, which only development mode accepts.

    Raises
    ------
    InvalidInputError
        If the document cannot be read or holds no usable key.

    Examples
    --------
    >>> from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    >>> from jwt.algorithms import OKPAlgorithm
    >>> jwk = json.loads(OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate().public_key()))
    >>> [k.algorithm for k in load_jwks({"keys": [{**jwk, "kid": "a"}]})]
    ['EdDSA']
    """
    data: Any = source
    if isinstance(source, Path) or (
        isinstance(source, str) and not source.lstrip().startswith("{")
    ):
        try:
            data = Path(source).read_text(encoding="utf-8")
        except OSError as err:
            raise InvalidInputError(f"cannot read JWKS file {str(source)!r}: {err}") from err
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"JWKS is not JSON: {err}") from err
    entries = data.get("keys") if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        raise InvalidInputError("a JWKS document is an object with a 'keys' list")
    keys = []
    for number, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or entry.get("use", "sig") != "sig":
            continue
        try:
            jwk = jwt.PyJWK(dict(entry))
        except jwt.PyJWTError as err:
            raise InvalidInputError(f"JWKS key {number} is not usable: {err}") from err
        algorithm = "HS256" if entry.get("kty") == "oct" else _algorithm_of(jwk.key)
        keys.append(VerificationKey(algorithm, jwk.key, entry.get("kid")))
    if not keys:
        raise InvalidInputError("the JWKS document holds no signing key")
    return tuple(keys)


@dataclass(frozen=True, kw_only=True, eq=False)
class SecurityConfig:
    """How the service authenticates, authorises, audits and hardens its requests.

    Attributes
    ----------
    mode : {"production", "development", "disabled"}
        ``disabled`` serves without tokens (tests and trusted embedding only).
    keys : tuple of VerificationKey
        Keys that verify token signatures; ``HS256`` keys only in development.
    issuer, audience : str or None
        Required ``iss`` and ``aud`` (both mandatory in production).
    leeway_s : float
        Clock skew tolerated on ``exp``/``nbf``/``iat``.
    policy : Policy or None
        The access policy (default deny when ``None``).
    consents : ConsentIndex or None
        Consents on file; ``None`` reads the store's Consent resources (re-read after a
        Consent is written through the API).
    optouts : OptOutRegistry or None
    purpose_header : str
        The request header carrying the purpose of use (a v3 ActReason code).
    default_purpose : str or None
        Purpose assumed when a request names none; ``None`` makes the header required.
    cors_origins : tuple of str
        Origins allowed to call from a browser (none by default).
    rate_per_s, burst : float, int
        Token bucket per client: sustained requests per second and burst size.
    max_count : int
        Cap on a search's ``_count`` (larger values are lowered to it); default the
        search engine's own cap.
    """

    mode: SecurityMode
    keys: tuple[VerificationKey, ...] = ()
    issuer: str | None = None
    audience: str | None = None
    leeway_s: float = DEFAULT_LEEWAY_S
    policy: Policy | None = None
    consents: ConsentIndex | None = None
    optouts: OptOutRegistry | None = None
    purpose_header: str = "X-Purpose-Of-Use"
    default_purpose: str | None = None
    cors_origins: tuple[str, ...] = ()
    rate_per_s: float = 50.0
    burst: int = 100
    max_count: int = MAX_COUNT

    def __post_init__(self) -> None:
        if self.mode not in ("production", "development", "disabled"):
            raise InvalidParameterError(
                f"security mode {self.mode!r} is not one of production, development, disabled"
            )
        if self.mode == "disabled":
            return
        if not self.keys:
            raise InvalidParameterError(
                f"{self.mode} mode needs at least one verification key (--jwks FILE)"
            )
        if self.mode == "production":
            if any(k.algorithm == "HS256" for k in self.keys):
                raise InvalidParameterError(
                    "HS256 (shared secret) keys are refused in production; configure the "
                    "authorisation server's public keys (RS256, ES256 or EdDSA)"
                )
            if not self.issuer or not self.audience:
                raise InvalidParameterError(
                    "production mode needs both the token issuer and audience "
                    f"(got issuer={self.issuer!r}, audience={self.audience!r})"
                )
            if "*" in self.cors_origins:
                raise InvalidParameterError(
                    "CORS origin '*' is refused in production; list the allowed origins"
                )
        if not 0 <= self.leeway_s <= 300:
            raise InvalidParameterError(f"leeway_s must be in [0, 300] s, got {self.leeway_s}")
        if self.rate_per_s <= 0 or self.burst < 1 or self.max_count < 1:
            raise InvalidParameterError(
                f"rate_per_s, burst and max_count must be positive, got {self.rate_per_s}, "
                f"{self.burst}, {self.max_count}"
            )

    @classmethod
    def disabled(cls) -> SecurityConfig:
        """No authentication, authorisation or audit of access (tests only).

        Examples
        --------
        >>> SecurityConfig.disabled().enabled
        False
        """
        return cls(mode="disabled")

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a valid token."""
        return self.mode != "disabled"


@dataclass(frozen=True, kw_only=True)
class Principal:
    """The authenticated caller, from a validated token's claims."""

    actor: str
    subject: str
    client_id: str
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    organization: str | None = None
    patient_id: str | None = None
    purposes: tuple[str, ...] = ()
    project: str | None = None


def _strings(value: object, claim: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise AuthenticationError(f"claim {claim!r} must be a string or a list of strings")


def _text(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise AuthenticationError(f"claim {name!r} must be a non-empty string of <= 255 characters")
    return value


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The caller described by a validated token's claims.

    Raises
    ------
    AuthenticationError
        If ``sub`` is missing or a claim has the wrong type.

    Examples
    --------
    >>> p = principal_from_claims({"sub": "u1", "fhirUser": "Practitioner/7",
    ...     "scope": "openid user/*.rs", "roles": ["clinician"], "azp": "app"})
    >>> p.actor, p.client_id, p.scopes, p.roles
    ('Practitioner/7', 'app', ('openid', 'user/*.rs'), ('clinician',))
    """
    subject = _text(claims, "sub")
    if subject is None:
        raise AuthenticationError("the token has no 'sub' claim; the caller cannot be named")
    scopes = _strings(claims.get("scope", claims.get("scp")), "scope")
    roles = _strings(claims.get("roles", claims.get("role")), "roles")
    return Principal(
        actor=_text(claims, "fhirUser") or subject,
        subject=subject,
        client_id=_text(claims, "client_id") or _text(claims, "azp") or subject,
        roles=roles,
        scopes=scopes,
        organization=_text(claims, "organization"),
        patient_id=_text(claims, "patient"),
        purposes=_strings(claims.get("purpose_of_use"), "purpose_of_use"),
        project=_text(claims, "project"),
    )


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header.

    Raises
    ------
    AuthenticationError
        With error ``invalid_request`` if the header is missing or not a bearer token.

    Examples
    --------
    >>> bearer_token("Bearer abc.def.ghi")
    'abc.def.ghi'
    """
    if not authorization:
        raise AuthenticationError(
            "no bearer token; send 'Authorization: Bearer <access token>'", "invalid_request"
        )
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token or len(token) > 16_384:
        raise AuthenticationError(
            "the Authorization header is not 'Bearer <access token>'", "invalid_request"
        )
    return token


def _candidate_keys(header: Mapping[str, Any], config: SecurityConfig) -> list[VerificationKey]:
    algorithm = header.get("alg")
    allowed = {k.algorithm for k in config.keys}
    if config.mode != "development":
        allowed.discard("HS256")
    if not isinstance(algorithm, str) or algorithm not in allowed:
        raise AuthenticationError(
            f"token algorithm {algorithm!r} is not accepted (accepted: {sorted(allowed)})"
        )
    kid = header.get("kid")
    keys = [k for k in config.keys if k.algorithm == algorithm]
    if kid is not None:
        keys = [k for k in keys if k.kid == kid]
        if not keys:
            raise AuthenticationError(f"no configured key has kid {str(kid)[:64]!r}")
    return keys


def validate_token(token: str, config: SecurityConfig) -> dict[str, Any]:
    """The claims of a token whose signature, times, issuer and audience all check out.

    Raises
    ------
    AuthenticationError
        Saying which check failed (malformed, algorithm, key, signature, expired, not yet
        valid, issuer, audience, missing claim).

    Examples
    --------
    >>> secret = b"s" * 32
    >>> config = SecurityConfig(mode="development", keys=(VerificationKey.hmac(secret),),
    ...                         issuer="https://idp", audience="healthtwin")
    >>> token = jwt.encode({"sub": "u", "iss": "https://idp", "aud": "healthtwin",
    ...                     "exp": 4102444800}, secret, algorithm="HS256")
    >>> validate_token(token, config)["sub"]
    'u'
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as err:
        raise AuthenticationError(f"malformed token: {err}") from err
    keys = _candidate_keys(header, config)
    required = ["exp", "sub"] + [
        n for n, v in (("iss", config.issuer), ("aud", config.audience)) if v
    ]
    last: jwt.PyJWTError | None = None
    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway_s,
                options={"require": required, "verify_aud": config.audience is not None},
            )
        except jwt.InvalidSignatureError as err:
            last = err
            continue
        except jwt.ExpiredSignatureError as err:
            raise AuthenticationError("the token has expired; get a new one") from err
        except jwt.ImmatureSignatureError as err:
            raise AuthenticationError(f"the token is not valid yet: {err}") from err
        except jwt.PyJWTError as err:
            raise AuthenticationError(f"token refused: {err}") from err
        return claims
    raise AuthenticationError(f"token signature does not verify: {last}") from last


class VerifiedTokens:
    """The callers of tokens that validated, remembered while the tokens are valid.

    A bounded cache in front of :func:`validate_token` and :func:`principal_from_claims`
    for one (immutable) configuration. A token is answered from memory only while it is
    certainly valid: not before its ``nbf`` and ``iat`` and before its ``exp``, without the
    leeway (which only ever widens the window). Anything else (a new token, one near its
    edges, a refused one) goes through full validation, with its errors: refusals are never
    remembered.

    Parameters
    ----------
    config : SecurityConfig
        The configuration tokens are validated against.
    max_tokens : int
        Most tokens remembered (the oldest is forgotten first).
    clock : callable
        Seconds since the epoch (default :func:`time.time`).

    Examples
    --------
    >>> secret = b"s" * 32
    >>> config = SecurityConfig(mode="development", keys=(VerificationKey.hmac(secret),),
    ...                         issuer="https://idp", audience="healthtwin")
    >>> token = jwt.encode({"sub": "u", "iss": "https://idp", "aud": "healthtwin",
    ...                     "exp": 4102444800}, secret, algorithm="HS256")
    >>> tokens = VerifiedTokens(config)
    >>> tokens.principal(token) is tokens.principal(token), len(tokens)
    (True, 1)
    >>> late = VerifiedTokens(config, clock=lambda: 4102444800.0)  # at exp: validated anew
    >>> late.principal(token).subject, len(late)
    ('u', 0)
    """

    def __init__(
        self,
        config: SecurityConfig,
        *,
        max_tokens: int = 256,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_tokens < 1:
            raise InvalidParameterError(f"max_tokens must be >= 1, got {max_tokens}")
        self.config = config
        self._max = max_tokens
        self._clock = clock
        self._entries: dict[str, tuple[float, float, Principal]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def principal(self, token: str) -> Principal:
        """The caller of ``token``; :class:`AuthenticationError` if it does not validate."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(token)
        if entry is not None and entry[0] <= now < entry[1]:
            return entry[2]
        claims = validate_token(token, self.config)
        principal = principal_from_claims(claims)
        window = _validity(claims)
        if window is not None and window[0] <= now < window[1]:
            with self._lock:
                self._entries.pop(token, None)
                while len(self._entries) >= self._max:
                    del self._entries[next(iter(self._entries))]
                self._entries[token] = (*window, principal)
        return principal


def _validity(claims: Mapping[str, Any]) -> tuple[float, float] | None:
    """When a validated token is certainly valid: ``[max(nbf, iat), exp)``, no leeway."""
    times = {name: claims.get(name) for name in ("exp", "nbf", "iat")}
    if not all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool))
        for v in times.values()
    ):
        return None
    if times["exp"] is None:
        return None
    start = max(
        (float(v) for k, v in times.items() if k != "exp" and v is not None), default=float("-inf")
    )
    return start, float(times["exp"])
