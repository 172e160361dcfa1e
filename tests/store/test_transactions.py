"""All-or-nothing transactions: a failing entry writes nothing and is named in the error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from healthtwin.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ResourceValidationError,
    ValidationIssue,
)
from healthtwin.interop.records import Coding, ObservationRecord
from healthtwin.store import (
    AddObservations,
    AuditEntry,
    CreateResource,
    DeleteObservations,
    DeleteResource,
    RecordAudit,
    Store,
    UpdateResource,
)
from healthtwin.store.operations import apply_operation, at_entry

T0 = datetime(2024, 3, 1, tzinfo=UTC)
HR = Coding(system="http://loinc.org", code="8867-4", display="Heart rate")


def heart_rate(i: int, patient_id: str = "p1") -> ObservationRecord:
    return ObservationRecord(
        id=f"hr-{patient_id}-{i}",
        patient_id=patient_id,
        code=HR,
        effective=T0 + timedelta(minutes=i),
        value=60.0 + i,
        unit="/min",
    )


def _nothing_written(store: Store) -> None:
    assert list(store.iter_resources("Patient")) == []
    assert store.observations("p1") == []
    assert store.audit_events() == []


def test_a_transaction_applies_every_entry_and_returns_each_result(store: Store) -> None:
    store.create({"resourceType": "Patient", "id": "old"})
    results = store.write_transaction(
        [
            CreateResource({"resourceType": "Patient", "id": "p1"}),
            UpdateResource({"resourceType": "Patient", "id": "p1", "gender": "female"}, 1),
            DeleteResource("Patient", "old"),
            AddObservations([heart_rate(i) for i in range(5)]),
            DeleteObservations(["hr-p1-0", "hr-p1-9"]),
            RecordAudit(actor="Device/importer", action="create", resource_refs=["Patient/p1"]),
        ]
    )
    created, updated, deletion, added, removed, event = results
    assert isinstance(created, dict)
    assert created["meta"]["versionId"] == "1"
    assert isinstance(updated, dict)
    assert updated["gender"] == "female"
    assert (deletion, added, removed) == (2, 5, 1)
    assert isinstance(event, AuditEntry)
    assert event.resource_refs == ("Patient/p1",)
    assert store.read("Patient", "p1")["meta"]["versionId"] == "2"
    assert [o.id for o in store.observations("p1")] == [f"hr-p1-{i}" for i in range(1, 5)]


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (CreateResource({"resourceType": "Patient", "id": "p1"}), ConflictError, "already exists"),
        (UpdateResource({"resourceType": "Patient", "id": "zz"}), NotFoundError, "no Patient/zz"),
        (
            UpdateResource({"resourceType": "Patient", "id": "p1"}, expected_version=5),
            ConflictError,
            "not the expected version 5",
        ),
        (DeleteResource("Patient", "nobody"), NotFoundError, "there is no Patient/nobody"),
        (CreateResource({"resourceType": "Patient", "id": "bad id"}), InvalidInputError, "id"),
        (AddObservations([heart_rate(0)]), ConflictError, "conflicts with data already stored"),
        (RecordAudit(actor="", action="read"), InvalidInputError, "audit actor"),
    ],
)
def test_a_failing_entry_writes_nothing_and_is_named(
    store: Store, bad: object, error: type[Exception], message: str
) -> None:
    operations = [
        CreateResource({"resourceType": "Patient", "id": "p1"}),
        AddObservations([heart_rate(i) for i in range(3)]),
        RecordAudit(actor="Device/importer", action="create"),
        bad,
        CreateResource({"resourceType": "Patient", "id": "p2"}),
    ]
    with pytest.raises(error, match=f"^transaction entry 3 \\(.*{message}") as caught:
        store.write_transaction(operations)  # type: ignore[arg-type]
    assert isinstance(caught.value.__cause__, error)
    _nothing_written(store)


def test_a_later_batch_failing_rolls_back_earlier_batches(store: Store) -> None:
    records = [heart_rate(i) for i in range(7)] + [heart_rate(2)]
    with pytest.raises(ConflictError):
        store.add_observations(records, batch_size=2)
    assert store.observations("p1") == []
    with pytest.raises(InvalidInputError, match="takes ObservationRecord objects"):
        store.add_observations([heart_rate(0), heart_rate(1), {"id": "x"}], batch_size=2)  # type: ignore[list-item]
    assert store.observations("p1") == []


def test_an_unknown_operation_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInputError, match=r"entry 0 \(str\): str is not a store operation"):
        store.write_transaction(["DROP TABLE resources"])  # type: ignore[list-item]


def test_validation_issues_survive_the_entry_prefix() -> None:
    issue = ValidationIssue(path="Patient.gender", message="not a code", code="code-invalid")
    err = at_entry(ResourceValidationError("bad gender", (issue,)), 4, DeleteResource("P", "x"))
    assert isinstance(err, ResourceValidationError)
    assert err.issues == (issue,)
    assert str(err) == "transaction entry 4 (delete P/x): bad gender"


def test_apply_operation_refuses_other_objects() -> None:
    with pytest.raises(InvalidInputError, match="int is not a store operation"):
        apply_operation(None, 3)  # type: ignore[arg-type]
