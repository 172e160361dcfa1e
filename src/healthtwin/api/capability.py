"""The server's ``CapabilityStatement`` (``GET /fhir/metadata``), built from what it supports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from healthtwin import __version__
from healthtwin.interop.fhir_json import SUPPORTED_RESOURCE_TYPES
from healthtwin.interop.fhir_search import SEARCH_PARAMETERS

__all__ = ["SUPPORTED_TYPES", "capability_statement"]

#: Resource types the facade stores and serves (read, create, update, delete, history).
SUPPORTED_TYPES = tuple(t for t in SUPPORTED_RESOURCE_TYPES if t != "Bundle")
_INTERACTIONS = ("read", "vread", "update", "delete", "history-instance", "create")


def capability_statement(base_url: str) -> dict[str, Any]:
    """A FHIR R4 ``CapabilityStatement`` listing types, interactions and search parameters."""
    resources = []
    for name in SUPPORTED_TYPES:
        entry: dict[str, Any] = {
            "type": name,
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": False,
            "interaction": [
                {"code": code}
                for code in (
                    *_INTERACTIONS,
                    *(("search-type",) if name in SEARCH_PARAMETERS else ()),
                )
            ],
        }
        if name in SEARCH_PARAMETERS:
            entry["searchParam"] = [
                {"name": p.name, "type": p.type} for p in SEARCH_PARAMETERS[name].values()
            ]
        if name == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "kind": "instance",
        "software": {"name": "healthtwin", "version": __version__},
        "implementation": {"description": "healthtwin FHIR facade", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }
