"""Provenance: stable content hashes, signed records, tampering found, FHIR Provenance."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from fhir.resources.R4B.provenance import Provenance
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from healthtwin.errors import InvalidInputError
from healthtwin.governance.provenance import (
    InputRef,
    ModelRef,
    ProvenanceRecord,
    content_hash,
    make_provenance,
    provenance_payload,
    sign_provenance,
    to_fhir_provenance,
    verify_provenance,
)
from healthtwin.governance.signing import generate_signing_key, signing_key_from_seed

T0 = datetime(2024, 6, 1, 8, tzinfo=UTC)
KEY = signing_key_from_seed(bytes(range(32)))


def forecast_record(**changes: Any) -> ProvenanceRecord:
    fields: dict[str, Any] = {
        "inputs": {
            "Observation/g1": {"value": 7.2, "unit": "mmol/L"},
            "Patient/p1": {"weight_kg": 70},
        },
        "model_name": "hovorka",
        "model_version": "1.2",
        "model_parameters": {"k12": np.array([0.066]), "ka1": 0.006},
        "agent": "Device/forecaster",
        "activity": "forecast",
        "time": T0,
        "target_content": np.linspace(5, 9, 12).reshape(3, 4),
    }
    return make_provenance("RiskAssessment/r1", **{**fields, **changes})


def test_content_hash_of_bytes_is_plain_sha256() -> None:
    assert content_hash(b"model weights") == hashlib.sha256(b"model weights").hexdigest()


def test_content_hash_of_arrays_ignores_layout_and_byte_order_but_not_dtype_or_shape() -> None:
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert content_hash(a) == content_hash(np.asfortranarray(a))
    assert content_hash(a) == content_hash(a.astype(">f8"))
    strided = np.arange(24.0).reshape(3, 8)[:, ::2]
    assert content_hash(strided) == content_hash(strided.copy())
    assert content_hash(a) != content_hash(a.reshape(4, 3))
    assert content_hash(a) != content_hash(a.astype(np.float32))
    assert content_hash(a) != content_hash(a.tobytes())
    changed = a.copy()
    changed[2, 3] = np.nextafter(changed[2, 3], 100.0)
    assert content_hash(a) != content_hash(changed)


def test_content_hash_of_json_ignores_key_order_and_integral_float_form() -> None:
    left = {"b": [1, 2.0], "a": {"y": True, "x": None}, "w": np.array([1, 2])}
    right = {"a": {"x": None, "y": True}, "w": np.array([1, 2]), "b": [1.0, 2]}
    assert content_hash(left) == content_hash(right)
    assert content_hash({"x": np.float64(0.5)}) == content_hash({"x": 0.5})
    assert content_hash({"x": 0.5}) != content_hash({"x": 0.25})
    assert content_hash({"w": np.array([1, 2])}) != content_hash({"w": np.array([1, 3])})


def test_content_hash_refuses_values_without_a_canonical_form() -> None:
    with pytest.raises(InvalidInputError, match="object array"):
        content_hash(np.array([{}, 1], dtype=object))
    with pytest.raises(InvalidInputError, match="cannot canonicalise a set"):
        content_hash({"x": {1, 2}})


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float64, np.int32, np.bool_]),
        shape=hnp.array_shapes(max_dims=3, max_side=4),
    )
)
def test_property_array_hash_equals_its_copies_hash(array: np.ndarray[Any, Any]) -> None:
    assert content_hash(array) == content_hash(np.array(array, order="F", copy=True))
    assert content_hash(array) == content_hash(array.astype(array.dtype.newbyteorder(">")))


def test_make_provenance_hashes_every_input_and_the_model() -> None:
    record = forecast_record()
    assert [i.reference for i in record.inputs] == ["Observation/g1", "Patient/p1"]
    assert record.inputs[0].sha256 == content_hash({"value": 7.2, "unit": "mmol/L"})
    assert record.model == ModelRef(
        "hovorka", "1.2", content_hash({"k12": np.array([0.066]), "ka1": 0.006})
    )
    assert record.target_sha256 == content_hash(np.linspace(5, 9, 12).reshape(3, 4))
    assert record.signature is None


def test_signed_records_verify_and_every_change_is_found() -> None:
    signed = sign_provenance(forecast_record(), KEY)
    assert signed.key_id == KEY.key_id
    verify_provenance(signed, KEY.public_key)
    verify_provenance(signed, {KEY.key_id: KEY.public_key})
    other_hash = content_hash(b"other")
    changes: list[dict[str, Any]] = [
        {"target": "RiskAssessment/r2"},
        {"target_sha256": other_hash},
        {"inputs": (InputRef("Observation/g1", other_hash),)},
        {"model": ModelRef("hovorka", "1.3", signed.model.sha256)},
        {"model": ModelRef("hovorka", "1.2", other_hash)},
        {"agent": "Device/other"},
        {"activity": "recommend"},
        {"time": T0.replace(minute=1)},
    ]
    for change in changes:
        with pytest.raises(InvalidInputError, match="does not verify"):
            verify_provenance(replace(signed, **change), KEY.public_key)


def test_unsigned_wrong_key_and_corrupted_signatures_are_explained() -> None:
    record = forecast_record()
    with pytest.raises(InvalidInputError, match="is not signed"):
        verify_provenance(record, KEY.public_key)
    signed = sign_provenance(record, KEY)
    other = generate_signing_key()
    with pytest.raises(InvalidInputError, match="not among the 1 trusted keys"):
        verify_provenance(signed, other.public_key)
    with pytest.raises(InvalidInputError, match="64 bytes"):
        verify_provenance(replace(signed, signature=b"\0" * 10), KEY.public_key)
    with pytest.raises(InvalidInputError, match="not among"):
        verify_provenance(replace(signed, key_id=other.key_id), KEY.public_key)


def test_the_payload_is_canonical_json_without_the_signature() -> None:
    signed = sign_provenance(forecast_record(), KEY)
    payload = provenance_payload(signed)
    assert payload == provenance_payload(replace(signed, signature=b"x" * 64))
    assert b'"key_id":"' + KEY.key_id.encode() in payload
    assert b"2024-06-01T08:00:00.000000Z" in payload


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: InputRef("", "0" * 64), "input reference must be a non-empty"),
        (lambda: InputRef("Observation/o1", "xyz"), "SHA-256 in lowercase hex"),
        (lambda: ModelRef("m", "", "0" * 64), "model version"),
        (lambda: forecast_record(time=datetime(2024, 1, 1)), "no time zone"),
        (lambda: forecast_record(agent=" "), "agent must be a non-empty"),
    ],
)
def test_bad_records_are_refused(build: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        build()


def test_fhir_provenance_is_valid_and_carries_hashes_and_the_signature() -> None:
    signed = sign_provenance(forecast_record(), KEY)
    resource = to_fhir_provenance(signed)
    parsed = Provenance.model_validate(resource)
    assert parsed.target[0].reference == "RiskAssessment/r1"
    assert parsed.target[0].extension[0].valueString == signed.target_sha256
    assert parsed.activity.coding[0].code == "forecast"
    assert [a.type.coding[0].code for a in parsed.agent] == ["author", "assembler"]
    assert parsed.agent[0].who.reference == "Device/forecaster"
    assert parsed.agent[1].who.identifier.value == "hovorka|1.2"
    hashes = [e.what.extension[0].valueString for e in parsed.entity if e.what.extension]
    assert hashes == [i.sha256 for i in signed.inputs]
    assert parsed.entity[-1].what.identifier.value == signed.model.sha256
    signature = parsed.signature[0]
    data = resource["signature"][0]["data"]
    assert base64.b64decode(data) == signed.signature
    assert signature.extension[0].valueString == KEY.key_id
    KEY.public_key.verify(provenance_payload(signed), base64.b64decode(data))


def test_unsigned_fhir_provenance_has_no_signature() -> None:
    resource = to_fhir_provenance(forecast_record(target_content=None))
    parsed = Provenance.model_validate(resource)
    assert parsed.signature is None
    assert parsed.target[0].extension is None
