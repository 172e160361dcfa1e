"""Keyed pseudonyms and per-patient date shifts, both derived by HMAC-SHA256 from one secret.

A pseudonym is ``HMAC-SHA256(key, namespace || 0x00 || value)`` (RFC 2104, FIPS 198-1),
truncated to 128 bits and written in hex: the same value under the same key always maps
to the same pseudonym (so references between resources still resolve), and without the
key the mapping can be neither inverted nor recomputed by dictionary attack on the small
space of MRNs. The date shift of a patient is drawn the same way from the patient's id, so
it is reproducible by whoever holds the key and nobody else. The key is never written into
any output; its ``repr`` hides it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

from healthtwin.errors import InvalidParameterError

__all__ = ["MIN_KEY_BYTES", "PseudonymKey", "format_urn_uuid"]

#: A key shorter than the HMAC-SHA256 output would weaken it (RFC 2104, section 3).
MIN_KEY_BYTES = 32
_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class PseudonymKey:
    """The secret behind pseudonyms and date shifts.

    Parameters
    ----------
    secret : bytes
        At least :data:`MIN_KEY_BYTES` random bytes (``secrets.token_bytes(32)``), kept by
        the data custodian; :meth:`from_text` derives one from a passphrase.

    Examples
    --------
    >>> key = PseudonymKey(b"k" * 32)
    >>> key.pseudonym("Patient", "123") == key.pseudonym("Patient", "123")
    True
    >>> key.pseudonym("Patient", "123") != key.pseudonym("Patient", "124")
    True
    >>> "kkkk" in repr(key)
    False
    """

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) < MIN_KEY_BYTES:
            size = len(self.secret) if isinstance(self.secret, bytes) else type(self.secret)
            raise InvalidParameterError(
                f"a pseudonym key needs at least {MIN_KEY_BYTES} bytes, got {size}; use "
                "secrets.token_bytes(32) or PseudonymKey.from_text(passphrase)"
            )

    @classmethod
    def from_text(cls, passphrase: str) -> PseudonymKey:
        """Derive a key from a passphrase (PBKDF2-HMAC-SHA256, 200,000 iterations).

        Examples
        --------
        >>> PseudonymKey.from_text("correct horse battery staple") == PseudonymKey.from_text(
        ...     "correct horse battery staple")
        True
        """
        if not passphrase or len(passphrase) < 12:
            raise InvalidParameterError(
                f"passphrase of {len(passphrase or '')} characters is too short; give at "
                "least 12 characters, or random bytes to PseudonymKey(...)"
            )
        secret = hashlib.pbkdf2_hmac(
            "sha256", passphrase.encode(), b"healthtwin-pseudonym-key", 200_000
        )
        return cls(secret)

    def digest(self, namespace: str, value: str) -> bytes:
        """The full 32-byte HMAC of ``value`` in ``namespace``."""
        message = namespace.encode() + b"\x00" + value.encode()
        return hmac.new(self.secret, message, hashlib.sha256).digest()

    def pseudonym(self, namespace: str, value: str) -> str:
        """A 32-hex-character pseudonym, a valid FHIR id (``[A-Za-z0-9.-]{1,64}``)."""
        return self.digest(namespace, value)[:16].hex()

    def shift_days(self, patient: str, min_days: int, max_days: int) -> int:
        """The date shift of one patient, uniform on ``[min_days, max_days]`` without 0.

        Zero is left out so that no patient keeps true dates. The draw uses 64 bits of
        the HMAC modulo the range size (bias below 2**-40 for ranges under 10**7 days).

        Examples
        --------
        >>> key = PseudonymKey(b"k" * 32)
        >>> days = key.shift_days("Patient/1", -30, 30)
        >>> -30 <= days <= 30 and days != 0 and days == key.shift_days("Patient/1", -30, 30)
        True
        """
        if min_days > max_days or (min_days == 0 == max_days):
            raise InvalidParameterError(
                f"date shift range [{min_days}, {max_days}] is empty or only 0; give "
                "min_days <= max_days with a non-zero value, e.g. (-182, 182)"
            )
        values = max_days - min_days + 1 - (1 if min_days <= 0 <= max_days else 0)
        draw = int.from_bytes(self.digest("date-shift", patient)[:8], "big") % values
        days = min_days + draw
        return days + 1 if min_days <= 0 <= days else days


def format_urn_uuid(pseudonym: str) -> str:
    """Write a 32-hex pseudonym as ``urn:uuid:8-4-4-4-12``.

    Examples
    --------
    >>> format_urn_uuid("0123456789abcdef0123456789abcdef")
    'urn:uuid:01234567-89ab-cdef-0123-456789abcdef'
    """
    if not _HEX_ID.match(pseudonym):
        raise InvalidParameterError(
            f"expected 32 lowercase hex characters, got {pseudonym!r}; pass a pseudonym "
            "from PseudonymKey.pseudonym"
        )
    p = pseudonym
    return f"urn:uuid:{p[:8]}-{p[8:12]}-{p[12:16]}-{p[16:20]}-{p[20:]}"
