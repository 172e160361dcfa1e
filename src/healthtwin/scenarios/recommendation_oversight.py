"""Human oversight of the treatment recommender: kill switch, proposals and provenance.

A recommendation is only *proposed*: :func:`require_recommender_enabled` refuses while the
registered recommender (:data:`RECOMMENDER`) is switched off, :func:`propose_recommendation`
records it in the store for a clinician to accept or override, and
:func:`record_recommendation_provenance` stores a FHIR Provenance that hashes what it came
from (settings and input files), signed with an Ed25519 key when one is given.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from healthtwin.governance.model_registry import registered_model
from healthtwin.governance.provenance import make_provenance, sign_provenance, to_fhir_provenance
from healthtwin.governance.signing import load_signing_key
from healthtwin.store import open_store

__all__ = [
    "RECOMMENDER",
    "propose_recommendation",
    "record_recommendation_provenance",
    "require_recommender_enabled",
]

#: The registered model name of the recommender (governance/model_registry.py).
RECOMMENDER = "treatment-recommender"


def require_recommender_enabled(database: str | None) -> None:
    """Raise if the recommender's current version is switched off in ``database``.

    Raises
    ------
    ConsentError
        While the model is disabled (``healthtwin governance disable``).

    Examples
    --------
    >>> import tempfile
    >>> url = f"sqlite:///{tempfile.mkdtemp()}/oversight.db"
    >>> require_recommender_enabled(url)
    """
    with open_store(database) as store:
        store.oversight().require_enabled(RECOMMENDER, registered_model(RECOMMENDER).version)


def propose_recommendation(
    database: str | None, value: Mapping[str, object], *, patient: str, actor: str
) -> str:
    """Record a recommendation as proposed; return its new id (``rec-`` and 12 hex digits).

    The virtual patient's name is not a FHIR id: it travels in the stored value.

    Examples
    --------
    >>> import tempfile
    >>> url = f"sqlite:///{tempfile.mkdtemp()}/oversight.db"
    >>> propose_recommendation(url, {"chosen": "bolus 4 U"}, patient="adult#001",
    ...                        actor="cli").startswith("rec-")
    True
    """
    identifier = f"rec-{uuid.uuid4().hex[:12]}"
    with open_store(database) as store:
        store.oversight().propose(
            identifier,
            model=RECOMMENDER,
            model_version=registered_model(RECOMMENDER).version,
            value={"virtual_patient": patient, **json.loads(json.dumps(value, default=float))},
            proposed_by=actor,
        )
    return identifier


def record_recommendation_provenance(
    database: str | None,
    recommendation_id: str,
    value: Mapping[str, object],
    settings: Mapping[str, object],
    inputs: Mapping[str, bytes],
    *,
    actor: str,
    key: Path | None = None,
) -> None:
    """Hash what the recommendation came from, sign it if a key is given, store it as FHIR.

    Parameters
    ----------
    database
        Store URL.
    recommendation_id
        The proposed recommendation (its GuidanceResponse is the Provenance's target).
    value
        The recommendation (JSON-ready).
    settings
        The recommender's settings (patient, meal, candidates, horizon...).
    inputs
        Input documents by URI (file contents are hashed, not stored).
    actor
        Who asked; the agent is ``Device/healthtwin-<actor>``.
    key
        An Ed25519 private key (PEM) that signs the record.
    """
    record = make_provenance(
        f"GuidanceResponse/{recommendation_id}",
        inputs=dict(inputs) or {"urn:healthtwin:no-readings": b""},
        model_name=RECOMMENDER,
        model_version=registered_model(RECOMMENDER).version,
        model_parameters=dict(settings),
        agent=f"Device/healthtwin-{actor}",
        activity="recommend",
        time=datetime.now(UTC),
        target_content=json.loads(json.dumps(value, default=float)),
    )
    if key is not None:
        record = sign_provenance(record, load_signing_key(key))
    with open_store(database) as store:
        store.create({**to_fhir_provenance(record), "id": f"prov-{recommendation_id}"})
