"""Ed25519 keys: sign/verify, key ids, PEM files with owner-only permissions, clear errors."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from healthtwin.errors import InvalidInputError, NotFoundError
from healthtwin.governance.signing import (
    PublicKey,
    SigningKey,
    generate_signing_key,
    load_public_key,
    load_signing_key,
    save_public_key,
    save_signing_key,
    signing_key_from_seed,
    verify_signature,
)

# RFC 8032 section 7.1, TEST 1 (empty message).
RFC_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
    "d25bf5f0595bbe24655141438e7a100b"
)


def test_rfc_8032_test_vector() -> None:
    key = signing_key_from_seed(RFC_SEED)
    assert key.public_key.raw == RFC_PUBLIC
    assert key.sign(b"") == RFC_SIGNATURE
    key.public_key.verify(b"", RFC_SIGNATURE)


def test_key_id_is_the_sha256_of_the_raw_public_key() -> None:
    key = signing_key_from_seed(RFC_SEED)
    assert key.key_id == hashlib.sha256(RFC_PUBLIC).hexdigest()
    assert PublicKey(RFC_PUBLIC).key_id == key.key_id


def test_generated_keys_differ_and_verify_their_own_signatures() -> None:
    a, b = generate_signing_key(), generate_signing_key()
    assert a.key_id != b.key_id
    a.public_key.verify(b"data", a.sign(b"data"))
    with pytest.raises(InvalidInputError, match="does not verify with key"):
        b.public_key.verify(b"data", a.sign(b"data"))


def test_a_wrong_key_is_named_as_such() -> None:
    a, b = generate_signing_key(), generate_signing_key()
    with pytest.raises(InvalidInputError, match=r"made by key .*, not by this key"):
        b.public_key.verify(b"data", a.sign(b"data"), key_id=a.key_id)
    with pytest.raises(InvalidInputError, match="not among the 1 trusted keys"):
        verify_signature(b"data", a.sign(b"data"), a.key_id, {b.key_id: b.public_key})


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda s: s[:-1], "64 bytes, got 63"),
        (lambda s: s + b"\0", "64 bytes, got 65"),
        (lambda s: bytes([s[0] ^ 1]) + s[1:], "does not verify"),
        (lambda s: s[:40] + bytes([s[40] ^ 0x80]) + s[41:], "does not verify"),
    ],
)
def test_corrupted_signatures_are_refused(corrupt: object, message: str) -> None:
    key = signing_key_from_seed(RFC_SEED)
    signature = corrupt(key.sign(b"checkpoint"))  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match=message):
        key.public_key.verify(b"checkpoint", signature)


def test_changed_data_is_refused() -> None:
    key = signing_key_from_seed(RFC_SEED)
    with pytest.raises(InvalidInputError, match="signed data were changed"):
        key.public_key.verify(b"checkpoinT", key.sign(b"checkpoint"))


def test_bad_key_material_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="32-byte seed"):
        SigningKey(b"short")
    with pytest.raises(InvalidInputError, match="32 raw bytes"):
        PublicKey(b"x" * 31)
    with pytest.raises(InvalidInputError, match="only bytes can be signed"):
        signing_key_from_seed(RFC_SEED).sign("text")  # type: ignore[arg-type]


def test_the_seed_never_shows_in_repr() -> None:
    key = signing_key_from_seed(RFC_SEED)
    assert RFC_SEED.hex() not in repr(key)
    assert repr(key) == f"SigningKey(key_id={key.key_id!r})"


def test_private_key_files_are_owner_only_and_round_trip(tmp_path: Path) -> None:
    key = generate_signing_key()
    path = save_signing_key(key, tmp_path / "audit.pem")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_signing_key(path).key_id == key.key_id


def test_encrypted_private_keys_need_their_password(tmp_path: Path) -> None:
    key = generate_signing_key()
    path = save_signing_key(key, tmp_path / "audit.pem", password=b"s3cret")
    assert b"ENCRYPTED" in path.read_bytes()
    assert load_signing_key(path, password=b"s3cret").key_id == key.key_id
    with pytest.raises(InvalidInputError, match="cannot read a private key"):
        load_signing_key(path, password=b"wrong")
    with pytest.raises(InvalidInputError, match="cannot read a private key"):
        load_signing_key(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_readable_private_keys_are_refused(tmp_path: Path) -> None:
    path = save_signing_key(generate_signing_key(), tmp_path / "audit.pem")
    path.chmod(0o644)
    with pytest.raises(InvalidInputError, match=r"permissions 0644.*chmod 600"):
        load_signing_key(path)


def test_existing_files_are_not_overwritten_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "audit.pem"
    first, second = generate_signing_key(), generate_signing_key()
    save_signing_key(first, path)
    with pytest.raises(InvalidInputError, match="already exists"):
        save_signing_key(second, path)
    path.chmod(0o644)
    save_signing_key(second, path, overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_signing_key(path).key_id == second.key_id


def test_public_key_files_round_trip_and_bad_files_are_explained(tmp_path: Path) -> None:
    key = generate_signing_key()
    path = save_public_key(key, tmp_path / "audit.pub")
    assert load_public_key(path) == key.public_key
    with pytest.raises(NotFoundError, match="does not exist"):
        load_public_key(tmp_path / "missing.pub")
    with pytest.raises(NotFoundError, match="does not exist"):
        load_signing_key(tmp_path / "missing.pem")
    (tmp_path / "junk.pub").write_bytes(b"not a key")
    with pytest.raises(InvalidInputError, match="cannot read a public key"):
        load_public_key(tmp_path / "junk.pub")
    private = save_signing_key(key, tmp_path / "k.pem")
    with pytest.raises(InvalidInputError, match="cannot read a public key"):
        load_public_key(private)


def test_keys_of_another_algorithm_are_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1())
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp_path / "ec.pem"
    path.write_bytes(pem)
    path.chmod(0o600)
    with pytest.raises(InvalidInputError, match="not an Ed25519 private key"):
        load_signing_key(path)
    public = tmp_path / "ec.pub"
    public.write_bytes(
        other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(InvalidInputError, match="not an Ed25519 public key"):
        load_public_key(public)
