"""``healthtwin population``: epidemics and population health (Rt, projections, planning)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from healthtwin.cli.output import JsonOption, Output, QuietOption, output_for
from healthtwin.errors import InvalidInputError

population_app = typer.Typer(help="Population health and epidemics.", no_args_is_help=True)


@population_app.command("rt")
def rt(
    incidence: Annotated[
        Path, typer.Option(help="CSV with a column I (or local and imported), optional dates.")
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
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Estimate the reproduction number Rt over sliding windows (Cori et al. 2013).

    \b
    Example:
      healthtwin population rt --incidence flu.csv --si-mean 2.6 --si-sd 1.5 \\
          --out rt.csv
    """
    from healthtwin.population.rt import estimate_rt, read_incidence

    weights = None if si_distr is None else _parse_si_distr(si_distr)
    estimate = estimate_rt(
        read_incidence(incidence),
        si_mean=si_mean,
        si_sd=si_sd,
        si_distr=weights,
        window=window,
        prior_mean=prior_mean,
        prior_sd=prior_sd,
    )
    estimate.write_csv(out)
    output_for(json_output, quiet).result(
        {"windows": estimate.t_start.size, "out": out},
        f"wrote {estimate.t_start.size} windows to {out}",
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
    import json

    from healthtwin.population.projection_files import (
        plot_projection,
        write_daily_csv,
        write_hub_csv,
    )
    from healthtwin.population.scenario import load_scenario, regional_values
    from healthtwin.population.scenario_build import build_inputs, stress_report

    spec = load_scenario(scenario)
    if replicates is not None:
        spec = spec.model_copy(update={"replicates": replicates})
    chosen = [spec.variant(v) for v in variant] if variant else spec.variant_list()
    inputs = build_inputs(spec)
    out.mkdir(parents=True, exist_ok=True)
    output = output_for(json_output, quiet)
    results = _run_variants(spec, [v.name for v in chosen], scheduler, address, workers, output)
    rows = write_daily_csv(results, out / "daily.csv", start_date=spec.start_date)
    if spec.start_date is not None and spec.days >= 7:
        write_hub_csv(results, out / "hub.csv", start_date=spec.start_date)
    summary: dict[str, object] = {
        "scenario": spec.name,
        "replicates": spec.replicates,
        "days": spec.days,
    }
    for v in chosen:
        result = results[v.name]
        entry: dict[str, object] = {
            "infections_median": float(np.median(result.national("incidence").sum(axis=1))),
            "deaths_median": float(np.median(result.national("deaths").sum(axis=1))),
            "peak_icu_median": float(np.median(result.national("icu_occupancy").max(axis=1))),
        }
        if spec.capacity.icu_beds is not None:
            entry["icu_stress"] = stress_report(spec, v, result, inputs).summary()
        summary[v.name] = entry
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if plot:
        beds = regional_values(spec.capacity.icu_beds, inputs.geography, "icu_beds")
        plot_projection(results, out / "national.png", title=spec.name, capacity=beds)
        _projection_report(out, spec.name, summary)
    output.result(
        {"rows": rows, "out": out, "summary": summary},
        f"wrote {rows} rows for {len(results)} variant(s) to {out / 'daily.csv'}"
        + (f" and {out / 'report.html'}" if plot else ""),
    )


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
    import json

    from healthtwin.population.allocation import allocate, pro_rata
    from healthtwin.population.scenario import load_scenario, regional_values
    from healthtwin.population.scenario_build import (
        RESOURCES,
        build_inputs,
        resource_demand,
        stress_report,
    )

    if resource not in (*RESOURCES, "vaccine_doses"):
        raise InvalidInputError(
            f"--resource {resource!r}: choose one of {[*RESOURCES, 'vaccine_doses']}"
        )
    if objective not in ("expected", "cvar"):
        raise InvalidInputError(f"--objective {objective!r}: choose expected or cvar")
    spec = load_scenario(scenario)
    output = output_for(json_output, quiet)
    if resource == "vaccine_doses":
        _plan_vaccine(spec, out, total, output)
        return
    inputs = build_inputs(spec)
    geography = inputs.geography
    if total is None:
        current = regional_values(getattr(spec.capacity, resource), geography, resource)
        if current is None:
            raise InvalidInputError(
                f"give --total or capacity.{resource} in the scenario: how many units to place"
            )
        total = round(float(current.sum()))
    variants = spec.variant_list()
    results = _run_variants(spec, [v.name for v in variants], scheduler, address, workers, output)
    demand = np.concatenate([resource_demand(spec, r, resource) for r in results.values()], axis=0)
    best = allocate(demand, total, objective=objective, alpha=alpha)  # type: ignore[arg-type]
    fair = pro_rata(demand, total, geography.population.sum(axis=1))
    out.mkdir(parents=True, exist_ok=True)
    with (out / "allocation.csv").open("w", encoding="utf-8") as handle:
        handle.write("region,population,pro_rata,optimized,unmet_pro_rata,unmet_optimized\n")
        for r, region in enumerate(geography.regions):
            handle.write(
                f"{region},{geography.population[r].sum():.0f},{fair.capacity[r]},"
                f"{best.capacity[r]},{fair.unmet_by_region[r]:.6g},{best.unmet_by_region[r]:.6g}\n"
            )
    report: dict[str, object] = {
        "scenario": spec.name,
        "resource": resource,
        "total_units": total,
        "objective": objective,
        "paths": int(demand.shape[0]),
        "expected_unmet_people_days": {
            "pro_rata": fair.expected_unmet,
            "optimized": best.expected_unmet,
        },
        "cvar_unmet_people_days": {
            "alpha": alpha,
            "pro_rata": fair.cvar(alpha),
            "optimized": best.cvar(alpha),
        },
        "variants": {},
    }
    for v in variants:
        per_variant = {}
        for label, allocation in (("pro_rata", fair), ("optimized", best)):
            per_variant[label] = stress_report(
                spec, v, results[v.name], inputs, resource=resource,
                beds=allocation.capacity.astype(float),
            ).summary()  # fmt: skip
        report["variants"][v.name] = per_variant  # type: ignore[index]
    (out / "plan.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    output.result(
        {**report, "out": out},
        f"{resource}: expected unmet people-days {fair.expected_unmet:.1f} (pro rata) -> "
        f"{best.expected_unmet:.1f} (optimized); wrote {out / 'allocation.csv'}",
    )


def _run_variants(
    spec: Any,
    names: list[str],
    scheduler: str,
    address: str | None,
    workers: int | None,
    output: Output,
) -> dict[str, Any]:
    from healthtwin.population.ensemble import run_ensemble

    if scheduler not in ("local", "dask"):
        raise InvalidInputError(f"--scheduler {scheduler!r}: choose local or dask")
    # One ensemble call keeps the variants on common random numbers: a spinner, not a bar.
    with output.progress(
        f"simulating {len(names)} variant(s) x {spec.replicates} replicates ({scheduler})"
    ):
        ensemble = run_ensemble(
            spec,
            variants=names,
            scheduler=scheduler,  # type: ignore[arg-type]
            address=address,
            n_workers=workers,
            replicates_per_task=None if scheduler == "local" else max(1, spec.replicates // 4),
        )
    return {name: ensemble.variant(name) for name in names}


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
    import json

    from healthtwin.population.chronic import project_t2d_programme

    output = output_for(json_output, quiet)
    with output.progress(f"ageing {people} people x {replicates} replicates over {years} years"):
        base, arm, effect = project_t2d_programme(
            n=people,
            years=years,
            start_year=start_year,
            uptake=uptake,
            rate_ratio=rate_ratio,
            cost_per_participant=cost,
            replicates=replicates,
            seed=seed,
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
    summary = {"people": people, "years": years, "uptake": uptake, "rate_ratio": rate_ratio}
    summary["effect_q05_q50_q95"] = effect.summary()  # type: ignore[assignment]
    (out / "programme.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    averted = effect.summary()["cases_averted"]
    output.result(
        {**summary, "out": out},
        f"cases averted over {years} years: {averted[1]:.0f} (90 % range {averted[0]:.0f}-"
        f"{averted[2]:.0f}); wrote {out / 'prevalence.csv'}",
    )


def _plan_vaccine(spec: Any, out: Path, daily_doses: int | None, output: Output) -> None:
    import json

    from healthtwin.population.scenario_build import build_inputs
    from healthtwin.population.vaccine_allocation import allocate_vaccine, rule_shares

    if daily_doses is None or daily_doses <= 0:
        raise InvalidInputError("--resource vaccine_doses needs --total DOSES_PER_DAY (> 0)")
    with output.progress("optimizing the vaccine allocation"):
        best = allocate_vaccine(spec, daily_doses=float(daily_doses))
    geography = build_inputs(spec).geography
    fair = rule_shares("population", geography)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "allocation.csv").open("w", encoding="utf-8") as handle:
        handle.write("region,population,pro_rata_share,optimized_share\n")
        for r, region in enumerate(geography.regions):
            handle.write(
                f"{region},{geography.population[r].sum():.0f},{fair[r]:.6f},"
                f"{best.shares[region]:.6f}\n"
            )
    report = {
        "scenario": spec.name,
        "resource": "vaccine_doses",
        "daily_doses": daily_doses,
        "objective": best.objective,
        "optimized": best.value,
        "pro_rata": best.pro_rata,
        "candidates": {
            k: {"mean": v[0], "se_vs_pro_rata": v[1]} for k, v in best.candidates.items()
        },
    }
    (out / "plan.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    output.result(
        {**report, "out": out},
        f"vaccine doses: {best.objective} {best.pro_rata:.1f} (pro rata) -> {best.value:.1f} "
        f"(optimized); wrote {out / 'allocation.csv'}",
    )
