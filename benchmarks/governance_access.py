"""Per-request cost of access control and consent enforcement with 10^5 consents on file.

The issue's target: audit + consent + access checks under 2 ms at p50 per request with
10^5 consents on file. This benchmark times our part (policy + permit + opt-out + consent),
not the audit write. Data: ``N_CONSENTS`` FHIR R4 Consents (seed 13) for ``N_PATIENTS``
patients, drawn from six realistic shapes (research opt-in, opt-out of everything but
care, deny one organisation, deny a resource type for research, time-limited permits,
nested deny inside a care exception), ``N_OPTOUTS`` opt-outs, and the policy of
``POLICY``. Timed (``time.perf_counter``, ``REPEATS`` requests each, p50/p95 in ms):

- ``decide_one_patient``: :meth:`AccessController.decide` for one patient (the read of a
  patient's record), purposes, actors and patients drawn at random;
- ``allowed_patients_1k`` / ``_10k``: the batch mask for a cohort of 1,000 / 10,000 patients;
- ``filter_100``: :meth:`AccessController.filter_resources` of 100 Observations of 100
  patients (a search page).

Peers in the same run: a linear scan of all consents for the patient's (no index:
``ratio_decide_vs_scan``), and consent-by-consent evaluation of a 10,000-patient cohort
(``ratio_batch_vs_one_by_one``). The index build time is reported too. Run with
``python -m benchmarks.governance_access [--quick]``; writes
``benchmarks/results/governance_access.json``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.governance.access import AccessController
from healthtwin.governance.consent import compile_consent, evaluate_consent
from healthtwin.governance.consent_index import ConsentIndex
from healthtwin.governance.optout import OptOut, OptOutRegistry
from healthtwin.governance.policy import AccessRequest, load_policy

OUT = Path(__file__).resolve().parent / "results" / "governance_access.json"
N_CONSENTS, N_PATIENTS, N_OPTOUTS, REPEATS = 100_000, 80_000, 5_000, 2_000
V3 = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
POLICY = """
datasets: {cgm: [Observation, Patient, Condition]}
rules:
  - {id: care, roles: [clinician], actions: crus, resource_types: ["*"], purposes: [TREAT]}
  - {id: study, roles: [researcher], actions: rs, resource_types: ["*"], purposes: [HRESCH],
     requires_permit: true}
  - {id: surveillance, roles: [epidemiologist], actions: s, resource_types: ["*"],
     purposes: [PUBHLTH]}
permits:
  - {project: cgm-study, purposes: [HRESCH], datasets: [cgm], expires: "2030-01-01T00:00:00Z"}
"""
CALLERS = (
    ("clinician", "TREAT", None),
    ("clinician", "ETREAT", None),
    ("researcher", "HRESCH", "cgm-study"),
    ("researcher", "CLINTRCH", "cgm-study"),
    ("epidemiologist", "PUBHLTH", None),
)


def _purpose(*codes: str) -> list[dict[str, str]]:
    return [{"system": V3, "code": c} for c in codes]


def _shape(kind: int, rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    org = f"Organization/o{rng.integers(0, 50)}"
    year = int(rng.integers(2020, 2028))
    shapes: list[tuple[str, dict[str, Any]]] = [
        ("research", {"type": "permit", "purpose": _purpose("HRESCH")}),
        (
            "patient-privacy",
            {"type": "deny", "provision": [{"type": "permit", "purpose": _purpose("TREAT")}]},
        ),
        (
            "patient-privacy",
            {
                "type": "permit",
                "provision": [
                    {
                        "type": "deny",
                        "actor": [
                            {
                                "role": {"coding": [{"code": "PRCP"}]},
                                "reference": {"reference": org},
                            }
                        ],
                    }
                ],
            },
        ),
        (
            "research",
            {
                "type": "permit",
                "provision": [
                    {
                        "type": "deny",
                        "class": [
                            {"system": "http://hl7.org/fhir/resource-types", "code": "Condition"}
                        ],
                    }
                ],
            },
        ),
        (
            "patient-privacy",
            {"type": "permit", "period": {"start": f"{year}-01-01", "end": f"{year + 1}-12-31"}},
        ),
        (
            "patient-privacy",
            {
                "type": "permit",
                "provision": [
                    {
                        "type": "permit",
                        "purpose": _purpose("TREAT"),
                        "provision": [
                            {
                                "type": "deny",
                                "purpose": _purpose("ETREAT"),
                                "actor": [
                                    {
                                        "role": {"coding": [{"code": "PRCP"}]},
                                        "reference": {"reference": org},
                                    }
                                ],
                            }
                        ],
                    }
                ],
            },
        ),
    ]
    return shapes[kind]


def consents(n: int, n_patients: int, seed: int = 13) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    kinds = rng.integers(0, 6, size=n)
    patients = rng.integers(0, n_patients, size=n)
    out = []
    for number, (kind, patient) in enumerate(zip(kinds, patients, strict=True)):
        scope, provision = _shape(int(kind), rng)
        out.append(
            {
                "resourceType": "Consent",
                "id": f"c{number}",
                "status": "active",
                "scope": {"coding": [{"code": scope}]},
                "patient": {"reference": f"Patient/p{patient}"},
                "provision": provision,
            }
        )
    return out


def _request(rng: np.random.Generator, patient: str | None, n_orgs: int = 50) -> AccessRequest:
    role, purpose, project = CALLERS[int(rng.integers(0, len(CALLERS)))]
    return AccessRequest(
        actor=f"Practitioner/{rng.integers(0, 1000)}",
        roles=(role,),
        scopes=("user/*.rs",),
        purpose=purpose,
        action="s",
        resource_type="Observation",
        patient_id=patient,
        project=project,
        organization=f"Organization/o{rng.integers(0, n_orgs)}",
        at=NOW,
    )


def _times_ms(call: Callable[[], object], repeats: int) -> dict[str, float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e3)
    q = np.percentile(samples, [50, 95])
    return {"p50_ms": round(float(q[0]), 4), "p95_ms": round(float(q[1]), 4), "repeats": repeats}


def main(quick: bool = False) -> dict[str, Any]:
    n_consents = 10_000 if quick else N_CONSENTS
    n_patients = 8_000 if quick else N_PATIENTS
    repeats = 200 if quick else REPEATS
    rng = np.random.default_rng(2013)
    resources = consents(n_consents, n_patients)
    start = time.perf_counter()
    index = ConsentIndex(resources)
    build_s = time.perf_counter() - start
    optouts = OptOutRegistry(
        OptOut(f"p{p}")
        for p in rng.choice(n_patients, N_OPTOUTS // (10 if quick else 1), replace=False)
    )
    controller = AccessController(load_policy(POLICY), index, optouts)
    patient_ids = [f"p{i}" for i in range(n_patients)]

    one = [_request(rng, patient_ids[int(rng.integers(0, n_patients))]) for _ in range(repeats)]
    it = iter(one * 2)
    decide = _times_ms(lambda: controller.decide(next(it)), repeats)
    compiled = [compile_consent(r) for r in resources[: 2_000 if quick else 20_000]]
    it = iter(one * 2)
    scan_repeats = max(20, repeats // 20)

    def scan() -> object:
        request = next(it)
        mine = [c for c in compiled if c.patient_id == request.patient_id]
        return evaluate_consent(mine, request).decision

    scan_time = _times_ms(scan, scan_repeats)
    scan_full_ms = scan_time["p50_ms"] * len(resources) / len(compiled)
    rows: dict[str, Any] = {"decide_one_patient": decide}
    for size in (1_000, 10_000):
        cohort = list(rng.choice(patient_ids, size=min(size, n_patients), replace=False))
        query = _request(rng, None)
        rows[f"allowed_patients_{size // 1000}k"] = _times_ms(
            lambda cohort=cohort, query=query: controller.allowed_patients(query, cohort),
            max(20, repeats // 20),
        )
    cohort = list(rng.choice(patient_ids, size=min(10_000, n_patients), replace=False))
    query = _request(rng, None)
    one_by_one = _times_ms(lambda: [index.allows(query, p) for p in cohort], 5)
    page = [
        {
            "resourceType": "Observation",
            "id": f"o{i}",
            "status": "final",
            "code": {"text": "glucose"},
            "subject": {"reference": f"Patient/{p}"},
            "effectiveDateTime": "2025-05-01T08:00:00Z",
        }
        for i, p in enumerate(rng.choice(patient_ids, size=100, replace=False))
    ]
    rows["filter_100"] = _times_ms(
        lambda: controller.filter_resources(query, page), max(20, repeats // 10)
    )
    result = {
        "benchmark": "access control + consent per request, 10^5 consents on file",
        "python": platform.python_version(),
        "consents": n_consents,
        "patients": n_patients,
        "optouts": len(optouts),
        "index_build_s": round(build_s, 2),
        "ours": rows,
        "peer_linear_scan_p50_ms_extrapolated": round(scan_full_ms, 3),
        "peer_one_by_one_10k_p50_ms": one_by_one["p50_ms"],
        "ratio_decide_vs_scan": round(scan_full_ms / decide["p50_ms"], 1),
        "ratio_batch_vs_one_by_one": round(
            one_by_one["p50_ms"] / rows["allowed_patients_10k"]["p50_ms"], 1
        ),
        "target_p50_ms": 2.0,
    }
    if not quick:
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    import sys

    main(quick="--quick" in sys.argv[1:])
