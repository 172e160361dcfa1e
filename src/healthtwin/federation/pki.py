"""A private test certificate authority and SuperNode keys for a loopback federation.

For a deployment on one machine (tests, demonstrations) this writes, with ``cryptography``:

- ``ca.crt``: a self-signed CA (ECDSA P-384), valid for one day;
- ``server.pem`` / ``server.key``: the SuperLink's TLS certificate for ``localhost`` and
  ``127.0.0.1``, signed by the CA (the SuperNodes and the ``flwr`` CLI verify it with
  ``ca.crt``);
- ``node-<k>.key`` / ``node-<k>.pub``: each SuperNode's authentication key pair (P-384,
  OpenSSH format). Flower 1.42 authenticates SuperNodes by these keys, not by client
  certificates: the SuperLink started with ``--enable-supernode-auth`` accepts a node only
  after its public key is registered (``flwr supernode register``); a node whose key was
  never registered is refused.

Real deployments get their certificates from the institution's PKI; never reuse these.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from healthtwin.errors import InvalidParameterError

__all__ = ["TestPki", "make_test_pki"]


@dataclass(frozen=True)
class TestPki:
    """Paths of the files :func:`make_test_pki` wrote."""

    __test__ = False  # not a pytest test class despite the name

    ca_cert: Path
    server_cert: Path
    server_key: Path
    node_keys: tuple[Path, ...]
    node_public_keys: tuple[Path, ...]


def make_test_pki(directory: Path, n_nodes: int) -> TestPki:
    """Write a test CA, a loopback server certificate and ``n_nodes`` node key pairs.

    Examples
    --------
    >>> import tempfile
    >>> pki = make_test_pki(Path(tempfile.mkdtemp()), 2)
    >>> pki.node_public_keys[0].read_text().startswith("ecdsa-sha2-nistp384")
    True
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    if n_nodes < 0:
        raise InvalidParameterError(f"n_nodes = {n_nodes}; give a non-negative count")
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    pem = serialization.Encoding.PEM

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def builder(subject: str, public: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name("healthtwin test CA"))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
        )

    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = (
        builder("healthtwin test CA", ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA384())
    )
    server_key = ec.generate_private_key(ec.SECP384R1())
    loopback = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = (
        builder("localhost", server_key.public_key())
        .add_extension(x509.SubjectAlternativeName(loopback), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA384())
    )
    paths = TestPki(
        directory / "ca.crt",
        directory / "server.pem",
        directory / "server.key",
        tuple(directory / f"node-{k}.key" for k in range(n_nodes)),
        tuple(directory / f"node-{k}.pub" for k in range(n_nodes)),
    )
    paths.ca_cert.write_bytes(ca.public_bytes(pem))
    paths.server_cert.write_bytes(server.public_bytes(pem))
    _write_private(
        paths.server_key,
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    for private_path, public_path in zip(paths.node_keys, paths.node_public_keys, strict=True):
        key = ec.generate_private_key(ec.SECP384R1())
        _write_private(
            private_path,
            key.private_bytes(
                pem, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
            ),
        )
        public_path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
        )
    return paths


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600)
    path.write_bytes(data)
