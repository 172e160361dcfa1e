"""``healthtwin population``: epidemics and population health (Rt, projections, planning)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from healthtwin.cli.output import JsonOption, Output, QuietOption, output_for
from healthtwin.errors import InvalidInputError

if TYPE_CHECKING:
    from healthtwin.scenarios.epidemic_runs import (
        EpidemicResult,
        PopulationScenario,
        PreparedScenario,
    )

population_app = typer.Typer(help="Population health and epidemics.", no_args_is_help=True)


@population_app.command("rt")
def rt(
    incidence: Annotated[
        Path,
        typer.Option(
            "--data",
            "--incidence",
            help="CSV with a column I (or local and imported), optional dates.",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output CSV (EpiEstim's columns).")],
    si_mean: Annotated[float | None, typer.Option(help="Mean serial interval, days (> 1).")] = None,
    si_sd: Annotated[float | None, typer.Option(help="Serial interval sd, days (> 0).")] = None,
    si_distr: Annotated[
        str | None,
        typer.Option(help="Serial interval w_0=0,w_1,...: a comma list or a file of numbers."),
    ] = None,
    window: Annotated[int, typer.Option(help="Days per sliding window.")] = 7,
    prior_mean: Annotated[float, typer.Option(help="Mean of the gamma prior on R.")] = 5.0,
    prior_sd: Annotated[float, typer.Option(help="Sd of the gamma prior on R.")] = 5.0,
    report: Annotated[
        Path | None,
        typer.Option(help="Also write an HTML report: incidence and Rt with its intervals."),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Estimate the reproduction number Rt over sliding windows (Cori et al. 2013).

    \b
    Example:
      healthtwin population rt --data flu.csv --si-mean 2.6 --si-sd 1.5 \\
          --out rt.csv --report rt.html
    """
    from healthtwin.scenarios.epidemic_runs import estimate_rt_file

    weights = None if si_distr is None else _parse_si_distr(si_distr)
    windows = estimate_rt_file(
        incidence,
        out,
        si_mean=si_mean,
        si_sd=si_sd,
        si_distr=weights,
        window=window,
        prior_mean=prior_mean,
        prior_sd=prior_sd,
    )
    document: dict[str, object] = {"windows": windows, "out": out, "report": report}
    if report is not None:
        from healthtwin.scenarios.rt_report import rt_report_file

        # Estimated again from the same file and options: the page shows the CSV's numbers.
        latest = rt_report_file(
            incidence, report, si_mean=si_mean, si_sd=si_sd, si_distr=weights, window=window,
            prior_mean=prior_mean, prior_sd=prior_sd,
        )  # fmt: skip
        document["latest"] = latest
    output_for(json_output, quiet).result(
        document,
        f"wrote {windows} windows to {out}" + ("" if report is None else f" and {report}"),
    )


def _parse_si_distr(text: str) -> list[float]:
    listed = [t.strip() for t in text.split(",")]
    # A comma list of numbers is taken as is; anything else names a file.
    if all(_is_number(t) for t in listed):
        source = text
    elif len(text) < 4096 and Path(text).is_file():
        source = Path(text).read_text()
    else:
        raise InvalidInputError(
            f"--si-distr: {text!r} is neither a comma list of numbers nor a file; give "
            "weights w_0=0,w_1,... such as 0,0.2,0.5,0.3 or a file with one weight per line"
        )
    tokens = source.replace("\n", ",").replace(";", ",").split(",")
    tokens = [t.strip() for t in tokens if t.strip()]
    if tokens and not _is_number(tokens[0]):
        tokens = tokens[1:]  # a header line such as "si_distr"
    try:
        return [float(t) for t in tokens]
    except ValueError as err:
        raise InvalidInputError(
            f"--si-distr: could not read numbers from {text!r} ({err}); give a comma list "
            "such as 0,0.2,0.5,0.3 or a file with one weight per line"
        ) from err


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


@population_app.command("simulate")
def simulate(
    scenario: Annotated[Path, typer.Option(help="Population scenario YAML.")],
    out: Annotated[Path, typer.Option(help="Output folder (created).")],
    variant: Annotated[
        list[str] | None, typer.Option(help="Run only these variants (repeatable).")
    ] = None,
    replicates: Annotated[int | None, typer.Option(help="Override the replicates.")] = None,
    plot: Annotated[
        bool, typer.Option(help="Write fan charts and report.html (needs matplotlib).")
    ] = True,
    scheduler: Annotated[
        str, typer.Option(help="local (this process) or dask (a LocalCluster or --address).")
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="Address of an existing Dask scheduler.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Workers of the Dask LocalCluster.")] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Project the epidemic of every variant: daily quantiles by region, plots, a summary.

    Writes daily.csv (and hub.csv with a start date), summary.json, national.png and
    report.html (fan charts and the summary table) to --out.

    \b
    Example:
      healthtwin population simulate --scenario scenario.yaml --out projection/
    """
    from healthtwin.scenarios.epidemic_runs import (
        prepare_population_scenario,
        variant_names,
        write_projection,
    )

    prepared = prepare_population_scenario(scenario, replicates=replicates)
    names = variant_names(prepared.spec, variant)
    out.mkdir(parents=True, exist_ok=True)
    output = output_for(json_output, quiet)
    results = _simulate_variants(prepared.spec, names, scheduler, address, workers, output)
    rows, summary = write_projection(prepared, results, out, plot=plot)
    if plot:
        _projection_report(out, prepared.spec.name, summary)
    output.result(
        {"rows": rows, "out": out, "summary": summary},
        f"wrote {rows} rows for {len(results)} variant(s) to {out / 'daily.csv'}"
        + (f" and {out / 'report.html'}" if plot else ""),
    )


def _simulate_variants(
    spec: PopulationScenario,
    names: list[str],
    scheduler: str,
    address: str | None,
    workers: int | None,
    output: Output,
) -> dict[str, EpidemicResult]:
    """Every variant's ensemble, with a bar counting variant x replicate runs."""
    from healthtwin.scenarios.epidemic_runs import run_variants

    if scheduler not in ("local", "dask"):
        raise InvalidInputError(f"--scheduler {scheduler!r}: choose local or dask")
    # Replicates are seeded by id, so running them in batches (to count them) keeps the
    # variants on common random numbers and gives the same numbers.
    with output.progress(
        f"simulating {len(names)} variant(s) x {spec.replicates} replicates ({scheduler})",
        total=len(names) * spec.replicates,
    ) as bar:
        return run_variants(
            spec, names, scheduler=scheduler, address=address, workers=workers,
            on_progress=bar.update,
        )  # fmt: skip


def _projection_report(out: Path, title: str, summary: dict[str, object]) -> None:
    """report.html beside the tables: the fan charts and each variant's medians."""
    from healthtwin.cli.plots import file_data_uri, html_report, html_table

    rows = [
        [name, f"{v['infections_median']:.4g}", f"{v['deaths_median']:.4g}",
         f"{v['peak_icu_median']:.4g}"]
        for name, v in summary.items()
        if isinstance(v, dict)
    ]  # fmt: skip
    table = html_table(["variant", "infections", "deaths", "peak ICU occupancy"], rows)
    image = (
        f"<img alt='national fan charts by variant' src='{file_data_uri(out / 'national.png')}'>"
    )
    html_report(
        out / "report.html",
        f"Population projection: {title}",
        f"{summary['replicates']} replicates over {summary['days']} days; medians over "
        "replicates; bands in the charts are 50 % and 95 % of replicates.",
        [("Medians by variant", table), ("National fan charts", image)],
    )


@population_app.command("plan")
def plan(
    scenario: Annotated[Path, typer.Option(help="Population scenario YAML.")],
    out: Annotated[Path, typer.Option(help="Output folder (created).")],
    resource: Annotated[
        str,
        typer.Option(help="icu_beds, hospital_beds, ventilators, nurses or vaccine_doses."),
    ] = "icu_beds",
    total: Annotated[
        int | None,
        typer.Option(
            help="Units to allocate (default: the scenario's capacity); doses per day for "
            "vaccine_doses."
        ),
    ] = None,
    objective: Annotated[str, typer.Option(help="expected or cvar.")] = "expected",
    alpha: Annotated[float, typer.Option(help="CVaR level for --objective cvar.")] = 0.9,
    scheduler: Annotated[
        str, typer.Option(help="local (this process) or dask (a LocalCluster or --address).")
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="Address of an existing Dask scheduler.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Workers of the Dask LocalCluster.")] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Allocate a national stock across regions over all variants' simulated demand.

    \b
    Example:
      healthtwin population plan --scenario scenario.yaml \\
          --resource icu_beds --out plan/
    """
    from healthtwin.scenarios.epidemic_plans import (
        PLAN_RESOURCES,
        default_total,
        plan_resource,
    )
    from healthtwin.scenarios.epidemic_runs import prepare_population_scenario, variant_names

    if resource not in PLAN_RESOURCES:
        raise InvalidInputError(f"--resource {resource!r}: choose one of {list(PLAN_RESOURCES)}")
    if objective not in ("expected", "cvar"):
        raise InvalidInputError(f"--objective {objective!r}: choose expected or cvar")
    prepared = prepare_population_scenario(scenario)
    output = output_for(json_output, quiet)
    if resource == "vaccine_doses":
        _plan_vaccine(prepared, out, total, output)
        return
    if total is None:
        total = default_total(prepared, resource)
    names = variant_names(prepared.spec)
    results = _simulate_variants(prepared.spec, names, scheduler, address, workers, output)
    report = plan_resource(
        prepared, results, out, resource=resource, total=total,
        objective="cvar" if objective == "cvar" else "expected", alpha=alpha,
    )  # fmt: skip
    unmet = report["expected_unmet_people_days"]
    output.result(
        {**report, "out": out},
        f"{resource}: expected unmet people-days {unmet['pro_rata']:.1f} (pro rata) -> "
        f"{unmet['optimized']:.1f} (optimized); wrote {out / 'allocation.csv'}",
    )


@population_app.command("chronic")
def chronic(
    out: Annotated[Path, typer.Option(help="Output folder (created).")],
    people: Annotated[int, typer.Option(help="Synthetic adults to age.")] = 20_000,
    years: Annotated[int, typer.Option(help="Years to project.")] = 20,
    start_year: Annotated[int, typer.Option(help="First calendar year.")] = 2025,
    uptake: Annotated[float, typer.Option(help="Share of eligible people who join.")] = 0.3,
    rate_ratio: Annotated[
        float, typer.Option(help="Progression rate ratio in the programme (DPP: 0.42).")
    ] = 0.42,
    cost: Annotated[float, typer.Option(help="Cost per participant.")] = 0.0,
    replicates: Annotated[int, typer.Option(help="Replicates (common random numbers).")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Project type-2 diabetes prevalence, with and without a prevention programme.

    \b
    Example:
      healthtwin population chronic --people 20000 --years 20 --uptake 0.3 \\
          --out t2d/
    """
    from healthtwin.scenarios.chronic_runs import project_prevention_programme

    output = output_for(json_output, quiet)
    with output.progress(
        f"ageing {people} people x {replicates} replicates (years, both arms)", total=2 * years
    ) as bar:
        summary = project_prevention_programme(
            out,
            people=people,
            years=years,
            start_year=start_year,
            uptake=uptake,
            rate_ratio=rate_ratio,
            cost=cost,
            replicates=replicates,
            seed=seed,
            on_progress=bar.update,
        )
    averted = summary["effect_q05_q50_q95"]["cases_averted"]
    output.result(
        {**summary, "out": out},
        f"cases averted over {years} years: {averted[1]:.0f} (90 % range {averted[0]:.0f}-"
        f"{averted[2]:.0f}); wrote {out / 'prevalence.csv'}",
    )


def _plan_vaccine(
    scenario: PreparedScenario, out: Path, daily_doses: int | None, output: Output
) -> None:
    from healthtwin.scenarios.epidemic_plans import plan_vaccine

    if daily_doses is None or daily_doses <= 0:
        raise InvalidInputError("--resource vaccine_doses needs --total DOSES_PER_DAY (> 0)")
    # Counted in candidate allocations simulated; the first report sets the total.
    with output.progress("optimizing the vaccine allocation (ensembles)", total=0) as bar:
        report = plan_vaccine(scenario, daily_doses, out, on_progress=bar.update)
    output.result(
        {**report, "out": out},
        f"vaccine doses: {report['objective']} {report['pro_rata']:.1f} (pro rata) -> "
        f"{report['optimized']:.1f} "
        f"(optimized); wrote {out / 'allocation.csv'}",
    )
