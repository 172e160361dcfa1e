"""The governance layers' consent source: built once, updated only by what was written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from healthtwin.api import consent_source
from healthtwin.api.consent_source import ConsentSource
from healthtwin.governance.policy import AccessRequest
from healthtwin.store import Store, open_store
from healthtwin.store.schema import ResourceRow


def _consent(number: int, rule: str = "OPTOUT") -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": f"c{number}",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "patient": {"reference": f"Patient/p{number}"},
        "policyRule": {"coding": [{"code": rule}]},
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path / 'store.sqlite'}") as opened:
        for number in range(20):
            opened.create(_consent(number))
        yield opened


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the Consents the source compiles, in order."""
    seen: list[str] = []
    original = consent_source._compile

    def counting(resource: Any) -> Any:
        seen.append(str(resource.get("id")))
        return original(resource)

    monkeypatch.setattr(consent_source, "_compile", counting)
    return seen


def _written_last(store: Store) -> set[str]:
    """The Consents written in the newest clock tick on file."""
    newest = select(func.max(ResourceRow.last_updated)).where(
        ResourceRow.resource_type == "Consent"
    )
    query = select(ResourceRow.id).where(
        ResourceRow.resource_type == "Consent", ResourceRow.last_updated == newest.scalar_subquery()
    )
    with store.engine.connect() as connection:
        return {str(row) for row in connection.execute(query).scalars()}


def _treat(patient: str) -> AccessRequest:
    return AccessRequest(
        actor="Practitioner/1",
        roles=("clinician",),
        purpose="TREAT",
        action="r",
        resource_type="Observation",
        patient_id=patient,
    )


def test_the_index_is_built_once_while_nothing_changes(store: Store, compiled: list[str]) -> None:
    source = ConsentSource(store)
    first = source.index()
    assert first.n_consents == 20
    assert all(source.index() is first for _ in range(5))
    assert len(compiled) == 20


def test_only_written_consents_are_compiled_again(store: Store, compiled: list[str]) -> None:
    source = ConsentSource(store)
    assert not source.index().allows(_treat("p3"), "p3")
    same_tick = _written_last(store)
    compiled.clear()
    store.update({**_consent(3, "OPTIN")})
    store.create(_consent(99))
    store.delete("Consent", "c5")
    index = source.index()
    # The written two, and at most those written in the newest clock tick seen before
    # (same-tick writes are read again, since a write in that tick may not have been seen).
    assert "c19" in same_tick
    assert {"c3", "c99"} <= set(compiled) <= {"c3", "c99"} | same_tick
    assert index.n_consents == 20
    assert index.allows(_treat("p3"), "p3")  # the opt-out became an opt-in
    assert index.allows(_treat("p5"), "p5")  # deleted
    assert not index.allows(_treat("p99"), "p99")  # new


def test_an_unreadable_consent_denies_its_patient(store: Store) -> None:
    source = ConsentSource(store)
    assert source.index().allows(_treat("p77"), "p77")
    broken = {**_consent(77, "OPTIN"), "id": "c77", "provision": {"type": "sometimes"}}
    store.create(broken)
    assert not source.index().allows(_treat("p77"), "p77")


def test_a_fixed_index_never_reads_the_store(store: Store) -> None:
    from healthtwin.governance.consent_index import ConsentIndex

    fixed = ConsentIndex([])
    source = ConsentSource(store, fixed)
    store.create(_consent(50))
    assert source.index() is fixed
