"""Posterior sampling throughput: batched ensemble MCMC over patients against emcee.

Scenario: one-compartment propofol-like IV bolus (100 mg), 8 plasma samples over 2 h with
SD 0.2 mg/L, log V1 and log k10 with N(log prior, 0.5) priors; 32 walkers x ``STEPS``
steps per patient. healthtwin's sampler moves every patient's walkers in one model run per
half-step; emcee 3.1 (``vectorize=True``) samples one patient at a time, the way a per-
patient library is used. Both evaluate the same log posterior. Writes
``benchmarks/results/calibration.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from healthtwin.assimilation import OutputObservation, view_for
from healthtwin.assimilation.likelihood import CalibrationProblem
from healthtwin.assimilation.mcmc import sample_posterior
from healthtwin.core.inputs import Events, Inputs
from healthtwin.physiology.pkpd import PkPdModel, PkPdParameters

OUT = Path(__file__).resolve().parent / "results" / "calibration.json"
TIMES = np.array([2.0, 5.0, 10.0, 20.0, 40.0, 60.0, 90.0, 120.0])
WALKERS = 32


def _problem(patients: int) -> CalibrationProblem:
    model = PkPdModel(PkPdParameters(v1_l=20.0, k10=0.08), n_compartments=1)
    rng = np.random.default_rng(0)
    v1 = 20.0 * np.exp(rng.normal(0, 0.3, patients))
    k10 = 0.08 * np.exp(rng.normal(0, 0.3, patients))
    truth = np.outer(100.0 / v1, np.ones_like(TIMES)) * np.exp(-np.outer(k10, TIMES))
    view = view_for(model, states=[], parameters=dict.fromkeys(("v1_l", "k10"), (1e-4, 1e4)))
    return CalibrationProblem(
        model,
        model.initial_state(patients, rng),
        view,
        TIMES,
        truth + rng.normal(0, 0.2, truth.shape),
        OutputObservation(model, ["plasma_mg_l"], [0.2]),
        Inputs(events={"bolus_mg": Events([0.0], [100.0])}),
        np.log([20.0, 0.08]),
        np.array([0.5, 0.5]),
        ("v1_l", "k10"),
    )


def _cpu(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.process_time()
    fn()
    return time.process_time() - start


def main(quick: bool = False) -> dict[str, object]:
    import emcee

    patients, steps, peer_patients = (20, 200, 2) if quick else (200, 1000, 4)
    problem = _problem(patients)
    rng = np.random.default_rng(1)
    ours = _cpu(lambda: sample_posterior(problem, rng=rng, walkers=WALKERS, steps=steps))

    def peer() -> None:
        for p in range(peer_patients):

            def log_prob(theta: np.ndarray, p: int = p) -> np.ndarray:
                rows = np.full(theta.shape[0], p)
                return -problem.neg_log_posterior(rows, theta, rng)

            start = problem.prior_log_mean + 0.05 * rng.standard_normal((WALKERS, 2))
            emcee.EnsembleSampler(WALKERS, 2, log_prob, vectorize=True).run_mcmc(start, steps)

    peer_cpu = _cpu(peer)
    result: dict[str, object] = {
        "scenario": f"1-cmt PK, 8 samples, 2 parameters, {WALKERS} walkers x {steps} steps",
        "patients": patients,
        "healthtwin_cpu_s": round(ours, 3),
        "healthtwin_posteriors_per_cpu_s": round(patients / ours, 2),
        "emcee_patients_timed": peer_patients,
        "emcee_cpu_s_per_patient": round(peer_cpu / peer_patients, 3),
        "emcee_posteriors_per_cpu_s": round(peer_patients / peer_cpu, 3),
        "ratio": round((patients / ours) / (peer_patients / peer_cpu), 1),
    }
    if not quick:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result
