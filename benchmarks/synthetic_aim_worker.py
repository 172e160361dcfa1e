"""One AIM fit of the synthetic-data benchmark, in a process of its own.

``python -m benchmarks.synthetic_aim_worker FOLDER`` reads ``FOLDER/job.pkl`` (written by
:func:`benchmarks.synthetic.run_aim`: a table, the public schema, the AIM settings, the
seeds and the number of rows to draw), fits AIM on the table, samples, and writes
``FOLDER/result.json`` (``fit_s``, ``sample_s`` and the privacy statement) and, when the
job asks for them, the rows (``FOLDER/synthetic.pkl``).

jax keeps the machine code of every program it compiles, and AIM compiles one variable
elimination per candidate marginal and model structure: a second whas500 fit in the same
process died with "LLVM compilation error: Cannot allocate memory" (SIGSEGV), as earlier
tries with every fit in the benchmark's own process did. Hence one process per fit,
thrown away after.
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
    fitted = settings.fit(job["table"], rng=np.random.default_rng(job["fit_seed"]))
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    synthetic = fitted.sample(job["n_rows"], np.random.default_rng(job["sample_seed"]))
    sample_s = time.perf_counter() - start
    if job["keep_rows"]:
        (folder / "synthetic.pkl").write_bytes(pickle.dumps(synthetic))
    result = {"fit_s": fit_s, "sample_s": sample_s, "privacy": fitted.privacy()}
    (folder / "result.json").write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    run(Path(sys.argv[1]))
