"""One AIM fit of the synthetic-data benchmark, in a process of its own.

``python -m benchmarks.synthetic_aim_worker FOLDER`` reads ``FOLDER/job.pkl`` (written by
:func:`benchmarks.synthetic.run_aim`: a table, the public schema, the AIM settings, the
seeds and the number of rows to draw), fits AIM on the table, samples, and writes
``FOLDER/result.json`` (``fit_s``, ``sample_s`` and the privacy statement) and, when the
job asks for them, the rows (``FOLDER/synthetic.pkl``).

``round_s_median`` is the median wall time of one round (selection and estimate), from
AIM's progress callback. After every round the worker also rewrites
``FOLDER/progress.json`` (``rounds`` done, ``elapsed_s``, ``budget_fraction`` spent), so a
child killed at its time limit still tells how far it got.

AIM used to compile one jax variable elimination per candidate marginal, and a second
whas500 fit in one process died with "LLVM compilation error: Cannot allocate memory"
(SIGSEGV). Candidates are now scored in numpy, but every round still compiles its
estimate, so each fit keeps a process of its own: a crash or a hang ends the child, not
the benchmark.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def run(folder: Path) -> None:
    """Run the job in ``folder`` (see the module docstring)."""
    from healthtwin.synthetic import AIM

    job: dict[str, Any] = pickle.loads((folder / "job.pkl").read_bytes())
    settings = AIM(schema=job["schema"], **job["settings"])
    start = time.perf_counter()
    ticks = [start]

    def tick(fraction: float, step: str) -> None:
        ticks.append(time.perf_counter())
        progress = {"rounds": len(ticks) - 2, "elapsed_s": round(ticks[-1] - start, 2),
                    "budget_fraction": round(fraction, 4)}  # fmt: skip
        (folder / "progress.json").write_text(json.dumps(progress))

    fitted = settings.fit(job["table"], rng=np.random.default_rng(job["fit_seed"]), progress=tick)
    fit_s = time.perf_counter() - start
    # ticks[1] ends the one-way step; each later tick ends a round (selection + estimate).
    rounds_s = np.diff(ticks[1:])
    start = time.perf_counter()
    synthetic = fitted.sample(job["n_rows"], np.random.default_rng(job["sample_seed"]))
    sample_s = time.perf_counter() - start
    if job["keep_rows"]:
        (folder / "synthetic.pkl").write_bytes(pickle.dumps(synthetic))
    result = {
        "fit_s": fit_s,
        "sample_s": sample_s,
        "round_s_median": float(np.median(rounds_s)) if rounds_s.size else None,
        "privacy": fitted.privacy(),
    }
    (folder / "result.json").write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    run(Path(sys.argv[1]))
