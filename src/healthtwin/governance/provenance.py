"""Provenance of derived data: inputs and model by content hash, agent, activity, signature.

Every derived datum (a forecast, a recommendation, a federated model version) gets a
:class:`ProvenanceRecord`: what it is (``target`` and optionally its content hash), what it
was made from (``inputs``: references with content hashes), by which model (name, version
and the SHA-256 of its parameters or artifact), by whom (``agent``), doing what
(``activity``), when; :func:`sign_provenance` adds an Ed25519 signature over the canonical
JSON of all of it, so that a changed input hash, model version or time is detected by
:func:`verify_provenance`. The record exports as a FHIR R4 Provenance (W3C PROV's
entity-activity-agent model as FHIR carries it).

:func:`content_hash` is the stable hash used for contents: the plain SHA-256 of bytes (so a
model file's hash equals ``sha256sum``), of canonical JSON for JSON values, and for numpy
arrays of a header (dtype in little-endian form, shape) followed by the C-order
little-endian bytes, so that equal arrays hash equally whatever their memory layout.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np

from healthtwin.errors import InvalidInputError
from healthtwin.governance.audit_chain import canonical_json, utc_iso
from healthtwin.governance.signing import PublicKey, SigningKey, verify_signature

__all__ = [
    "InputRef",
    "ModelRef",
    "ProvenanceRecord",
    "content_hash",
    "make_provenance",
    "provenance_payload",
    "sign_provenance",
    "to_fhir_provenance",
    "verify_provenance",
]

_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
_OWN = "https://healthtwin.example/fhir"
_HASH_EXTENSION = f"{_OWN}/StructureDefinition/content-sha256"
_KEY_EXTENSION = f"{_OWN}/StructureDefinition/signing-key-id"


def _array_bytes(array: np.ndarray[Any, Any]) -> bytes:
    if array.dtype.hasobject:
        raise InvalidInputError(
            f"cannot hash an object array (dtype {array.dtype}); convert it to a numeric, "
            "boolean or fixed-width string dtype"
        )
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    header = canonical_json({"dtype": little.dtype.str, "shape": list(array.shape)})
    return b"ndarray\0" + header + b"\0" + np.ascontiguousarray(little).tobytes()


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__ndarray_sha256__": hashlib.sha256(_array_bytes(value)).hexdigest()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return {"__bytes_sha256__": hashlib.sha256(value).hexdigest()}
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def content_hash(value: Any) -> str:
    """Stable SHA-256 (hex) of bytes, a numpy array, or a JSON value holding arrays.

    Parameters
    ----------
    value : bytes, numpy.ndarray or JSON value
        Bytes hash as themselves; an array by dtype, shape and C-order little-endian
        bytes; JSON values (dicts, lists, str, numbers, bool, None, aware datetimes, numpy
        scalars and arrays nested inside) by their canonical JSON.

    Raises
    ------
    InvalidInputError
        For values that have no canonical form (object arrays, sets, naive datetimes).

    Examples
    --------
    >>> a = np.arange(6.0).reshape(2, 3)
    >>> content_hash(a) == content_hash(np.asfortranarray(a)) == content_hash(a.astype(">f8"))
    True
    >>> content_hash(a) == content_hash(a.astype(np.float32))
    False
    >>> content_hash({"b": 1, "a": [1.0, 2]}) == content_hash({"a": [1, 2], "b": 1.0})
    True
    >>> content_hash(b"abc")[:16]
    'ba7816bf8f01cfea'
    """
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    if isinstance(value, np.ndarray):
        return hashlib.sha256(_array_bytes(value)).hexdigest()
    return hashlib.sha256(canonical_json(_jsonable(value))).hexdigest()


def _check_text(value: object, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"provenance {what} must be a non-empty string, got {value!r}")


def _check_hash(value: object, what: str) -> None:
    if not (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    ):
        raise InvalidInputError(
            f"provenance {what} must be a SHA-256 in lowercase hex (64 characters), got "
            f"{value!r}; compute it with content_hash()"
        )


@dataclass(frozen=True)
class InputRef:
    """An input by reference (``"Observation/o1"``) and the SHA-256 of its content."""

    reference: str
    sha256: str

    def __post_init__(self) -> None:
        _check_text(self.reference, "input reference")
        _check_hash(self.sha256, f"hash of input {self.reference}")


@dataclass(frozen=True)
class ModelRef:
    """A model by name and version, and the SHA-256 of its parameters or artifact."""

    name: str
    version: str
    sha256: str

    def __post_init__(self) -> None:
        _check_text(self.name, "model name")
        _check_text(self.version, "model version")
        _check_hash(self.sha256, f"hash of model {self.name} {self.version}")


@dataclass(frozen=True, kw_only=True)
class ProvenanceRecord:
    """Where a derived datum came from; ``key_id``/``signature`` are set by signing.

    Attributes
    ----------
    target : str
        Reference of the derived datum (``"RiskAssessment/r1"``).
    inputs : tuple of InputRef
        What it was derived from.
    model : ModelRef
        The model (version and parameter hash) that derived it.
    agent : str
        Who ran it (``"Practitioner/dr1"``, ``"Device/forecaster"``).
    activity : str
        What was done (``"forecast"``, ``"recommend"``, ``"federated-aggregate"``).
    time : datetime
        When (aware).
    target_sha256 : str, optional
        SHA-256 of the derived datum itself.
    """

    target: str
    inputs: tuple[InputRef, ...]
    model: ModelRef
    agent: str
    activity: str
    time: datetime
    target_sha256: str | None = None
    key_id: str | None = None
    signature: bytes | None = None

    def __post_init__(self) -> None:
        _check_text(self.target, "target")
        _check_text(self.agent, "agent")
        _check_text(self.activity, "activity")
        utc_iso(self.time)
        if self.target_sha256 is not None:
            _check_hash(self.target_sha256, f"hash of target {self.target}")
        object.__setattr__(self, "inputs", tuple(self.inputs))


def make_provenance(
    target: str,
    *,
    inputs: Mapping[str, Any],
    model_name: str,
    model_version: str,
    model_parameters: Any,
    agent: str,
    activity: str,
    time: datetime,
    target_content: Any = None,
) -> ProvenanceRecord:
    """A record with every content hashed by :func:`content_hash` (unsigned).

    Parameters
    ----------
    target : str
        Reference of the derived datum.
    inputs : mapping of reference to content
        Each input's content (arrays, JSON, bytes), hashed here.
    model_name, model_version : str
        The model.
    model_parameters : Any
        Its parameters or artifact bytes, hashed here.
    agent, activity : str
        Who did what.
    time : datetime
        When (aware).
    target_content : Any, optional
        The derived datum, hashed into ``target_sha256`` when given.

    Examples
    --------
    >>> from datetime import UTC
    >>> record = make_provenance(
    ...     "RiskAssessment/r1", inputs={"Observation/o1": {"value": 7.2}},
    ...     model_name="hovorka", model_version="1.0", model_parameters=np.ones(3),
    ...     agent="Device/forecaster", activity="forecast",
    ...     time=datetime(2024, 1, 1, tzinfo=UTC), target_content=np.zeros((2, 2)))
    >>> record.inputs[0].reference, record.model.version, record.signature is None
    ('Observation/o1', '1.0', True)
    """
    return ProvenanceRecord(
        target=target,
        inputs=tuple(InputRef(ref, content_hash(content)) for ref, content in inputs.items()),
        model=ModelRef(model_name, model_version, content_hash(model_parameters)),
        agent=agent,
        activity=activity,
        time=time,
        target_sha256=None if target_content is None else content_hash(target_content),
    )


def provenance_payload(record: ProvenanceRecord) -> bytes:
    """The bytes a signature covers: canonical JSON of every field but the signature."""
    return canonical_json(
        {
            "target": record.target,
            "target_sha256": record.target_sha256,
            "inputs": [{"reference": i.reference, "sha256": i.sha256} for i in record.inputs],
            "model": {
                "name": record.model.name,
                "version": record.model.version,
                "sha256": record.model.sha256,
            },
            "agent": record.agent,
            "activity": record.activity,
            "time": utc_iso(record.time),
            "key_id": record.key_id,
        }
    )


def sign_provenance(record: ProvenanceRecord, key: SigningKey) -> ProvenanceRecord:
    """The record signed with ``key`` (its key id is part of what is signed).

    Examples
    --------
    >>> from datetime import UTC
    >>> from healthtwin.governance.signing import signing_key_from_seed
    >>> key = signing_key_from_seed(bytes(32))
    >>> record = make_provenance(
    ...     "Forecast/f1", inputs={}, model_name="seir", model_version="2",
    ...     model_parameters={"beta_per_day": 0.3}, agent="Device/x", activity="forecast",
    ...     time=datetime(2024, 1, 1, tzinfo=UTC))
    >>> signed = sign_provenance(record, key)
    >>> verify_provenance(signed, key.public_key)
    >>> verify_provenance(replace(signed, activity="recommend"), key.public_key)
    Traceback (most recent call last):
    ...
    healthtwin.errors.InvalidInputError: provenance of Forecast/f1: the signature does not ...
    """
    unsigned = replace(record, key_id=key.key_id, signature=None)
    return replace(unsigned, signature=key.sign(provenance_payload(unsigned)))


def verify_provenance(
    record: ProvenanceRecord, trusted_keys: PublicKey | Mapping[str, PublicKey]
) -> None:
    """Check the record's signature with a trusted key; raise if it does not hold.

    Raises
    ------
    InvalidInputError
        If the record is unsigned, was signed by a key not trusted, or anything signed
        was changed.
    """
    if record.signature is None or record.key_id is None:
        raise InvalidInputError(
            f"provenance of {record.target} is not signed; sign it with sign_provenance()"
        )
    trusted = (
        {trusted_keys.key_id: trusted_keys} if isinstance(trusted_keys, PublicKey) else trusted_keys
    )
    try:
        verify_signature(provenance_payload(record), record.signature, record.key_id, trusted)
    except InvalidInputError as err:
        raise InvalidInputError(f"provenance of {record.target}: {err}") from err


def _hash_extension(sha256: str) -> list[dict[str, str]]:
    return [{"url": _HASH_EXTENSION, "valueString": sha256}]


def _reference(value: str) -> dict[str, str]:
    return {"reference": value} if "/" in value else {"display": value}


def _signature(record: ProvenanceRecord) -> dict[str, Any]:
    assert record.signature is not None
    assert record.key_id is not None
    return {
        "extension": [{"url": _KEY_EXTENSION, "valueString": record.key_id}],
        "type": [
            {
                "system": "urn:iso-astm:E1762-95:2013",
                "code": "1.2.840.10065.1.12.1.14",
                "display": "Source Signature",
            }
        ],
        "when": utc_iso(record.time),
        "who": _reference(record.agent),
        "targetFormat": "application/json",
        "sigFormat": "application/octet-stream",
        "data": base64.b64encode(record.signature).decode("ascii"),
    }


def to_fhir_provenance(record: ProvenanceRecord) -> dict[str, Any]:
    """The record as a FHIR R4 Provenance (a plain dict).

    Inputs and the model artifact are ``entity`` entries with role ``source`` and their
    SHA-256 in an extension; the model also appears as an ``assembler`` agent; the
    signature (if any) is a ``Signature`` whose ``data`` is the base64 Ed25519 signature
    over :func:`provenance_payload`.

    Examples
    --------
    >>> from datetime import UTC
    >>> record = make_provenance(
    ...     "Forecast/f1", inputs={"Observation/o1": [1, 2]}, model_name="seir",
    ...     model_version="2", model_parameters=b"weights", agent="Device/x",
    ...     activity="forecast", time=datetime(2024, 1, 1, tzinfo=UTC))
    >>> fhir = to_fhir_provenance(record)
    >>> fhir["target"][0]["reference"], [e["role"] for e in fhir["entity"]]
    ('Forecast/f1', ['source', 'source'])
    """
    target: dict[str, Any] = _reference(record.target)
    if record.target_sha256 is not None:
        target = {**target, "extension": _hash_extension(record.target_sha256)}
    model = record.model
    entities: list[dict[str, Any]] = [
        {
            "role": "source",
            "what": {**_reference(i.reference), "extension": _hash_extension(i.sha256)},
        }
        for i in record.inputs
    ]
    entities.append(
        {
            "role": "source",
            "what": {
                "identifier": {"system": f"{_OWN}/model-sha256", "value": model.sha256},
                "display": f"{model.name} {model.version}",
            },
        }
    )
    provenance: dict[str, Any] = {
        "resourceType": "Provenance",
        "target": [target],
        "recorded": utc_iso(record.time),
        "activity": {
            "coding": [{"system": f"{_OWN}/CodeSystem/activity", "code": record.activity}]
        },
        "agent": [
            {
                "type": _participant("author", "Author"),
                "who": _reference(record.agent),
            },
            {
                "type": _participant("assembler", "Assembler"),
                "who": {
                    "identifier": {
                        "system": f"{_OWN}/model",
                        "value": f"{model.name}|{model.version}",
                    },
                    "display": f"{model.name} {model.version}",
                },
            },
        ],
        "entity": entities,
    }
    if record.signature is not None:
        provenance["signature"] = [_signature(record)]
    return provenance


def _participant(code: str, display: str) -> dict[str, Any]:
    return {
        "coding": [
            {
                "system": f"{_TERMINOLOGY}/provenance-participant-type",
                "code": code,
                "display": display,
            }
        ]
    }
