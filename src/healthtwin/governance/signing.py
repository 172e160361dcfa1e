"""Ed25519 signing keys: generate, save and load (PEM), sign and verify bytes.

Ed25519 (Bernstein, Duif, Lange, Schwabe & Yang, "High-speed high-security signatures",
J. Cryptogr. Eng. 2, 2012; RFC 8032) signs audit checkpoints and provenance records: 64-byte
deterministic signatures, 32-byte public keys. A key is named by its *key id*, the SHA-256
of the raw public key in hex, so that a signature can say which key made it and a verifier
can hold several trusted keys (key rotation).

Private keys are written as PKCS#8 PEM with permissions 0600 (optionally encrypted with a
password) and refused on loading when the group or others may read them, as OpenSSH does.
The ``cryptography`` package is imported only when a key is used (extra
``healthtwin[security]``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthtwin.errors import InvalidInputError, MissingDependencyError, NotFoundError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ed25519

__all__ = [
    "SIGNATURE_BYTES",
    "PublicKey",
    "SigningKey",
    "generate_signing_key",
    "key_id_of",
    "load_public_key",
    "load_signing_key",
    "save_public_key",
    "save_signing_key",
    "signing_key_from_seed",
    "verify_signature",
]

#: Length of an Ed25519 signature.
SIGNATURE_BYTES = 64
_KEY_BYTES = 32


def _ed25519() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as err:  # pragma: no cover - the extra is installed in CI
        raise MissingDependencyError(
            "signing needs the cryptography package: pip install 'healthtwin[security]'"
        ) from err
    return ed25519


def _serialization() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError as err:  # pragma: no cover - the extra is installed in CI
        raise MissingDependencyError(
            "signing needs the cryptography package: pip install 'healthtwin[security]'"
        ) from err
    return serialization


def key_id_of(public_bytes: bytes) -> str:
    """The key id of a raw 32-byte Ed25519 public key: its SHA-256 in hex.

    Examples
    --------
    >>> key_id_of(bytes(32))[:16]
    '66687aadf862bd77'
    """
    return hashlib.sha256(public_bytes).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key (``raw``: 32 bytes) that verifies signatures.

    Examples
    --------
    >>> key = signing_key_from_seed(bytes(range(32)))
    >>> signature = key.sign(b"checkpoint 100")
    >>> key.public_key.verify(b"checkpoint 100", signature)
    >>> key.public_key.verify(b"checkpoint 101", signature)
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: the signature does not verify with key ...
    """

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != _KEY_BYTES:
            raise InvalidInputError(
                f"an Ed25519 public key is {_KEY_BYTES} raw bytes, got {self.raw!r:.80}"
            )

    @property
    def key_id(self) -> str:
        """SHA-256 of the raw key, hex (64 characters)."""
        return key_id_of(self.raw)

    def verify(self, data: bytes, signature: bytes, *, key_id: str | None = None) -> None:
        """Check ``signature`` over ``data``; raise if it does not hold.

        Parameters
        ----------
        data : bytes
            The signed message.
        signature : bytes
            The 64-byte Ed25519 signature.
        key_id : str, optional
            The key id the signature claims; checked against this key first, so that a
            wrong key is reported as such rather than as a bad signature.

        Raises
        ------
        InvalidInputError
            If the signature has the wrong length, names another key, or does not verify
            (the data were changed, the signature is corrupted, or another key made it).
        """
        if key_id is not None and key_id != self.key_id:
            raise InvalidInputError(
                f"the signature was made by key {key_id[:16]}..., not by this key "
                f"{self.key_id[:16]}...: verify with the public key whose id is {key_id}"
            )
        if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
            raise InvalidInputError(
                f"an Ed25519 signature is {SIGNATURE_BYTES} bytes, got "
                f"{len(signature) if isinstance(signature, bytes) else type(signature).__name__}"
                ": the signature is corrupted or truncated"
            )
        from cryptography.exceptions import InvalidSignature

        try:
            self._key().verify(signature, data)
        except InvalidSignature as err:
            raise InvalidInputError(
                f"the signature does not verify with key {self.key_id[:16]}...: the signed "
                "data were changed, the signature is corrupted, or another key made it"
            ) from err

    def to_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM."""
        serialization = _serialization()
        pem: bytes = self._key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem

    def _key(self) -> ed25519.Ed25519PublicKey:
        key: ed25519.Ed25519PublicKey = _ed25519().Ed25519PublicKey.from_public_bytes(self.raw)
        return key


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key (``seed``: 32 bytes, never shown in ``repr``).

    Examples
    --------
    >>> key = signing_key_from_seed(bytes(32))
    >>> len(key.sign(b"hello")), key.key_id == key.public_key.key_id
    (64, True)
    >>> "seed" in repr(key)
    False
    """

    seed: bytes = field(repr=False)
    public_key: PublicKey = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes) or len(self.seed) != _KEY_BYTES:
            raise InvalidInputError(
                f"an Ed25519 private key is a {_KEY_BYTES}-byte seed, got "
                f"{len(self.seed) if isinstance(self.seed, bytes) else type(self.seed).__name__}"
            )
        serialization = _serialization()
        raw = (
            self._key()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        object.__setattr__(self, "public_key", PublicKey(raw))

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"

    @property
    def key_id(self) -> str:
        """The key id of the public half."""
        return self.public_key.key_id

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        if not isinstance(data, bytes):
            raise InvalidInputError(f"only bytes can be signed, got {type(data).__name__}")
        signature: bytes = self._key().sign(data)
        return signature

    def to_pem(self, password: bytes | None = None) -> bytes:
        """PKCS#8 PEM, encrypted with ``password`` if given."""
        serialization = _serialization()
        encryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        pem: bytes = self._key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        return pem

    def _key(self) -> ed25519.Ed25519PrivateKey:
        key: ed25519.Ed25519PrivateKey = _ed25519().Ed25519PrivateKey.from_private_bytes(self.seed)
        return key


def generate_signing_key() -> SigningKey:
    """A new random key (from the operating system's secure random source).

    Examples
    --------
    >>> generate_signing_key().key_id != generate_signing_key().key_id
    True
    """
    return SigningKey(os.urandom(_KEY_BYTES))


def signing_key_from_seed(seed: bytes) -> SigningKey:
    """The key of a given 32-byte seed (deterministic: for tests and key escrow)."""
    return SigningKey(seed)


def verify_signature(
    data: bytes, signature: bytes, key_id: str, trusted: Mapping[str, PublicKey]
) -> None:
    """Verify a signature made by the key ``key_id``, which must be among ``trusted``.

    Raises
    ------
    InvalidInputError
        If ``key_id`` is not trusted or the signature does not verify.

    Examples
    --------
    >>> key = signing_key_from_seed(bytes(32))
    >>> verify_signature(b"x", key.sign(b"x"), key.key_id, {key.key_id: key.public_key})
    >>> verify_signature(b"x", key.sign(b"x"), key.key_id, {})
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: signed by key 139e3940e64b5491..., which is not ...
    """
    public = trusted.get(key_id)
    if public is None:
        raise InvalidInputError(
            f"signed by key {key_id[:16]}..., which is not among the {len(trusted)} trusted "
            "keys: add its public key to the trusted keys, or the record was signed by an "
            "unknown party"
        )
    public.verify(data, signature, key_id=key_id)


def save_signing_key(
    key: SigningKey, path: str | Path, *, password: bytes | None = None, overwrite: bool = False
) -> Path:
    """Write ``key`` as PEM readable by its owner only (mode 0600); return the path.

    Raises
    ------
    InvalidInputError
        If the file exists and ``overwrite`` is false.
    """
    target = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        descriptor = os.open(target, flags, 0o600)
    except FileExistsError as err:
        raise InvalidInputError(
            f"key file {target} already exists; pass overwrite=True to replace it, or choose "
            "another path"
        ) from err
    with os.fdopen(descriptor, "wb") as handle:
        # An existing file keeps its old mode under O_TRUNC: narrow it before writing.
        os.fchmod(handle.fileno(), 0o600)
        handle.write(key.to_pem(password))
    return target


def load_signing_key(path: str | Path, *, password: bytes | None = None) -> SigningKey:
    """Read a private key written by :func:`save_signing_key`.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    InvalidInputError
        If the group or others may read it, it is not an Ed25519 private key in PEM, or
        the password is wrong or missing.
    """
    source = Path(path)
    data = _read(source, "private key")
    mode = stat.S_IMODE(source.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        raise InvalidInputError(
            f"private key file {source} has permissions {mode:04o}; it must be readable by "
            f"its owner only: chmod 600 {source}"
        )
    serialization = _serialization()
    try:
        loaded = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as err:
        raise InvalidInputError(
            f"cannot read a private key from {source}: {err} (check the file and the password)"
        ) from err
    if not isinstance(loaded, _ed25519().Ed25519PrivateKey):
        raise InvalidInputError(
            f"{source} holds a {type(loaded).__name__}, not an Ed25519 private key; generate "
            "one with generate_signing_key()"
        )
    seed: bytes = loaded.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return SigningKey(seed)


def save_public_key(key: PublicKey | SigningKey, path: str | Path) -> Path:
    """Write the public key (of a signing key, or itself) as PEM; return the path."""
    public = key.public_key if isinstance(key, SigningKey) else key
    target = Path(path)
    target.write_bytes(public.to_pem())
    return target


def load_public_key(path: str | Path) -> PublicKey:
    """Read a public key written by :func:`save_public_key`.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    InvalidInputError
        If it is not an Ed25519 public key in PEM.
    """
    source = Path(path)
    data = _read(source, "public key")
    serialization = _serialization()
    try:
        loaded = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as err:
        raise InvalidInputError(f"cannot read a public key from {source}: {err}") from err
    if not isinstance(loaded, _ed25519().Ed25519PublicKey):
        raise InvalidInputError(
            f"{source} holds a {type(loaded).__name__}, not an Ed25519 public key"
        )
    raw: bytes = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PublicKey(raw)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as err:
        raise NotFoundError(f"{what} file {path} does not exist") from err
