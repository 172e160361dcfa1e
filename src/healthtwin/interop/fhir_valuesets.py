"""The FHIR R4 value sets with *required* bindings that our checks enforce.

``fhir.resources`` types coded elements as plain strings and accepts any value
(``Observation.status = "not-a-status"`` parses). The codes below are copied from the
FHIR R4 (4.0.1) specification, each from the value set named beside it
(http://hl7.org/fhir/R4/valueset-<name>.html).

``CODE_RULES`` lists, per resource type, the element path (dot-separated, through lists)
of a ``code`` element and its allowed codes; ``CONCEPT_RULES`` the same for
CodeableConcepts whose codings from ``system`` must use one of the codes.
"""

from __future__ import annotations

__all__ = [
    "CODE_RULES",
    "CONCEPT_RULES",
    "CONDITION_CLINICAL",
    "CONDITION_VERIFICATION",
    "DATATYPE_RULES",
    "OBSERVATION_STATUS",
]

# observation-status (also RiskAssessment.status)
OBSERVATION_STATUS = frozenset(
    {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)
ADMINISTRATIVE_GENDER = frozenset({"male", "female", "other", "unknown"})
# medication-admin-status
MEDICATION_ADMIN_STATUS = frozenset(
    {"in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped", "unknown"}
)
# medicationrequest-status and medicationrequest-intent
MEDICATION_REQUEST_STATUS = frozenset(
    {
        "active",
        "on-hold",
        "cancelled",
        "completed",
        "entered-in-error",
        "stopped",
        "draft",
        "unknown",
    }
)
MEDICATION_REQUEST_INTENT = frozenset(
    {
        "proposal",
        "plan",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
    }
)
# encounter-status and encounter-location-status
ENCOUNTER_STATUS = frozenset(
    {
        "planned",
        "arrived",
        "triaged",
        "in-progress",
        "onleave",
        "finished",
        "cancelled",
        "entered-in-error",
        "unknown",
    }
)
ENCOUNTER_LOCATION_STATUS = frozenset({"planned", "active", "reserved", "completed"})
# location-status and location-mode
LOCATION_STATUS = frozenset({"active", "suspended", "inactive"})
LOCATION_MODE = frozenset({"instance", "kind"})
# consent-state-codes and consent-provision-type
CONSENT_STATUS = frozenset(
    {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}
)
CONSENT_PROVISION_TYPE = frozenset({"deny", "permit"})
# audit-event-action and audit-event-outcome
AUDIT_EVENT_ACTION = frozenset({"C", "R", "U", "D", "E"})
AUDIT_EVENT_OUTCOME = frozenset({"0", "4", "8", "12"})
# provenance-entity-role
PROVENANCE_ENTITY_ROLE = frozenset({"derivation", "revision", "quotation", "source", "removal"})
# bundle-type and http-verb
BUNDLE_TYPE = frozenset(
    {
        "document",
        "message",
        "transaction",
        "transaction-response",
        "batch",
        "batch-response",
        "history",
        "searchset",
        "collection",
    }
)
HTTP_VERB = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})
SEARCH_ENTRY_MODE = frozenset({"match", "include", "outcome"})
# condition-clinical and condition-ver-status (CodeSystems of the same names)
CONDITION_CLINICAL = frozenset(
    {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
)
CONDITION_VERIFICATION = frozenset(
    {"unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"}
)
_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"

CODE_RULES: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("Patient", "gender", ADMINISTRATIVE_GENDER),
    ("Patient", "contact.gender", ADMINISTRATIVE_GENDER),
    ("Observation", "status", OBSERVATION_STATUS),
    ("RiskAssessment", "status", OBSERVATION_STATUS),
    ("MedicationAdministration", "status", MEDICATION_ADMIN_STATUS),
    ("MedicationRequest", "status", MEDICATION_REQUEST_STATUS),
    ("MedicationRequest", "intent", MEDICATION_REQUEST_INTENT),
    ("Encounter", "status", ENCOUNTER_STATUS),
    ("Encounter", "statusHistory.status", ENCOUNTER_STATUS),
    ("Encounter", "location.status", ENCOUNTER_LOCATION_STATUS),
    ("Location", "status", LOCATION_STATUS),
    ("Location", "mode", LOCATION_MODE),
    ("Consent", "status", CONSENT_STATUS),
    ("Consent", "provision.type", CONSENT_PROVISION_TYPE),
    ("AuditEvent", "action", AUDIT_EVENT_ACTION),
    ("AuditEvent", "outcome", AUDIT_EVENT_OUTCOME),
    ("Provenance", "entity.role", PROVENANCE_ENTITY_ROLE),
    ("Bundle", "type", BUNDLE_TYPE),
    ("Bundle", "entry.request.method", HTTP_VERB),
    ("Bundle", "entry.search.mode", SEARCH_ENTRY_MODE),
)
CONCEPT_RULES: tuple[tuple[str, str, str, frozenset[str]], ...] = (
    ("Condition", "clinicalStatus", _TERMINOLOGY + "condition-clinical", CONDITION_CLINICAL),
    (
        "Condition",
        "verificationStatus",
        _TERMINOLOGY + "condition-ver-status",
        CONDITION_VERIFICATION,
    ),
)
#: Required bindings of general-purpose data types: (type name, element, codes).
DATATYPE_RULES: tuple[tuple[str, str, frozenset[str]], ...] = (
    (
        "HumanName",
        "use",
        frozenset({"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"}),
    ),
    ("Identifier", "use", frozenset({"usual", "official", "temp", "secondary", "old"})),
    (
        "ContactPoint",
        "system",
        frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"}),
    ),
    ("ContactPoint", "use", frozenset({"home", "work", "temp", "old", "mobile"})),
    ("Address", "use", frozenset({"home", "work", "temp", "old", "billing"})),
    ("Address", "type", frozenset({"postal", "physical", "both"})),
    ("Quantity", "comparator", frozenset({"<", "<=", ">=", ">"})),
    ("Narrative", "status", frozenset({"generated", "extensions", "additional", "empty"})),
)
