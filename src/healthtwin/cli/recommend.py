"""``healthtwin patient recommend``: a meal-bolus recommendation from a (synced) glucose twin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from healthtwin.cli.output import JsonOption, QuietOption, output_for
from healthtwin.errors import InvalidInputError
from healthtwin.scenarios.recommendation_oversight import (
    RECOMMENDER,
    propose_recommendation,
    record_recommendation_provenance,
    require_recommender_enabled,
)
from healthtwin.scenarios.recommendations import plan_meal_bolus

__all__ = ["RECOMMENDER", "recommend_command"]


def _doses(text: str) -> list[float]:
    try:
        doses = sorted({float(x) for x in text.split(",") if x.strip()})
    except ValueError as err:
        raise InvalidInputError(f"--boluses takes units like 0,2,4,6, got {text!r}") from err
    if not doses or doses[0] < 0 or doses[-1] > 30:
        raise InvalidInputError(f"--boluses must be between 0 and 30 U, got {text!r}")
    return doses


def recommend_command(
    patient: Annotated[str, typer.Option(help="The patient (UVA/Padova).")] = "adolescent#001",
    meal: Annotated[float, typer.Option(help="Carbohydrates about to be eaten, g.")] = 60.0,
    boluses: Annotated[
        str | None,
        typer.Option(help="Candidate boluses, U (default: 0 and 0.5-1.5 x carbs / CR)."),
    ] = None,
    observations: Annotated[
        Path | None,
        typer.Option(
            "--data", "--observations", help="CGM so far (t_min, glucose_mg_dl): sync first."
        ),
    ] = None,
    meals: Annotated[Path | None, typer.Option(help="Meals so far: t_min, carbs_g.")] = None,
    insulin: Annotated[Path | None, typer.Option(help="Insulin so far.")] = None,
    hours: Annotated[float, typer.Option(help="Forecast horizon, h.")] = 6.0,
    max_tbr: Annotated[
        float, typer.Option(help="Largest acceptable time below 70 mg/dL, % (chance 0.9).")
    ] = 4.0,
    members: Annotated[int, typer.Option(help="Ensemble members (>= 8).")] = 64,
    out: Annotated[Path | None, typer.Option(help="Write the recommendation as JSON.")] = None,
    seed: Annotated[int, typer.Option(help="Root seed.")] = 0,
    database: Annotated[
        str | None,
        typer.Option(
            help="Record the recommendation as proposed in this store (human oversight: "
            "refused while the model is switched off; a clinician accepts or overrides it "
            "with `healthtwin governance decide`)."
        ),
    ] = None,
    actor: Annotated[str, typer.Option(help="Who asks for the recommendation.")] = "cli",
    signing_key: Annotated[
        Path | None,
        typer.Option(
            help="Ed25519 key (PEM) that signs the recommendation's provenance, stored with "
            "it as a FHIR Provenance (with --database)."
        ),
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Recommend a meal bolus: best time in range subject to a hypoglycaemia limit.

    \b
    Example:
      healthtwin patient recommend --patient adolescent#001 --meal 60 \\
          --data cgm.csv --out recommendation.json
    """
    output = output_for(json_output, quiet)
    if members < 8 or not 0 < hours <= 24 or meal < 0 or not 0 <= max_tbr <= 100:
        raise InvalidInputError(
            "need --members >= 8, 0 < --hours <= 24, --meal >= 0 and 0 <= --max-tbr <= 100"
        )
    if database is not None:
        require_recommender_enabled(database)
    plan = plan_meal_bolus(
        patient,
        meal,
        boluses=None if boluses is None else _doses(boluses),
        observations=observations,
        meals=meals,
        insulin=insulin,
        hours=hours,
        max_tbr=max_tbr,
        members=members,
        seed=seed,
    )
    doses = list(plan.doses_u)
    with output.progress(
        f"forecasting bolus plans ({members} members each)", total=len(doses)
    ) as bar:
        rec = plan.run(on_progress=bar.update)
    lines: list[object] = [rec.explain()]
    document: dict[str, object] = {**rec.to_dict(), "out": out, "recommendation_id": None}
    if database is not None:
        made = propose_recommendation(database, rec.to_dict(), patient=patient, actor=actor)
        settings = {"patient": patient, "meal_g": meal, "boluses_u": doses, "hours": hours,
                    "max_tbr": max_tbr, "members": members, "seed": seed}  # fmt: skip
        inputs = {f"urn:file:{p.name}": p.read_bytes() for p in (observations, meals, insulin) if p}
        record_recommendation_provenance(
            database, made, rec.to_dict(), settings, inputs, actor=actor, key=signing_key
        )
        lines.append(f"recorded as proposed: {made} (accept or override it before acting)")
        document["recommendation_id"] = made
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rec.to_dict(), indent=2, default=float) + "\n")
        lines.append(f"wrote {out}")
    output.result(document, *lines)
