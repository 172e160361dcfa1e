"""What a world run writes: ``summary.json``, ``monitor.json``, CSV tables per scale and
``report.html``.

Every band is ``[low, median, high]`` over replicates, described by one
:class:`~healthtwin.scenarios.world_results.ReplicateBand`: the range of fewer than 20
replicates, else the 5-95 % quantiles; the CSV headers (``min``/``q0.05``, ``median``,
``max``/``q0.95``) and the report's labels say which. The tables:

- ``national.csv``: per country, day and quantity (admissions, ICU demand, deaths), the band.
- ``regions.csv``: per region and quantity (infections, attack rate, admissions, peak day
  of admissions, peak ICU demand, vaccine doses), the band over the run.
- ``hospitals.csv``: per hospital, replicate and day: admissions, beds occupied, deaths,
  overflow deaths, and patients waiting for a ward bed and for an ICU bed (mean over the
  day; their sum over days is person-days of waiting, their maximum the peak).
- ``hospital_totals.csv``: per hospital and quantity, the band over the run (waiting
  person-days and peak waiting by unit included).
- ``patients.csv`` (when hospitals have a ``patients:`` section): per hospital and age
  band, pooled over replicates: patients, ICU share, deaths, mean stay in the unit
  entered and patients triaged straight to the ICU.

``report.html`` is self-contained (figures inlined as PNG, no external resources): the key
numbers first, then per country its numbers, regions, hospitals (with waiting), the links
between scales and figures with labelled axes, then the cross-border monitor as a table.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
import json
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import MissingDependencyError
from healthtwin.scenarios.run import CountryResult, WorldResult
from healthtwin.scenarios.world_results import ReplicateBand, waiting

__all__ = ["KEY_NUMBERS", "write_outputs"]


def write_outputs(result: WorldResult, out_dir: str | Path) -> list[Path]:
    """Write ``summary.json``, ``monitor.json``, CSV tables and ``report.html``.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary()
    written = [out / "summary.json", out / "monitor.json"]
    written[0].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    written[1].write_text(result.monitor.to_json() + "\n", encoding="utf-8")
    if result.world.outputs.tables:
        written += _tables(result, summary, out)
    if result.federation is not None:  # W15b
        written.append(result.federation.write(out))
    if result.world.outputs.report:
        path = out / "report.html"
        path.write_text(_report_html(result, summary), encoding="utf-8")
        written.append(path)
    return written


def _band(result: WorldResult) -> ReplicateBand:
    return ReplicateBand(result.world.replicates)


def _csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _tables(result: WorldResult, summary: dict[str, Any], out: Path) -> list[Path]:
    band = _band(result)
    cols = list(band.columns)
    written = [
        _csv(out / "national.csv", ["country", "date", "quantity", *cols], _national_rows(result)),
        _csv(
            out / "regions.csv",
            ["country", "region", "population", "quantity", *cols],
            _region_rows(summary),
        ),
        _csv(
            out / "hospitals.csv",
            [
                "country",
                "hospital",
                "replicate",
                "day",
                "admissions",
                "occupancy",
                "deaths",
                "overflow_deaths",
                "ward_waiting",
                "icu_queue",
            ],
            _hospital_rows(result),
        ),
        _csv(
            out / "hospital_totals.csv",
            ["country", "hospital", "quantity", *cols],
            _hospital_total_rows(summary),
        ),
    ]
    patients = list(_patient_rows(summary))
    if patients:
        header = ["country", "hospital", "age_band", *PATIENT_COLUMNS]
        written.append(_csv(out / "patients.csv", header, patients))
    return written


def _national_rows(result: WorldResult) -> Iterable[list[Any]]:
    band, start = _band(result), result.world.start_date
    for c in result.countries:
        for name in ("admissions", "icu_occupancy", "deaths"):
            q = np.quantile(c.national(name).totals, band.levels, axis=0)
            for d in range(q.shape[1]):
                day = (start + dt.timedelta(days=d)).isoformat()
                yield [c.name, day, name, *(f"{v:g}" for v in q[:, d])]


def _region_rows(summary: dict[str, Any]) -> Iterable[list[Any]]:
    for country, s in summary["countries"].items():
        for region, r in s["regions"].items():
            for key in REGION_QUANTITIES:
                if r[key] is not None:
                    yield [
                        country,
                        region,
                        f"{r['population']:g}",
                        key,
                        *(f"{v:g}" for v in r[key]),
                    ]


def _hospital_rows(result: WorldResult) -> Iterable[list[Any]]:
    sites = {c.name: c.hospitals for c in result.world.countries}
    for c in result.countries:
        adm, occ = c.hospital_admissions(), c.hospital_occupancy()
        died, queue = c.hospital_deaths(), c.icu_queue_days()
        ward = waiting(c, sites.get(c.name), "ward")
        over = np.asarray(c.hospital_overflow_deaths)
        for rep in range(adm.shape[0]):
            for h, name in enumerate(c.hospitals):
                for d in range(adm.shape[1]):
                    i = (rep, d, h)
                    yield [
                        c.name,
                        name,
                        rep,
                        d,
                        adm[i],
                        f"{occ[i]:.3f}",
                        f"{died[i]:g}",
                        f"{over[i]:.4f}",
                        f"{ward[i]:.3f}",
                        f"{queue[i]:.3f}",
                    ]


def _hospital_total_rows(summary: dict[str, Any]) -> Iterable[list[Any]]:
    for country, s in summary["countries"].items():
        for name, h in s["hospitals"].items():
            for key in (*_HOSPITAL_COLUMNS, "icu_admissions"):
                if key in h and key not in ("queue_days", "peak_waiting"):
                    yield [country, name, key, *(f"{v:g}" for v in h[key])]
            for key in ("queue_days", "peak_waiting"):
                for unit, q in h[key].items():
                    yield [country, name, f"{key}.{unit}", *(f"{v:g}" for v in q)]


#: Columns of ``patients.csv`` after country, hospital and age band (pooled over replicates).
PATIENT_COLUMNS = ("patients", "icu_share", "deaths", "mean_entry_los_hours", "triaged")


def _patient_rows(summary: dict[str, Any]) -> Iterable[list[Any]]:
    for country, s in summary["countries"].items():
        for name, h in s["hospitals"].items():
            for age, b in (h.get("patients") or {}).get("by_age_band", {}).items():
                yield [
                    country,
                    name,
                    age,
                    *("" if b.get(k) is None else b[k] for k in PATIENT_COLUMNS),
                ]


#: The report's first table: (summary key of a country, row name, unit or note).
KEY_NUMBERS = (
    ("infections", "Infections", "people"),
    ("attack_rate", "Attack rate", "share of the population infected"),
    ("admissions", "Hospital admissions", "patients"),
    ("icu_admissions", "ICU admissions", "patients whose route reached the ICU"),
    ("hospital_deaths", "Deaths in hospital", "people"),
    ("overflow_deaths", "Deaths from ICU overflow", "people waiting for an ICU bed"),
    ("ward_queue_days", "Waiting for a ward bed", "person-days"),
    ("icu_queue_days", "Waiting for an ICU bed", "person-days"),
    ("beds_moved", "ICU beds moved by the national planner", "beds"),
)

_COUNTRY_ROWS = {
    "admissions": "Hospital admissions",
    "deaths": "Deaths (in hospital + ICU overflow + community)",
    "hospital_deaths": "Deaths in hospital (simulated)",
    "overflow_deaths": "Deaths from ICU overflow",
    "community_deaths": "Deaths outside hospital",
    "epidemic_deaths": "Deaths in the population model (for comparison)",
    "ward_queue_days": "Waiting for a ward bed (person-days)",
    "icu_queue_days": "Waiting for an ICU bed (person-days)",
    "peak_icu_demand": "Peak ICU demand (patients)",
}
_HOSPITAL_COLUMNS = (
    "admissions",
    "peak_occupancy",
    "deaths",
    "overflow_deaths",
    "discharges",
    "queue_days",
    "peak_waiting",
)
REGION_QUANTITIES = (
    "infections",
    "attack_rate",
    "admissions",
    "peak_admissions_day",
    "peak_icu_demand",
    "vaccine_doses",
)
_REGION_NAMES = (
    "Infections",
    "Attack rate",
    "Admissions",
    "Peak day of admissions",
    "Peak ICU demand",
    "Vaccine doses given",
)


def _report_html(result: WorldResult, summary: dict[str, Any]) -> str:
    band, world = _band(result), result.world
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(world.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:64em;margin:auto}"
        "td,th{padding:2px 8px;text-align:right}caption{text-align:left;font-weight:bold}"
        "figure{margin:1em 0}.note{color:#444}</style></head><body>",
        f"<h1>{html.escape(world.name)}</h1>",
        f"<p>Seed {world.seed}, {world.days} days from {world.start_date}, "
        f"{world.replicates} replicates. Numbers are the median [{band.label}]; cumulative "
        f"totals are to day {world.days}.</p>",
        _key_numbers_html(summary, band),
    ]
    for c in result.countries:
        parts.append(_country_html(c, summary["countries"][c.name], band, world.days))
    if result.federation is not None:  # W15b
        parts.append(result.federation.report_html())
    parts.append(_monitor_html(result))
    parts.append("</body></html>\n")
    return "".join(parts)


def _key_numbers_html(summary: dict[str, Any], band: ReplicateBand) -> str:
    names = list(summary["countries"])
    head = "".join(f"<th scope='col'>{html.escape(n)}</th>" for n in names)
    rows = []
    for key, label, unit in KEY_NUMBERS:
        cells = "".join(f"<td>{_cell(summary['countries'][n].get(key), key)}</td>" for n in names)
        rows.append(f"<tr><th scope='row'>{label} <small>({unit})</small></th>{cells}</tr>")
    return (
        f"<table id='key-numbers'><caption>Key numbers to day {summary['totals_to_day']}: "
        f"median [{band.label}]</caption><tr><th scope='col'>quantity</th>{head}</tr>"
        + "".join(rows)
        + "</table>"
    )


def _cell(value: Any, key: str = "") -> str:
    """A summary value as text: a band ``median [low, high]``, a number, or why not."""
    if value is None:
        return "none given" if key == "vaccine_doses" else "not recorded"
    if isinstance(value, list):
        return _fmt(value, percent=key == "attack_rate")
    return f"{value:g}"


def _country_html(c: CountryResult, s: dict[str, Any], band: ReplicateBand, days: int) -> str:
    rows = "".join(
        f"<tr><th scope='row'>{label}</th><td>{_fmt(s[key])}</td></tr>"
        for key, label in _COUNTRY_ROWS.items()
    )
    growth = s.get("growth_at_horizon")
    parts = [
        f"<h2>{html.escape(c.name)}</h2>",
        f"<table><caption>To day {days}: median [{band.label}]</caption>{rows}"
        f"<tr><th scope='row'>ICU beds</th><td>{s['icu_beds']:g}</td></tr></table>",
        "<p class='note'>Deaths = deaths in hospital (simulated in the hospitals) + deaths "
        "from ICU overflow (patients waiting for an ICU bed, stress-test rule) + deaths "
        "outside hospital (none: the population model's deaths are in hospital). The "
        "population model's own count is for comparison, not part of the total.</p>",
    ]
    if growth is not None:
        parts.append(f"<p class='note'>Epidemic at the horizon: {html.escape(growth['note'])}.</p>")
    parts += [
        _regions_html(s, band),
        _hospitals_html(s, band),
        _links_html(s),
        _national_html(s),
        _reviews_html(s),
        _patients_html(s),
        _figure(
            partial(_plot_regions, c=c),
            "Regions: hospital admissions per day",
            "admissions per day (patients)",
        ),
        _figure(
            partial(_plot_hospitals, c=c),
            "Hospitals: beds occupied, with their beds",
            "beds occupied (patients)",
        ),
        _figure(
            partial(_plot_waiting, c=c),
            "Hospitals: patients waiting for a bed",
            "waiting (patients, daily mean)",
        ),
        _figure(
            partial(_plot_nation, c=c), "Nation: ICU demand and ICU beds", "ICU patients (people)"
        ),
    ]
    return "".join(parts)


def _table(caption: str, head: list[str], rows: list[tuple[str, list[str]]]) -> str:
    th = "".join(f"<th scope='col'>{h}</th>" for h in head)
    body = "".join(
        f"<tr><th scope='row'>{html.escape(name)}</th>"
        + "".join(f"<td>{v}</td>" for v in cells)
        + "</tr>"
        for name, cells in rows
    )
    return f"<table><caption>{caption}</caption><tr>{th}</tr>{body}</table>"


def _regions_html(s: dict[str, Any], band: ReplicateBand) -> str:
    rows = [
        (name, [f"{r['population']:,.0f}"] + [_cell(r[k], k) for k in REGION_QUANTITIES])
        for name, r in s["regions"].items()
    ]
    return "<h3>Regions</h3>" + _table(
        f"Per region, median [{band.label}]", ["region", "population", *_REGION_NAMES], rows
    )


def _hospitals_html(s: dict[str, Any], band: ReplicateBand) -> str:
    head = [
        "hospital",
        "admissions",
        "peak beds occupied",
        "deaths",
        "deaths from ICU overflow",
        "discharges",
        "waiting person-days by unit",
        "peak patients waiting by unit",
    ]
    rows = []
    for name, h in s["hospitals"].items():
        cells = [_fmt(h[k]) for k in _HOSPITAL_COLUMNS[:5]]
        for key in ("queue_days", "peak_waiting"):
            beds = h.get("beds", {})
            cells.append(
                "<br>".join(
                    f"{html.escape(u)}: {_fmt(q)}" + (f" ({beds[u]} beds)" if u in beds else "")
                    for u, q in h[key].items()
                )
            )
        rows.append((name, cells))
    return "<h3>Hospitals</h3>" + _table(f"Per hospital, median [{band.label}]", head, rows)


def _links_html(s: dict[str, Any]) -> str:
    """Per hospital: the region it serves, what it received, what the planner and model did."""
    rows = []
    for name, h in s["hospitals"].items():
        catchment = h.get("catchment") or {}
        moved = h.get("icu_beds_moved")
        rows.append(
            (
                name,
                [
                    html.escape(str(catchment.get("region", "-"))),
                    f"{catchment['share']:.0%}" if "share" in catchment else "-",
                    _fmt(h["admissions"]),
                    "-" if moved is None else _fmt_signed(moved),
                    html.escape(_model_did(h)),
                ],
            )
        )
    head = [
        "hospital",
        "catchment region",
        "share of its admissions",
        "admissions routed",
        "ICU beds moved by the planner",
        "prognosis model: what it did",
    ]
    return "<h3>Links between scales</h3>" + _table(
        "Region to hospital to nation: routing, the planner and the shared model", head, rows
    )


def _model_did(h: dict[str, Any]) -> str:
    card = h.get("prognosis_model")
    if not card:
        return "none"
    patients = h.get("patients") or {}
    version = f"{card.get('model', 'model')} {card.get('version', '')}".strip()
    check = patients.get("prognosis_check") or {}
    scored = (
        f" (AUROC {check['auroc']:.2f} against the twins' ICU need)"
        if check.get("auroc") is not None and check.get("outcome") == "twin_icu_need"
        else ""
    )
    if "triage" in patients:
        t = patients["triage"]
        return f"{version}: triaged {t['triaged']} of {t['patients']} patients to the ICU{scored}"
    if card.get("applied_to_pathway") and patients.get("course") != "twins":
        return f"{version}: set the ward-to-ICU probability to {card['icu_probability_after']:.3f}"
    return f"{version}: recorded and checked on the admitted patients{scored}"


def _national_html(s: dict[str, Any]) -> str:
    """The national planner's reallocations and unmet ICU bed-days with and without them."""
    if not s["reallocations"]:
        return ""
    moves = ", ".join(f"day {r['day']}: {_fmt(r['moved'])} beds" for r in s["reallocations"])
    return (
        "<h3>National ICU planner</h3><p>Each replicate's planner plans on its own past; "
        f"beds moved (median [band] over replicates): {html.escape(moves)}.</p><table>"
        f"<tr><th scope='row'>Unmet ICU bed-days</th><td>{_fmt(s['unmet_icu_bed_days'])}</td></tr>"
        "<tr><th scope='row'>without the reallocations</th>"
        f"<td>{_fmt(s['unmet_icu_bed_days_without_reallocation'])}</td></tr></table>"
        "<p class='note'>Unmet ICU bed-days are the planner's own measure: the epidemic's "
        "ICU demand above each region's beds, day by day, on the same epidemic with and "
        "without the moves. The hospitals' simulated ICU queues (waiting for an ICU bed, in "
        "the key numbers) also depend on how their patients flow between units, and are "
        "what the overflow deaths come from.</p>"
    )


def _reviews_html(s: dict[str, Any]) -> str:
    """The hospital loop's reviews: where the hospitals' occupancy cut contacts."""
    reviews = s.get("occupancy_reviews") or []
    cut = [r for r in reviews if any(v > 0 for v in r["share_of_replicates_above"].values())]
    if not reviews:
        return ""
    rows = "".join(
        f"<tr><th scope='row'>day {r['day']}</th><td>"
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


_PATIENT_KEYS = {
    "mean_entry_los_hours": "Mean stay in the unit entered (hours)",
    "news2_mean": "Mean NEWS2 score",
    "news2_alert_share": "Share of NEWS2 readings at alert level",
    "twin_icu_need_share": "Share whose twin predicted ICU need",
    "icu_transfer_share": "Share who reached the ICU",
}


def _patients_html(s: dict[str, Any]) -> str:
    """Per hospital: the admitted patients' course, stays, NEWS2 and predicted ICU need."""
    rows = [(name, h["patients"]) for name, h in s["hospitals"].items() if "patients" in h]
    if not rows:
        return ""
    body = [
        (
            name,
            [html.escape(str(p["course"]))]
            + ["-" if p[k] is None else f"{p[k]:.2f}" for k in _PATIENT_KEYS],
        )
        for name, p in rows
    ]
    return "<h3>Patients</h3>" + _table(
        "Admitted patients, pooled over replicates",
        ["hospital", "clinical course", *_PATIENT_KEYS.values()],
        body,
    )


def _monitor_html(result: WorldResult) -> str:
    """The cross-border monitor's alarms of its latest week, as a table."""
    m = result.monitor
    alarms = ", ".join(sorted(result.alarms)) or "none"
    rows = [
        (
            a.key.country,
            [
                html.escape(a.key.disease),
                html.escape(a.key.syndrome),
                str(m.week),
                f"{a.observed:g}",
                f"{a.upperbound:.1f}",
                f"{a.exceedance_ratio:.2f}",
                html.escape(", ".join(a.neighbours_alarming) or "-"),
            ],
        )
        for a in m.alarms
    ]
    head = [
        "country",
        "disease",
        "syndrome",
        "alarm week",
        "observed cases",
        "threshold",
        "observed / threshold",
        "neighbours alarming",
    ]
    rows += [
        (u.key.country, [html.escape(u.key.disease), html.escape(u.key.syndrome), str(m.week),
                         "-", "-", "-", f"no threshold: {html.escape(u.reason)}"])
        for u in m.undefined
    ]  # fmt: skip
    table = _table(f"Alarms of the week of {m.week} ({html.escape(m.method)})", head, rows)
    return (
        f"<h2>World: cross-border monitor</h2><p>{m.n_series} series watched; alarming "
        f"countries this week: {html.escape(alarms)}.</p>" + (table if rows else "")
    )


def _fmt_signed(q: list[float]) -> str:
    """A band of signed whole numbers, ``+median [low, high]`` (one number when all equal)."""
    low, mid, high = (round(x) for x in q)
    return f"{mid:+d}" if low == high else f"{mid:+d} [{low:+d}, {high:+d}]"


def _fmt(q: list[float], *, percent: bool = False) -> str:
    """``median [low, high]``: percentages, whole counts without decimals, else one."""
    if percent:
        return f"{q[1]:.1%} [{q[0]:.1%}, {q[2]:.1%}]"
    if all(float(x).is_integer() for x in q):
        return f"{q[1]:.0f} [{q[0]:.0f}, {q[2]:.0f}]"
    return f"{q[1]:.1f} [{q[0]:.1f}, {q[2]:.1f}]"


def _figure(draw: Callable[[Any], None], title: str, ylabel: str) -> str:
    """A figure with labelled axes, inlined as PNG, with its caption and alt text."""
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
        ax.set_xlabel("day of the run")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)  # every quantity drawn is a count of people
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        alt = f"{title}. x-axis: {ax.get_xlabel()}; y-axis: {ax.get_ylabel()}"
    finally:
        plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f"<figure><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(title)} (y-axis: {html.escape(ylabel)}); lines are "
        "medians, shaded bands the band of the key numbers.</figcaption></figure>"
    )


def _draw_band(ax: Any, values: FloatArray, label: str) -> Any:
    q = np.quantile(values, ReplicateBand(values.shape[0]).levels, axis=0)
    days = np.arange(q.shape[1])
    ax.fill_between(days, q[0], q[2], alpha=0.3)
    return ax.plot(days, q[1], label=label)[0]


#: Series drawn per figure: the largest, the rest summed into one band (47 regions would
#: make an unreadable figure and a legend taller than it).
MAX_SERIES = 8


def _bands(
    ax: Any, values: FloatArray, labels: tuple[str, ...], lines: FloatArray | None = None
) -> None:
    """One band per series of ``values`` ``(reps, days, n)``, the largest ``MAX_SERIES``.

    ``lines`` ``(n,)``: a dashed level per drawn series in its colour (its beds).
    """
    order = np.argsort(-values.sum(axis=(0, 1)), kind="stable")
    for k in order[:MAX_SERIES]:
        line = _draw_band(ax, values[:, :, k], labels[k])
        if lines is not None:
            ax.axhline(float(lines[k]), color=line.get_color(), linestyle="--", linewidth=0.8)
    if order.size > MAX_SERIES:
        rest = values[:, :, order[MAX_SERIES:]].sum(axis=2)
        _draw_band(ax, rest, f"{order.size - MAX_SERIES} others")


def _plot_regions(ax: Any, c: CountryResult) -> None:
    _bands(ax, np.asarray(c.epidemic.admissions, dtype=float), c.epidemic.regions)


def _plot_hospitals(ax: Any, c: CountryResult) -> None:
    beds = np.array([float(c.hospital_runs[0][h].beds.sum()) for h in range(len(c.hospitals))])
    _bands(ax, c.hospital_occupancy(), c.hospitals, beds)
    ax.plot([], [], color="grey", linestyle="--", label="beds (dashed, same colour)")


def _plot_waiting(ax: Any, c: CountryResult) -> None:
    total = np.stack(
        [np.stack([r.queue_days.sum(axis=1) for r in row], -1) for row in c.hospital_runs]
    )
    _bands(ax, total, c.hospitals)


def _plot_nation(ax: Any, c: CountryResult) -> None:
    _draw_band(ax, c.national("icu_occupancy").totals, "ICU demand")
    for i, plan in enumerate(c.reallocations[0] if c.reallocations else ()):
        # Beds are conserved nationally: the national line stays, they move between regions.
        ax.axvline(plan.day, color="grey", linestyle=":", label="reallocation" if i == 0 else None)
    ax.axhline(float(c.icu_beds.sum()), color="k", linestyle="--", label="ICU beds")
