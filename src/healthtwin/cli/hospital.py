"""``healthtwin hospital``: simulate a hospital (tables + HTML report) or the M/M/c queue."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from healthtwin.cli.output import JsonOption, Output, QuietOption, merge_alias, output_for
from healthtwin.coupling.hospital_course import TwinCourse
from healthtwin.errors import InvalidInputError
from healthtwin.hospital import SimulationResult, load_hospital_config, mmc_config, simulate
from healthtwin.hospital.early_warning import evaluate_alerts
from healthtwin.hospital.queueing import erlang_c, mmc_mean_wait

hospital_app = typer.Typer(
    help="Hospital patient flow, resources and safety.", no_args_is_help=True
)


@hospital_app.command("simulate")
def simulate_command(
    config: Annotated[Path | None, typer.Option(help="Hospital YAML file.")] = None,
    days: Annotated[float, typer.Option(help="Days measured per replication.")] = 90.0,
    replicates: Annotated[int, typer.Option(help="Independent replications.")] = 20,
    warmup_days: Annotated[float, typer.Option(help="Warm-up days discarded first.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Root seed (common random numbers).")] = 0,
    engine: Annotated[str, typer.Option(help="fast or simpy.")] = "fast",
    out: Annotated[Path | None, typer.Option(help="Folder for CSV tables and report.html.")] = None,
    mmc: Annotated[
        str | None, typer.Option(help="Textbook M/M/c: 'arrival_rate,service_rate,servers'.")
    ] = None,
    hours: Annotated[float, typer.Option(help="With --mmc: total simulated hours.")] = 100_000.0,
    twins: Annotated[
        bool,
        typer.Option(
            help="Admitted patients are inflammation twins giving events and NEWS2; also "
            "evaluates the NEWS2 alert rule (sensitivity, lead time, false alerts)."
        ),
    ] = False,
    replications: Annotated[int | None, typer.Option("--replications", hidden=True)] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Simulate a hospital config, or with --mmc the M/M/c queue against Erlang C.

    With --out, writes summary.csv, replications.csv and report.html (occupancy and
    waits by unit, with 95 % intervals).

    \b
    Example:
      healthtwin hospital simulate --config hospital.yaml --days 90 \\
          --replicates 20 --out hospital/
      healthtwin hospital simulate --mmc 9,1,10 --hours 100000
    """
    replications = merge_alias(
        replicates, replications, 20, name="--replicates", old="--replications"
    )
    output = output_for(json_output, quiet)
    if mmc is not None:
        ignored = [
            flag
            for flag, given in (
                ("--config", config is not None),
                ("--twins", twins),
                ("--engine", engine != "fast"),
                ("--days", days != 90.0),
                ("--warmup-days", warmup_days != 0.0),
            )
            if given
        ]
        if ignored:
            raise InvalidInputError(
                f"--mmc runs the textbook queue and takes --hours, --replicates, --seed and "
                f"--out only; drop {', '.join(ignored)}"
            )
        _mmc(mmc, hours, replications, seed, output, out)
        return
    if config is None:
        raise InvalidInputError("give --config hospital.yaml (or --mmc 9,1,10 for M/M/c)")
    if engine not in ("fast", "simpy"):
        raise InvalidInputError(f"--engine must be 'fast' or 'simpy', got {engine!r}")
    cfg = load_hospital_config(config)
    course = TwinCourse(cfg, seed=seed) if twins else None
    with output.progress(f"simulating {replications} replications of {days:g} days ({engine})"):
        result = simulate(cfg, days=days, replications=replications, warmup_days=warmup_days,
                          seed=seed, engine="simpy" if engine == "simpy" else "fast",
                          course=course)  # fmt: skip
    summary = result.summary()
    lines = [f"{name:32s} {s.mean:12.4f}  [{s.low:.4f}, {s.high:.4f}]"
             for name, s in summary.items() if not name.startswith("patients.")]  # fmt: skip
    warning = None if course is None else _early_warning(course)
    if warning is not None:
        lines.append(_early_warning_line(warning))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_tables(result, out)
        write_report(result, out / "report.html", str(config))
        if warning is not None:
            (out / "early_warning.json").write_text(json.dumps(warning, indent=2) + "\n")
        lines.append(f"wrote {out / 'summary.csv'}, {out / 'replications.csv'}, "
                     f"{out / 'report.html'}")  # fmt: skip
    document = {
        "config": config, "days": days, "replicates": replications, "seed": seed,
        "metrics": {m: {"mean": s.mean, "low": s.low, "high": s.high, "level": s.level}
                    for m, s in summary.items()},
        "early_warning": warning, "out": out,
    }  # fmt: skip
    output.result(document, "\n".join(lines))


def _early_warning(course: TwinCourse) -> dict[str, float | int]:
    """Evaluate RCP's alert rule (NEWS2 >= 5 or any single 3) on the twins' trajectories."""
    found = evaluate_alerts(course.trajectories())
    summary: dict[str, float | int] = {
        "deteriorations": found.events,
        "detected_within_24h": found.detected,
        "sensitivity": found.sensitivity,
        "sensitivity_95_low": found.sensitivity_low,
        "sensitivity_95_high": found.sensitivity_high,
        "lead_time_median_hours": found.lead_median_hours,
        "lead_time_q25_hours": found.lead_q25_hours,
        "lead_time_q75_hours": found.lead_q75_hours,
        "false_alerts_per_100_patient_days": found.false_alerts_per_100_patient_days,
        "patient_days": found.patient_days,
    }
    return summary


def _early_warning_line(w: dict[str, float | int]) -> str:
    return (
        f"NEWS2 alert rule (>= 5 or any single 3): sensitivity {w['sensitivity']:.2f} "
        f"[{w['sensitivity_95_low']:.2f}, {w['sensitivity_95_high']:.2f}] over "
        f"{w['deteriorations']} deteriorations, median lead {w['lead_time_median_hours']:.1f} h, "
        f"{w['false_alerts_per_100_patient_days']:.1f} false alerts per 100 patient-days"
    )


def _mmc(
    spec: str, hours: float, replications: int, seed: int, output: Output, out: Path | None
) -> None:
    try:
        lam_s, mu_s, c_s = spec.split(",")
        lam, mu, c = float(lam_s), float(mu_s), int(c_s)
    except ValueError as err:
        raise InvalidInputError(
            f"--mmc must be 'arrival_rate,service_rate,servers' like 9,1,10, got {spec!r}"
        ) from err
    if not lam < c * mu:
        raise InvalidInputError(
            f"--mmc {spec}: unstable queue (arrival rate {lam} >= servers x service rate "
            f"{c * mu}); add servers"
        )
    if not hours > 0 or replications < 2:
        raise InvalidInputError(f"need --hours > 0 and --replications >= 2, got {hours}, "
                                f"{replications}")  # fmt: skip
    per_rep_days = hours / replications / 24.0
    with output.progress(f"simulating M/M/{c} for {hours:g} h"):
        result = simulate(mmc_config(lam, mu, c), days=per_rep_days, replications=replications,
                          warmup_days=min(per_rep_days * 0.02, 10.0), seed=seed)  # fmt: skip
    summary = result.summary()
    w, p = summary["wait_hours.queue"], summary["waited_fraction.queue"]
    exact_w, exact_p = float(mmc_mean_wait(c, lam, mu)), float(erlang_c(c, lam / mu))
    document = {
        "mmc": {"arrival_rate": lam, "service_rate": mu, "servers": c},
        "hours": hours, "replicates": replications, "seed": seed,
        "mean_wait_hours": {"mean": w.mean, "low": w.low, "high": w.high, "erlang_c": exact_w},
        "p_wait": {"mean": p.mean, "low": p.low, "high": p.high, "erlang_c": exact_p},
    }  # fmt: skip
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "mmc.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        document["out"] = str(out / "mmc.json")
    output.result(
        document,
        f"M/M/{c}: arrival rate {lam}/h, service rate {mu}/h, {hours:g} h in "
        f"{replications} replications\n"
        f"mean_wait_hours {w.mean:.5f}  95% CI [{w.low:.5f}, {w.high:.5f}]  "
        f"Erlang C {exact_w:.5f}\n"
        f"p_wait          {p.mean:.5f}  95% CI [{p.low:.5f}, {p.high:.5f}]  "
        f"Erlang C {exact_p:.5f}",
    )


def write_tables(result: SimulationResult, folder: Path) -> None:
    """``replications.csv`` (one row per replication) and ``summary.csv`` (mean, 95 % CI)."""
    names = result.metrics
    with (folder / "replications.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["replication", *names])
        for r in range(result.replications):
            w.writerow([r, *(f"{result.values(m)[r]:.6g}" for m in names)])
    with (folder / "summary.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["metric", "mean", "low", "high", "level"])
        for m, s in result.summary().items():
            w.writerow([m, f"{s.mean:.6g}", f"{s.low:.6g}", f"{s.high:.6g}", s.level])


# Here the ALLOCATION helper adds `healthtwin hospital plan` (a @hospital_app.command("plan")).


def _bar_png(result: SimulationResult, prefix: str, label: str) -> str | None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    summary = result.summary()
    items = [(m.removeprefix(prefix), s) for m, s in summary.items()
             if m.startswith(prefix) and np.isfinite(s.mean)]  # fmt: skip
    fig = Figure(figsize=(7, 3.2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x = np.arange(len(items))
    means = np.array([s.mean for _, s in items])
    err = np.array([[s.mean - s.low for _, s in items], [s.high - s.mean for _, s in items]])
    ax.bar(x, means, yerr=np.nan_to_num(err), capsize=4, color="#4c78a8")
    ax.set_xticks(x, [u for u, _ in items])
    ax.set_ylabel(label)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_report(result: SimulationResult, path: Path, title: str) -> None:
    """A self-contained HTML report: summary table, occupancy and wait plots (95 % CIs)."""
    rows = "".join(
        f"<tr><td>{html.escape(m)}</td><td>{s.mean:.4g}</td><td>{s.low:.4g}</td>"
        f"<td>{s.high:.4g}</td></tr>"
        for m, s in result.summary().items()
    )
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>healthtwin hospital simulation: {html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}</style>",
        "</head><body>",
        f"<h1>Hospital simulation: {html.escape(title)}</h1>",
        f"<p>{result.replications} replications of {result.days:g} days after "
        f"{result.warmup_days:g} warm-up days; engine {result.engine}; seed {result.seed}.</p>",
    ]
    for prefix, label in (("occupancy.", "mean occupancy"), ("wait_hours.", "mean wait (h)")):
        png = _bar_png(result, prefix, label)
        if png is None:
            parts.append("<p>(plots need matplotlib: pip install 'healthtwin[plot]')</p>")
        else:
            parts.append(f"<h2>{label}</h2><img alt='{label} by unit' "
                         f"src='data:image/png;base64,{png}'>")  # fmt: skip
    parts.append("<h2>All metrics (mean and 95 % t-interval over replications)</h2>")
    parts.append(f"<table><tr><th>metric</th><th>mean</th><th>low</th><th>high</th></tr>{rows}"
                 "</table></body></html>")  # fmt: skip
    path.write_text("\n".join(parts), encoding="utf-8")


@hospital_app.command("plan")
def plan(
    config: Annotated[Path, typer.Option(help="Hospital YAML file.")],
    target: Annotated[
        str, typer.Option(help="Targets, e.g. 'ed_4h_breach<0.05' (comma-separated for several).")
    ],
    days: Annotated[float, typer.Option(help="Simulated days per replication.")] = 30.0,
    warmup_days: Annotated[float, typer.Option(help="Days discarded first.")] = 0.0,
    replicates: Annotated[int, typer.Option(help="First-stage replications per plan.")] = 10,
    max_replicates: Annotated[int, typer.Option(help="Replication budget per plan.")] = 40,
    confidence: Annotated[float, typer.Option(help="Probability the plan meets targets.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Root seed (common random numbers).")] = 0,
    out: Annotated[Path | None, typer.Option(help="Folder for plan.json.")] = None,
    replications: Annotated[int | None, typer.Option("--replications", hidden=True)] = None,
    max_replications: Annotated[int | None, typer.Option("--max-replications", hidden=True)] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """The cheapest bed/staff plan meeting the targets, chosen by simulation.

    \b
    Example:
      healthtwin hospital plan --config hospital.yaml \\
          --target 'ed_4h_breach<0.05' --out plan/
    """
    from rich.table import Table as _Table

    from healthtwin.hospital.config import load_hospital_config as _load
    from healthtwin.hospital.plan import plan_capacity

    replications = merge_alias(
        replicates, replications, 10, name="--replicates", old="--replications"
    )
    max_replications = merge_alias(
        max_replicates, max_replications, 40, name="--max-replicates", old="--max-replications"
    )
    output = output_for(json_output, quiet)
    with output.progress(f"searching plans for {target}"):
        result = plan_capacity(
            _load(config), target, days=days, warmup_days=warmup_days,
            replications=replications, max_replications=max_replications,
            confidence=confidence, seed=seed,
        )  # fmt: skip
    metrics = [t.metric for t in result.targets]
    table = _Table(title=f"Candidate plans for {', '.join(map(str, result.targets))}")
    for column in ("plan", "cost/day", *metrics, "replications", "status"):
        table.add_column(column)
    for row in result.table:
        cells = [f"{row.metrics[m].mean:.4g} [{row.metrics[m].low:.4g}, {row.metrics[m].high:.4g}]"
                 for m in metrics]  # fmt: skip
        table.add_row(row.name, f"{row.cost:,.0f}", *cells, str(row.replications), row.status)
    lines: list[object] = [table]
    if result.found:
        beds = ", ".join(f"{u}={b}" for u, b in result.beds.items())
        nurses = ", ".join(f"{u}={n}" for u, n in result.nurses_per_shift.items()) or "-"
        lines.append(f"plan: beds {beds}; nurses per shift {nurses}; "
                     f"cost per day {result.cost_per_day:,.0f}")  # fmt: skip
        for m in metrics:
            i = result.metrics[m]
            lines.append(f"{m}: {i.mean:.4g} ({i.level:.0%} CI {i.low:.4g} to {i.high:.4g})")
    else:
        lines.append(
            f"no plan was shown to meet the targets: {result.reason}"
            if result.reason
            else "no candidate plan was shown to meet the targets; relax the targets"
        )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "plan.json").write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
    output.result({**result.to_dict(), "out": out}, *lines)
