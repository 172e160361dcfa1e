"""The HTML report of a closed-loop controller evaluation: metrics, paired differences, plots.

:func:`write_report` writes one self-contained page (plots embedded as PNG, no external
files) for an :class:`~healthtwin.coupling.evaluation.Evaluation`: per scenario, each
controller's mean and SD over patient-runs with its simulation speed, the paired
differences from the baseline (the first controller) with 95 % intervals, coloured when
significant, and the median and 10-90 % band of true glucose per controller.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from healthtwin.coupling.evaluation import METRICS, Evaluation

__all__ = ["write_report"]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.better{color:#1a7f37}.worse{color:#c62828}caption{text-align:left;font-weight:600}
"""


def _figure(evaluation: Evaluation, scenario: str) -> str | None:
    """Median and 10-90 % band of true glucose per controller, as an embedded PNG."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for name in evaluation.controllers:
        run = evaluation.runs[(scenario, name)]
        hours = run.t_min / 60.0
        lo, mid, hi = np.percentile(run.bg_mg_dl, [10, 50, 90], axis=0)
        ax.plot(hours, mid, lw=1.3, label=name)
        ax.fill_between(hours, lo, hi, alpha=0.15)
    ax.axhspan(70, 180, color="green", alpha=0.06)
    ax.set_xlabel("time (h)")
    ax.set_ylabel("plasma glucose (mg/dL)")
    ax.legend(fontsize=8, ncol=len(evaluation.controllers), loc="upper left")
    ax.set_title(f"{scenario}: median and 10-90 % of patient-runs")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _metrics_table(evaluation: Evaluation, scenario: str) -> str:
    table = evaluation.table(scenario)
    head = "".join(f"<th>{html.escape(label)}</th>" for label, _ in METRICS.values())
    rows = []
    for name in evaluation.controllers:
        cells = "".join(
            f"<td>{table[name][m][0]:.2f} &plusmn; {table[name][m][1]:.2f}</td>" for m in METRICS
        )
        speed = evaluation.patient_days_per_cpu_s(scenario, name)
        rows.append(f"<tr><td>{html.escape(name)}</td>{cells}<td>{speed:.2f}</td></tr>")
    return (
        "<table><caption>Mean &plusmn; SD over patient-runs</caption>"
        f"<tr><th>controller</th>{head}<th>patient-days / CPU-s</th></tr>{''.join(rows)}</table>"
    )


def _paired_table(evaluation: Evaluation, scenario: str) -> str:
    baseline = evaluation.controllers[0]
    rows = []
    for other in evaluation.controllers[1:]:
        cells = []
        for m, (_, higher_better) in METRICS.items():
            d = evaluation.versus(scenario, baseline, other, m)
            significant = d.low > 0 or d.high < 0
            good = (d.mean > 0) == higher_better
            cls = ("better" if good else "worse") if significant else ""
            interval = f"<small>[{d.low:+.2f}, {d.high:+.2f}]</small>"
            cells.append(f'<td class="{cls}">{d.mean:+.2f}<br>{interval}</td>')
        label = f"{html.escape(other)} &minus; {html.escape(baseline)}"
        rows.append(f"<tr><td>{label}</td>{''.join(cells)}</tr>")
    head = "".join(f"<th>{html.escape(label)}</th>" for label, _ in METRICS.values())
    return (
        "<table><caption>Paired differences against "
        f"{html.escape(baseline)} (mean over patients of the per-patient mean over seeds; "
        f"95 % t-interval over patients)</caption><tr><th>comparison</th>{head}</tr>"
        f"{''.join(rows)}</table>"
    )


def write_report(evaluation: Evaluation, path: Path) -> None:
    """Write a self-contained HTML report (plots embedded; no external files).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from healthtwin.scenarios.controller_evaluation import evaluate_cohort
    >>> ev = evaluate_cohort(["basal-bolus"], ["nominal-adult"], ["snacks"], days=1,
    ...                      replicates=1)
    >>> path = Path(tempfile.mkdtemp()) / "report.html"
    >>> write_report(ev, path)
    >>> "Scenario: snacks" in path.read_text()
    True
    """
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>healthtwin closed-loop evaluation</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Closed-loop glucose control: evaluation</h1>",
        f"<p>{len(evaluation.patients)} patients &times; {len(evaluation.seeds)} seeds &times; "
        f"{evaluation.days} day(s); controllers: {html.escape(', '.join(evaluation.controllers))}."
        " Controllers saw CGM readings and announced meals only. Metrics on true plasma "
        "glucose every sensor sample.</p>",
    ]
    for scenario in evaluation.scenarios:
        parts.append(f"<h2>Scenario: {html.escape(scenario)}</h2>")
        parts.append(_metrics_table(evaluation, scenario))
        if len(evaluation.controllers) > 1:
            parts.append(_paired_table(evaluation, scenario))
        png = _figure(evaluation, scenario)
        if png is None:
            parts.append("<p>(plots need matplotlib: pip install 'healthtwin[plot]')</p>")
        else:
            alt = f"glucose traces, {html.escape(scenario)}"
            parts.append(f"<img alt='{alt}' src='data:image/png;base64,{png}'>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
