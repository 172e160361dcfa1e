"""What a world run writes: ``summary.json``, ``monitor.json``, CSV tables per scale and
``report.html`` (plots per scale and the key numbers with their bands; matplotlib figures
inlined as PNG, no external resources).
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import MissingDependencyError
from healthtwin.scenarios.run import LEVELS, CountryResult, WorldResult

__all__ = ["write_outputs"]


def write_outputs(result: WorldResult, out_dir: str | Path) -> list[Path]:
    """Write ``summary.json``, ``monitor.json``, CSV tables and ``report.html``.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "summary.json", out / "monitor.json"]
    written[0].write_text(json.dumps(result.summary(), indent=2) + "\n", encoding="utf-8")
    written[1].write_text(result.monitor.to_json() + "\n", encoding="utf-8")
    if result.world.outputs.tables:
        written += _tables(result, out)
    if result.federation is not None:  # W15b
        written.append(result.federation.write(out))
    if result.world.outputs.report:
        path = out / "report.html"
        path.write_text(_report_html(result), encoding="utf-8")
        written.append(path)
    return written


def _tables(result: WorldResult, out: Path) -> list[Path]:
    national = out / "national.csv"
    hospitals = out / "hospitals.csv"
    start = result.world.start_date
    with national.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["country", "date", "quantity", *(f"q{lv:g}" for lv in LEVELS)])
        for c in result.countries:
            for name in ("admissions", "icu_occupancy", "deaths"):
                q = c.national(name).quantiles
                for d in range(q.shape[1]):
                    day = (start + dt.timedelta(days=d)).isoformat()
                    w.writerow([c.name, day, name, *(f"{v:g}" for v in q[:, d])])
    with hospitals.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["country", "hospital", "replicate", "day", "admissions", "occupancy",
                    "deaths", "overflow_deaths", "icu_queue"])  # fmt: skip
        for c in result.countries:
            adm, occ = c.hospital_admissions(), c.hospital_occupancy()
            died, queue = c.hospital_deaths(), c.icu_queue_days()
            over = np.asarray(c.hospital_overflow_deaths)
            for rep in range(adm.shape[0]):
                for h, name in enumerate(c.hospitals):
                    for d in range(adm.shape[1]):
                        i = (rep, d, h)
                        w.writerow([c.name, name, rep, d, adm[i], f"{occ[i]:.3f}", f"{died[i]:g}",
                                    f"{over[i]:.4f}", f"{queue[i]:.3f}"])  # fmt: skip
    return [national, hospitals]


def _report_html(result: WorldResult) -> str:
    summary = result.summary()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(result.world.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
        "td,th{padding:2px 8px;text-align:right}</style></head><body>",
        f"<h1>{html.escape(result.world.name)}</h1>",
        f"<p>Seed {result.world.seed}, {result.world.days} days from "
        f"{result.world.start_date}, {result.world.replicates} replicates; numbers are "
        "median [5 %, 95 %] over replicates.</p>",
    ]
    for c in result.countries:
        s = summary["countries"][c.name]
        parts.append(f"<h2>{html.escape(c.name)}</h2><table>")
        for key in _COUNTRY_ROWS:
            parts.append(f"<tr><th>{key}</th><td>{_fmt(s[key])}</td></tr>")
        parts.append(f"<tr><th>icu_beds</th><td>{s['icu_beds']:g}</td></tr></table>")
        parts.append(
            "<p>deaths = hospital_deaths (simulated in the hospitals) + overflow_deaths "
            "(waiting for an ICU bed, stress-test rule) + community_deaths (none: the "
            "population model's deaths are in hospital); epidemic_deaths is the population "
            "model's own count, for comparison, not part of the total.</p>"
        )
        parts.append("<h3>Hospitals</h3><table><tr><th>hospital</th><th>admissions</th>"
                     "<th>peak occupancy</th><th>deaths</th><th>overflow deaths</th>"
                     "<th>discharges</th><th>ICU queue (people-days)</th></tr>")  # fmt: skip
        for name, h in s["hospitals"].items():
            cells = "".join(f"<td>{_fmt(h[k])}</td>" for k in _HOSPITAL_COLUMNS)
            parts.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
        parts.append("</table>")
        parts.append(_national_html(s) + _reviews_html(s) + _patients_html(s))
        parts.append(_figure(partial(_plot_regions, c=c), "Region: admissions"))
        parts.append(_figure(partial(_plot_hospitals, c=c), "Hospitals: occupancy"))
        parts.append(_figure(partial(_plot_nation, c=c), "Nation: ICU demand"))
    if result.federation is not None:  # W15b
        parts.append(result.federation.report_html())
    alarms = ", ".join(sorted(result.alarms)) or "none"
    parts.append(f"<h2>World</h2><p>Alarming countries this week: {html.escape(alarms)}</p>")
    parts.append(f"<pre>{html.escape(result.monitor.to_json())}</pre></body></html>\n")
    return "".join(parts)


_COUNTRY_ROWS = (
    "admissions",
    "deaths",
    "hospital_deaths",
    "overflow_deaths",
    "community_deaths",
    "epidemic_deaths",
    "icu_queue_days",
    "peak_icu_demand",
)
_HOSPITAL_COLUMNS = (
    "admissions",
    "peak_occupancy",
    "deaths",
    "overflow_deaths",
    "discharges",
    "icu_queue_days",
)


def _national_html(s: dict[str, Any]) -> str:
    """The national planner's reallocations and unmet ICU bed-days with and without them."""
    if not s["reallocations"]:
        return ""
    moves = ", ".join(f"day {r['day']}: {r['moved']} beds" for r in s["reallocations"])
    return (
        f"<h3>National ICU planner</h3><p>Reallocations: {html.escape(moves)}.</p><table>"
        f"<tr><th>unmet ICU bed-days</th><td>{_fmt(s['unmet_icu_bed_days'])}</td></tr>"
        "<tr><th>without reallocation</th>"
        f"<td>{_fmt(s['unmet_icu_bed_days_without_reallocation'])}</td></tr></table>"
    )


def _reviews_html(s: dict[str, Any]) -> str:
    """The hospital loop's reviews: where the hospitals' occupancy cut contacts."""
    reviews = s.get("occupancy_reviews") or []
    cut = [r for r in reviews if any(v > 0 for v in r["share_of_replicates_above"].values())]
    if not reviews:
        return ""
    rows = "".join(
        f"<tr><th>day {r['day']}</th><td>"
        + html.escape(
            ", ".join(f"{k}: {v:.0%}" for k, v in r["share_of_replicates_above"].items() if v > 0)
        )
        + "</td></tr>"
        for r in cut
    )
    return (
        "<h3>Hospital occupancy reviews</h3><p>The hospitals were simulated with the "
        f"epidemic and reviewed {len(reviews)} times; contacts were cut from the next day "
        "in the regions whose hospitals were above the occupancy line (share of "
        f"replicates):</p><table>{rows or '<tr><td>never above the line</td></tr>'}</table>"
    )


def _patients_html(s: dict[str, Any]) -> str:
    """Per hospital: the admitted patients' course, stays, NEWS2 and predicted ICU need."""
    rows = [(name, h["patients"]) for name, h in s["hospitals"].items() if "patients" in h]
    if not rows:
        return ""
    keys = ("mean_entry_los_hours", "news2_mean", "news2_alert_share", "twin_icu_need_share",
            "icu_transfer_share")  # fmt: skip
    head = "".join(f"<th>{k.replace('_', ' ')}</th>" for k in ("course", *keys))
    body = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{p['course']}</td>"
        + "".join("<td>-</td>" if p[k] is None else f"<td>{p[k]:.2f}</td>" for k in keys)
        + "</tr>"
        for name, p in rows
    )
    return f"<h3>Patients</h3><table><tr><th>hospital</th>{head}</tr>{body}</table>"


def _fmt(q: list[float]) -> str:
    return f"{q[1]:.1f} [{q[0]:.1f}, {q[2]:.1f}]"


def _figure(draw: Callable[[Any], None], title: str) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - matplotlib is a dependency of reports
        raise MissingDependencyError(
            "the HTML report needs matplotlib; install it with pip install matplotlib"
        ) from err
    fig, ax = plt.subplots(figsize=(7, 3))
    try:
        draw(ax)
        ax.set_title(title)
        ax.set_xlabel("day")
        ax.legend(fontsize=7)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
    finally:
        plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"<img alt='{html.escape(title)}' src='data:image/png;base64,{data}'>"


def _band(ax: Any, values: FloatArray, label: str) -> None:
    q = np.quantile(values, LEVELS, axis=0)
    days = np.arange(q.shape[1])
    ax.fill_between(days, q[0], q[2], alpha=0.3)
    ax.plot(days, q[1], label=label)


#: Series drawn per figure: the largest, the rest summed into one band (47 regions would
#: make an unreadable figure and a legend taller than it).
MAX_SERIES = 8


def _bands(ax: Any, values: FloatArray, labels: tuple[str, ...]) -> None:
    """One band per series of ``values`` ``(reps, days, n)``, the largest ``MAX_SERIES``."""
    order = np.argsort(-values.sum(axis=(0, 1)), kind="stable")
    for k in order[:MAX_SERIES]:
        _band(ax, values[:, :, k], labels[k])
    if order.size > MAX_SERIES:
        rest = values[:, :, order[MAX_SERIES:]].sum(axis=2)
        _band(ax, rest, f"{order.size - MAX_SERIES} others")


def _plot_regions(ax: Any, c: CountryResult) -> None:
    _bands(ax, np.asarray(c.epidemic.admissions, dtype=float), c.epidemic.regions)


def _plot_hospitals(ax: Any, c: CountryResult) -> None:
    _bands(ax, c.hospital_occupancy(), c.hospitals)


def _plot_nation(ax: Any, c: CountryResult) -> None:
    _band(ax, c.national("icu_occupancy").totals, "ICU demand")
    for i, plan in enumerate(c.reallocations):
        # Beds are conserved nationally: the national line stays, they move between regions.
        ax.axvline(plan.day, color="grey", linestyle=":", label="reallocation" if i == 0 else None)
    ax.axhline(float(c.icu_beds.sum()), color="k", linestyle="--", label="ICU beds")
