"""``healthtwin population``: epidemics and population health (Rt estimation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
) -> None:
    """Estimate the reproduction number Rt over sliding windows (Cori et al. 2013)."""
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
    typer.echo(f"wrote {estimate.t_start.size} windows to {out}")


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
