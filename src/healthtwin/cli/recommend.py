"""``healthtwin patient recommend``: a meal-bolus recommendation from a (synced) glucose twin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from healthtwin.assimilation import EnsembleKalmanFilter, OutputObservation, view_for
from healthtwin.cli.output import JsonOption, QuietOption, output_for
from healthtwin.cli.sync import _glucose_inputs, _observations
from healthtwin.control.recommend import Constraint, Objective, recommend
from healthtwin.core import Events, Inputs, Twin, lognormal_spread, time_in_band
from healthtwin.coupling.patient_sync import GLUCOSE_STATES
from healthtwin.errors import InvalidInputError
from healthtwin.physiology.patients import load_patient
from healthtwin.physiology.uva_padova import UvaPadova


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
        Path | None, typer.Option(help="CGM so far (t_min, glucose_mg_dl): sync first.")
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
          --observations cgm.csv --out recommendation.json
    """
    output = output_for(json_output, quiet)
    if members < 8 or not 0 < hours <= 24 or meal < 0 or not 0 <= max_tbr <= 100:
        raise InvalidInputError(
            "need --members >= 8, 0 < --hours <= 24, --meal >= 0 and 0 <= --max-tbr <= 100"
        )
    if database is not None:
        _require_enabled(database)
    person = load_patient(patient)
    usual = meal / person.carb_ratio_g_per_u
    doses = (
        _doses(boluses)
        if boluses is not None
        else [0.0, *(round(f * usual, 1) for f in (0.5, 0.75, 1.0, 1.25, 1.5))]
    )
    model = UvaPadova([person])
    rng = np.random.default_rng(seed)
    prior = lognormal_spread(
        model.initial_state(members, rng), {UvaPadova.parameter_index("Vmx"): 0.3}, rng
    )
    view = view_for(model, states=GLUCOSE_STATES, parameters={"Vmx": (1e-4, 1.0)})
    given = _glucose_inputs(meals, insulin, person.basal_u_per_min)
    twin = Twin(
        model,
        prior,
        0.0,
        seed=seed,
        standing_inputs=given,
        assimilator=EnsembleKalmanFilter(view, inflation=1.01, rtps=0.5),
    )
    if observations is not None:
        series, names = _observations(observations, ("glucose_mg_dl",))
        cgm = OutputObservation(model, names, [8.0])
        if series.times[0] < 0:
            raise InvalidInputError("reading times must be >= 0 min")
        for t, y in zip(series.times, series.values, strict=True):
            twin.assimilate(float(t), y, cgm)
    now = twin.t
    plans = {
        f"bolus {u:g} U": Inputs(
            events={
                "meal_g": Events(np.array([now]), np.array([meal])),
                "bolus_u": Events(np.array([now]), np.array([u])),
            }
        )
        for u in doses
    }
    with output.progress(f"forecasting {len(doses)} bolus plans x {members} members"):
        rec = recommend(
            twin,
            plans,
            Objective("time in range 70-180 mg/dL (%)", time_in_band("glucose_mg_dl", 70.0, 180.0)),
            [
                Constraint(
                    f"time below 70 mg/dL <= {max_tbr:g} %",
                    time_in_band("glucose_mg_dl", -np.inf, 70.0),
                    max_tbr,
                    0.9,
                )
            ],
            horizon=hours * 60.0,
        )
    lines: list[object] = [rec.explain()]
    document: dict[str, object] = {**rec.to_dict(), "out": out, "recommendation_id": None}
    if database is not None:
        made = _propose(database, rec.to_dict(), patient=patient, actor=actor)
        settings = {"patient": patient, "meal_g": meal, "boluses_u": doses, "hours": hours,
                    "max_tbr": max_tbr, "members": members, "seed": seed}  # fmt: skip
        inputs = {f"urn:file:{p.name}": p.read_bytes() for p in (observations, meals, insulin) if p}
        _record_provenance(
            database, made, rec.to_dict(), settings, inputs, actor=actor, key=signing_key
        )
        lines.append(f"recorded as proposed: {made} (accept or override it before acting)")
        document["recommendation_id"] = made
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rec.to_dict(), indent=2, default=float) + "\n")
        lines.append(f"wrote {out}")
    output.result(document, *lines)


#: The registered model name of the recommender (governance/model_registry.py).
RECOMMENDER = "treatment-recommender"


def _require_enabled(database: str) -> None:
    from healthtwin.governance.model_registry import registered_model
    from healthtwin.store import open_store

    with open_store(database) as store:
        store.oversight().require_enabled(RECOMMENDER, registered_model(RECOMMENDER).version)


def _propose(database: str, value: dict[str, object], *, patient: str, actor: str) -> str:
    import uuid

    from healthtwin.governance.model_registry import registered_model
    from healthtwin.store import open_store

    identifier = f"rec-{uuid.uuid4().hex[:12]}"
    with open_store(database) as store:
        store.oversight().propose(
            identifier,
            model=RECOMMENDER,
            model_version=registered_model(RECOMMENDER).version,
            # The virtual patient's name is not a FHIR id: it travels in the value.
            value={"virtual_patient": patient, **json.loads(json.dumps(value, default=float))},
            proposed_by=actor,
        )
    return identifier


def _record_provenance(
    database: str,
    recommendation_id: str,
    value: dict[str, object],
    settings: dict[str, object],
    inputs: dict[str, bytes],
    *,
    actor: str,
    key: Path | None,
) -> None:
    """Hash what the recommendation came from, sign it if a key is given, store it as FHIR."""
    from datetime import UTC, datetime

    from healthtwin.governance.model_registry import registered_model
    from healthtwin.governance.provenance import (
        make_provenance,
        sign_provenance,
        to_fhir_provenance,
    )
    from healthtwin.governance.signing import load_signing_key
    from healthtwin.store import open_store

    record = make_provenance(
        f"GuidanceResponse/{recommendation_id}",
        inputs=inputs or {"urn:healthtwin:no-readings": b""},
        model_name=RECOMMENDER,
        model_version=registered_model(RECOMMENDER).version,
        model_parameters=settings,
        agent=f"Device/healthtwin-{actor}",
        activity="recommend",
        time=datetime.now(UTC),
        target_content=json.loads(json.dumps(value, default=float)),
    )
    if key is not None:
        record = sign_provenance(record, load_signing_key(key))
    with open_store(database) as store:
        store.create({**to_fhir_provenance(record), "id": f"prov-{recommendation_id}"})
