"""The web service: a FHIR R4 REST facade over the store, and healthtwin's own API.

A thin face (ARCHITECTURE.md): requests are parsed and checked here, resources are stored
by :mod:`healthtwin.store`, searches follow :mod:`healthtwin.interop.fhir_search`. Every
error becomes a FHIR ``OperationOutcome`` in one place (:mod:`healthtwin.api.outcome`),
with the failing paths as ``issue.expression``; the server stays up whatever it is sent
(body, entry and nesting limits in :mod:`healthtwin.api.limits`).
"""
