"""Provenance of a federated model version: what trained it, hashed and signed.

A federated model has no training data in one place, so its provenance names what the
server did see: the configuration, every round's record (sites asked, sites that failed and
why, losses, privacy spent) and the final parameter vector, each hashed with
:func:`~healthtwin.governance.provenance.content_hash`, and signed with the server's Ed25519
key when one is given. The target is ``urn:healthtwin:federated-model:<name>:<sha12>``, so
a model version shared back to hospitals carries the hash of its own parameters.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from healthtwin.federation.strategies import FederationConfig, FederationResult
from healthtwin.governance.provenance import (
    ProvenanceRecord,
    content_hash,
    make_provenance,
    sign_provenance,
)
from healthtwin.governance.signing import SigningKey

__all__ = ["federated_model_provenance"]


def federated_model_provenance(
    result: FederationResult,
    *,
    model_name: str,
    model_version: str,
    config: FederationConfig,
    agent: str = "Device/healthtwin-federation-server",
    key: SigningKey | None = None,
    time: datetime | None = None,
) -> ProvenanceRecord:
    """The provenance record of ``result``'s final model (signed when ``key`` is given).

    Examples
    --------
    >>> import numpy as np
    >>> from healthtwin.federation.models import LogisticRegression
    >>> from healthtwin.federation.sites import SiteData
    >>> from healthtwin.federation.strategies import run_in_process
    >>> x = np.linspace(-1, 1, 40)[:, None]
    >>> site = SiteData(x, np.ones(40), x[:, 0] > 0)
    >>> config = FederationConfig(rounds=2)
    >>> result = run_in_process(LogisticRegression(), [site, site], config)
    >>> record = federated_model_provenance(result, model_name="logistic",
    ...                                     model_version="1", config=config)
    >>> record.target.startswith("urn:healthtwin:federated-model:logistic:"), len(record.inputs)
    (True, 3)
    """
    digest = content_hash(result.theta)[:12]
    inputs: dict[str, object] = {"urn:healthtwin:federation-config": _plain(config)}
    for record in result.rounds:
        inputs[f"urn:healthtwin:federation-round:{record.round}"] = _plain(record)
    made = make_provenance(
        f"urn:healthtwin:federated-model:{model_name}:{digest}",
        inputs=inputs,
        model_name=model_name,
        model_version=model_version,
        model_parameters=result.theta,
        agent=agent,
        activity="federated-training",
        time=datetime.now(UTC) if time is None else time,
        target_content=result.theta,
    )
    return made if key is None else sign_provenance(made, key)


def _plain(value: object) -> object:
    """A dataclass as JSON-able data (tuples to lists, nested dataclasses too)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
