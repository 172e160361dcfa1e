"""Signed provenance of a federated model version."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest
from fhir.resources.R4B.provenance import Provenance

from healthtwin.errors import InvalidInputError
from healthtwin.federation.model_provenance import federated_model_provenance
from healthtwin.federation.models import LogisticRegression
from healthtwin.federation.sites import SiteData
from healthtwin.federation.strategies import FederationConfig, run_in_process
from healthtwin.governance.provenance import (
    content_hash,
    to_fhir_provenance,
    verify_provenance,
)
from healthtwin.governance.signing import generate_signing_key

T0 = datetime(2026, 11, 28, tzinfo=UTC)


def _result():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2))
    sites = [SiteData(x[:40], np.ones(40), x[:40, 0] > 0, name="a"),
             SiteData(x[40:], np.ones(40), x[40:, 0] > 0, name="b")]  # fmt: skip
    config = FederationConfig(rounds=3)
    return run_in_process(LogisticRegression(), sites, config), config


def test_the_signed_record_names_the_model_version_and_every_round() -> None:
    result, config = _result()
    key = generate_signing_key()
    record = federated_model_provenance(
        result, model_name="logistic", model_version="0.1.0", config=config, key=key, time=T0
    )
    verify_provenance(record, key.public_key)
    assert record.target.endswith(content_hash(result.theta)[:12])
    assert record.target_sha256 == content_hash(result.theta)
    refs = [i.reference for i in record.inputs]
    assert refs[0] == "urn:healthtwin:federation-config"
    assert refs[1:] == [f"urn:healthtwin:federation-round:{r}" for r in (1, 2, 3)]
    Provenance.model_validate(to_fhir_provenance(record))


def test_a_changed_model_or_round_breaks_the_signature() -> None:
    result, config = _result()
    key = generate_signing_key()
    record = federated_model_provenance(
        result, model_name="logistic", model_version="0.1.0", config=config, key=key, time=T0
    )
    other = dataclasses.replace(result, theta=result.theta + 1e-9)
    forged = dataclasses.replace(
        record,
        target_sha256=federated_model_provenance(
            other, model_name="logistic", model_version="0.1.0", config=config, time=T0
        ).target_sha256,
    )
    with pytest.raises(InvalidInputError):
        verify_provenance(forged, key.public_key)
