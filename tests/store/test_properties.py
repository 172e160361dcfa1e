"""Hypothesis invariants: what goes into the store comes back unchanged, on both backends."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthtwin.errors import InvalidInputError
from healthtwin.interop.records import Coding, ObservationRecord
from healthtwin.store import Store

# One store serves all examples of a test (ids are made unique per example).
SHARED_STORE = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# FHIR strings exclude control characters (and PostgreSQL's JSONB cannot hold NUL).
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
NUMBERS = st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | NUMBERS | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
TIMES = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@SHARED_STORE
@given(
    body=st.dictionaries(
        TEXT.filter(lambda k: k not in {"resourceType", "id", "meta"}), JSON_VALUES, max_size=6
    )
)
def test_a_resource_reads_back_as_written_plus_meta(store: Store, body: dict[str, Any]) -> None:
    resource = {"resourceType": "Basic", **body}
    stored = store.create(resource)
    read = store.read("Basic", stored["id"])
    assert as_decimals(read) == as_decimals(stored)
    content = {k: v for k, v in read.items() if k not in {"id", "meta"}}
    assert as_decimals(content) == as_decimals(resource)


def as_decimals(document: object) -> object:
    """JSON numbers as decimals: PostgreSQL's JSONB keeps a number's decimal value, not
    whether Python wrote it as int or float (3.602879701896397e+16 reads back as an int)."""
    text = json.dumps(document)
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


@SHARED_STORE
@given(
    values=st.lists(
        st.tuples(TIMES, st.floats(-1e6, 1e6) | st.none(), TEXT | st.none()),
        min_size=1,
        max_size=20,
    ),
)
def test_observations_read_back_as_written_in_time_order(
    store: Store, values: list[tuple[datetime, float | None, str | None]]
) -> None:
    patient = uuid.uuid4().hex[:20]
    code = Coding(system="http://loinc.org", code="2345-7", display="Glucose")
    records = [
        ObservationRecord(
            id=f"{patient}-{i}", patient_id=patient, code=code, effective=t, value=v, unit=u
        )
        for i, (t, v, u) in enumerate(values)
    ]
    store.add_observations(records)
    expected = sorted(records, key=lambda r: (r.effective, r.id))
    assert store.observations(patient) == expected


def test_nul_characters_are_refused_on_every_backend(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="holds a NUL character"):
        store.create({"resourceType": "Basic", "note": "a\x00b"})
    stored = store.create({"resourceType": "Basic", "note": "a\\u0000b"})
    assert store.read("Basic", stored["id"])["note"] == "a\\u0000b"
