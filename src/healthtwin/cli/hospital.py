"""``healthtwin hospital``: simulate a hospital (tables + HTML report) or the M/M/c queue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from healthtwin.cli.output import JsonOption, Output, QuietOption, merge_alias, output_for
from healthtwin.errors import InvalidInputError

hospital_app = typer.Typer(
    help="Hospital patient flow, resources and safety.", no_args_is_help=True
)


@hospital_app.command("simulate")
def simulate_command(
    config: Annotated[
        Path | None, typer.Option("--scenario", "--config", help="Hospital YAML file.")
    ] = None,
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
      healthtwin hospital simulate --scenario hospital.yaml --days 90 \\
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
                ("--scenario", config is not None),
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
        raise InvalidInputError(
            "give --scenario hospital.yaml (or its older spelling --config; or --mmc 9,1,10 "
            "for M/M/c)"
        )
    if engine not in ("fast", "simpy"):
        raise InvalidInputError(f"--engine must be 'fast' or 'simpy', got {engine!r}")
    from healthtwin.scenarios.hospital_reports import (
        write_simulation_report,
        write_simulation_tables,
    )
    from healthtwin.scenarios.hospital_studies import early_warning_line, simulate_hospital_file

    with output.progress(f"simulating {replications} replications of {days:g} days ({engine})",
                         total=replications) as bar:  # fmt: skip
        study = simulate_hospital_file(config, days=days, replications=replications,
                                       warmup_days=warmup_days, seed=seed,
                                       engine="simpy" if engine == "simpy" else "fast",
                                       twins=twins, on_replication=bar.update)  # fmt: skip
    result, warning = study.result, study.early_warning
    summary = result.summary()
    lines = [f"{name:32s} {s.mean:12.4f}  [{s.low:.4f}, {s.high:.4f}]"
             for name, s in summary.items() if not name.startswith("patients.")]  # fmt: skip
    if warning is not None:
        lines.append(early_warning_line(warning))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_simulation_tables(result, out)
        write_simulation_report(result, out / "report.html", str(config))
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
    from healthtwin.scenarios.hospital_studies import check_mmc

    with output.progress(f"simulating M/M/{c} for {hours:g} h", total=replications) as bar:
        document = check_mmc(lam, mu, c, hours=hours, replications=replications, seed=seed,
                             on_replication=bar.update)  # fmt: skip
    w, p = document["mean_wait_hours"], document["p_wait"]
    exact_w, exact_p = w["erlang_c"], p["erlang_c"]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "mmc.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        document["out"] = str(out / "mmc.json")
    output.result(
        document,
        f"M/M/{c}: arrival rate {lam}/h, service rate {mu}/h, {hours:g} h in "
        f"{replications} replications\n"
        f"mean_wait_hours {w['mean']:.5f}  95% CI [{w['low']:.5f}, {w['high']:.5f}]  "
        f"Erlang C {exact_w:.5f}\n"
        f"p_wait          {p['mean']:.5f}  95% CI [{p['low']:.5f}, {p['high']:.5f}]  "
        f"Erlang C {exact_p:.5f}",
    )


@hospital_app.command("plan")
def plan(
    config: Annotated[Path, typer.Option("--scenario", "--config", help="Hospital YAML file.")],
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
      healthtwin hospital plan --scenario hospital.yaml \\
          --target 'ed_4h_breach<0.05' --out plan/
    """
    from rich.table import Table as _Table

    from healthtwin.scenarios.hospital_studies import plan_hospital_capacity

    replications = merge_alias(
        replicates, replications, 10, name="--replicates", old="--replications"
    )
    max_replications = merge_alias(
        max_replicates, max_replications, 40, name="--max-replicates", old="--max-replications"
    )
    output = output_for(json_output, quiet)
    # The total is the replications planned so far: it grows when a candidate needs
    # another stage or the search widens, and is set by the first report.
    with output.progress(f"searching plans for {target} (replications)", total=0) as bar:
        result = plan_hospital_capacity(
            config, target, days=days, warmup_days=warmup_days,
            replications=replications, max_replications=max_replications,
            confidence=confidence, seed=seed, on_progress=bar.update,
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
