"""Type-2 diabetes prevalence projected with and without a prevention programme.

:func:`project_prevention_programme` ages a synthetic adult population with the published
US rates, with and without a programme that lowers the progression rate of those who join
(:func:`healthtwin.population.chronic.project_t2d_programme`; the Diabetes Prevention
Program's rate ratio is 0.42), and writes ``prevalence.csv`` (by year and arm: mean
prevalence with its 5-95 % range over replicates, mean incidence and deaths) and
``programme.json`` (the programme's effect, 5th, 50th and 95th percentiles).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.population.chronic import project_t2d_programme

__all__ = ["project_prevention_programme"]


def project_prevention_programme(
    out: Path,
    *,
    people: int = 20_000,
    years: int = 20,
    start_year: int = 2025,
    uptake: float = 0.3,
    rate_ratio: float = 0.42,
    cost: float = 0.0,
    replicates: int = 10,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Project both arms, write the tables into ``out`` (created) and return the summary.

    Parameters
    ----------
    out
        Folder for ``prevalence.csv`` and ``programme.json``.
    people, years, start_year
        Synthetic adults, years projected and the first calendar year.
    uptake, rate_ratio, cost
        Share of eligible people who join, their progression rate ratio and the cost per
        participant.
    replicates, seed
        Replicates on common random numbers and the seed.
    on_progress
        ``(years projected, 2 x years)`` over the baseline and programme arms.

    Returns
    -------
    dict
        The summary written to ``programme.json``: the settings and
        ``effect_q05_q50_q95`` (cases averted, cost...).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> summary = project_prevention_programme(folder, people=1000, years=3, replicates=3,
    ...                                        uptake=0.5)
    >>> len((folder / "prevalence.csv").read_text().splitlines())
    7
    >>> len(summary["effect_q05_q50_q95"]["cases_averted"])
    3
    """
    base, arm, effect = project_t2d_programme(
        n=people,
        years=years,
        start_year=start_year,
        uptake=uptake,
        rate_ratio=rate_ratio,
        cost_per_participant=cost,
        replicates=replicates,
        seed=seed,
        on_progress=on_progress,
    )
    out.mkdir(parents=True, exist_ok=True)
    with (out / "prevalence.csv").open("w", encoding="utf-8") as handle:
        handle.write(
            "year,arm,prevalence_mean,prevalence_q05,prevalence_q95,incidence_mean,deaths_mean\n"
        )
        for label, projection in (("baseline", base), ("programme", arm)):
            prevalence, incidence, deaths = (
                projection.prevalence,
                projection.incidence,
                projection.deaths,
            )
            for y in range(prevalence.shape[1]):
                lo, hi = np.quantile(prevalence[:, y], [0.05, 0.95])
                handle.write(
                    f"{start_year + y},{label},{prevalence[:, y].mean():.6g},{lo:.6g},{hi:.6g},"
                    f"{incidence[:, y].mean():.6g},{deaths[:, y].mean():.6g}\n"
                )
    summary: dict[str, Any] = {
        "people": people,
        "years": years,
        "uptake": uptake,
        "rate_ratio": rate_ratio,
    }
    summary["effect_q05_q50_q95"] = effect.summary()
    (out / "programme.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary
