"""``GET /fhir/Patient/{id}/$everything``: the patient and every resource that points at it.

Observations come from the indexed time series (one range scan for the patient); the
other types are scanned for a patient reference in their subject (or ``patient``) element.
"""

from __future__ import annotations

from typing import Any

from healthtwin.api.checks import PATIENT_REFERENCES, patient_reference
from healthtwin.api.search import read_resources
from healthtwin.store import Store

__all__ = ["everything"]

JSONDict = dict[str, Any]


def everything(store: Store, patient_id: str, base: str) -> JSONDict:
    """A searchset Bundle with the Patient first, then its resources by type.

    Raises
    ------
    NotFoundError
        If there is no such Patient.

    Examples
    --------
    >>> from healthtwin.store import open_store
    >>> with open_store("sqlite://") as store:
    ...     _ = store.create({"resourceType": "Patient", "id": "p1"})
    ...     _ = store.create({"resourceType": "Condition", "id": "c1",
    ...                       "subject": {"reference": "Patient/p1"}})
    ...     [e["resource"]["id"] for e in everything(store, "p1", "http://x/fhir")["entry"]]
    ['p1', 'c1']
    """
    found = [store.read("Patient", patient_id)]
    records = store.observations(patient_id)
    found += read_resources(store, "Observation", [r.id for r in records])
    for resource_type in PATIENT_REFERENCES:
        if resource_type == "Observation":
            continue
        found += [
            r
            for r in store.iter_resources(resource_type)
            if (ref := patient_reference(r)) is not None and ref[1] == patient_id
        ]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": [{"relation": "self", "url": f"{base}/Patient/{patient_id}/$everything"}],
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in found
        ],
    }
