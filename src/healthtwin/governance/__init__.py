"""Governance: the rules that decide whether a twin may touch data, made executable.

Ethical, regulatory and data-governance requirements (EU AI Act logging, transparency and
human oversight; MDR software rules; EHDS secondary-use permits; HIPAA de-identification;
GDPR) are working features here, called where data is touched, never documents. Every
module is a set of pure, fast functions and small frozen classes that the service calls
per request; persistence lives in :mod:`healthtwin.store`, the HTTP wiring in
:mod:`healthtwin.api`. FHIR shapes (AuditEvent, Consent, Provenance) are built and read as
plain dicts: no FHIR library is imported in this package.

- **Consent** (``consent``, ``optout``): resources of patients whose active FHIR Consent
  denies the purpose, actor or period never leave the store; nested deny overrides permit;
  an opt-out registry for secondary use.
- **Purpose-bound access** (``purpose``, ``policy``, ``access``): every request carries a
  purpose of use (HL7 v3 ActReason: TREAT, HRESCH, PUBHLTH, ...) that must match the
  caller's scopes and the project's permit; policies are data and the default is deny.
- **Audit** (``audit_chain``, ``signing``): every read, write, query, prediction and
  decision is an event, canonicalised (sorted-key compact JSON, UTC times) and chained,
  ``hash_i = SHA-256(hash_{i-1} || canonical_i)`` (the construction of Schneier & Kelsey,
  "Secure audit logs to support computer forensics", ACM TISSEC 2, 1999, without their
  key evolution); periodic checkpoints are Ed25519-signed (Bernstein et al., "High-speed
  high-security signatures", J. Cryptogr. Eng. 2, 2012; RFC 8032), so that a rewritten,
  deleted, reordered or inserted event is found by :func:`verify`. Events export as FHIR
  R4 AuditEvent in the shape of IHE Basic Audit Log Patterns (BALP).
- **Provenance** (``provenance``): every derived datum (forecast, recommendation, federated
  model version) records its inputs and model by content hash, the agent and the activity,
  signed; exported as FHIR Provenance.
- **De-identification** (``deidentify``, ``safe_harbor``): keyed-HMAC pseudonyms, per-patient
  date shifting that keeps intervals, generalisation (ZIP3, age 90+), removal of free text;
  a report of the 18 HIPAA Safe Harbor identifiers handled.
- **Privacy budget** (``privacy_budget``, ``dp``, ``small_cells``): epsilon/delta spent per
  dataset and project, aggregate answers through OpenDP mechanisms, refusal beyond budget,
  small-cell suppression.
- **Credibility** (``credibility``, ``model_cards``, ``model_registry``): ASME V&V 40 / FDA
  2023 credibility assessments and model cards (Mitchell et al. 2019) for every registered
  model.
- **Fairness** (``fairness``): per-subgroup performance and calibration with fairlearn.
- **Oversight** (``oversight``): recommendations stay *proposed* until a clinician accepts
  or overrides them; a kill switch per model version stops its recommendations.
"""
