"""``healthtwin governance``: model cards, kill switches, clinicians' decisions, audit checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from healthtwin.cli.output import JsonOption, QuietOption, output_for
from healthtwin.errors import InvalidInputError

governance_app = typer.Typer(
    help="Model cards, human oversight and the audit log.", no_args_is_help=True
)

_DATABASE = typer.Option(help="Database URL (default: $HEALTHTWIN_DATABASE_URL or a SQLite file).")


@governance_app.command("cards")
def cards(
    model: Annotated[
        str | None, typer.Option(help="One registered model (default: list all).")
    ] = None,
    format: Annotated[
        str, typer.Option(help="markdown or fhir (a FHIR Composition).")
    ] = "markdown",
    out: Annotated[Path | None, typer.Option(help="Write here instead of printing.")] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Credibility and model cards of the registered models; fails if any card is missing.

    \b
    Example:
      healthtwin governance cards --model rt-cori --format fhir --out rt.json
    """
    from healthtwin.governance.model_registry import (
        REGISTERED_MODELS,
        cards_composition,
        cards_markdown,
        load_cards,
        missing_cards,
    )

    if format not in ("markdown", "fhir"):
        raise InvalidInputError(f"--format {format!r}: choose markdown or fhir")
    loaded = load_cards()
    missing = missing_cards()
    if missing:
        raise InvalidInputError(f"registered models without cards: {list(missing)}")
    document: dict[str, object]
    if model is None:
        text = "\n".join(f"{m.key}\t{m.kind}\t{m.summary}" for m in REGISTERED_MODELS.values())
        document = {"models": [{"key": m.key, "kind": m.kind, "summary": m.summary}
                               for m in REGISTERED_MODELS.values()]}  # fmt: skip
    elif format == "markdown":
        text = cards_markdown(model, cards=loaded)
        document = {"model": model, "markdown": text}
    else:
        composition = cards_composition(model, cards=loaded)
        text = json.dumps(composition, indent=2)
        document = {"model": model, "composition": composition}
    output = output_for(json_output, quiet)
    if out is None:
        output.result(document, text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        output.result({**document, "out": out}, f"wrote {out}")


@governance_app.command("disable")
def disable(
    model: Annotated[str, typer.Option(help="Registered model name.")],
    reason: Annotated[str, typer.Option(help="Why it is switched off.")],
    actor: Annotated[str, typer.Option(help="Who switches it off.")],
    version: Annotated[str, typer.Option(help="Version, or * for every version.")] = "*",
    database: Annotated[str | None, _DATABASE] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Switch a model version off: its recommendations are refused until enabled again.

    \b
    Example:
      healthtwin governance disable --model treatment-recommender \\
          --reason 'drift' --actor dr-lee
    """
    switch = _set_switch(False, model, version, reason=reason, actor=actor, database=database)
    _switched(False, switch.model, switch.version, actor, json_output, quiet)


@governance_app.command("enable")
def enable(
    model: Annotated[str, typer.Option(help="Registered model name.")],
    reason: Annotated[str, typer.Option(help="Why it is switched on again.")],
    actor: Annotated[str, typer.Option(help="Who switches it on.")],
    version: Annotated[str, typer.Option(help="Version, or * for every version.")] = "*",
    database: Annotated[str | None, _DATABASE] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Switch a model version back on.

    \b
    Example:
      healthtwin governance enable --model treatment-recommender \\
          --reason 'revalidated' --actor dr-lee
    """
    switch = _set_switch(True, model, version, reason=reason, actor=actor, database=database)
    _switched(True, switch.model, switch.version, actor, json_output, quiet)


def _switched(
    enabled: bool, model: str, version: str, actor: str, json_output: bool, quiet: bool
) -> None:
    state = "enabled" if enabled else "disabled"
    output_for(json_output, quiet).result(
        {"model": model, "version": version, "enabled": enabled, "actor": actor},
        f"{model}@{version} {state} by {actor}",
    )


def _set_switch(
    enabled: bool, model: str, version: str, *, reason: str, actor: str, database: str | None
) -> Any:
    from healthtwin.store import open_store

    with open_store(database) as store:
        oversight = store.oversight()
        change = oversight.enable if enabled else oversight.disable
        return change(model, version, reason=reason, actor=actor)


@governance_app.command("decide")
def decide(
    recommendation: Annotated[str, typer.Option(help="Recommendation id.")],
    actor: Annotated[str, typer.Option(help="The clinician deciding.")],
    accept: Annotated[bool, typer.Option("--accept", help="Accept as proposed.")] = False,
    override: Annotated[
        str | None, typer.Option(help="Override with this JSON value, e.g. '{\"bolus_u\": 3}'.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (required to override).")] = None,
    database: Annotated[str | None, _DATABASE] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Accept or override a proposed recommendation; both are recorded and audited.

    \b
    Example:
      healthtwin governance decide --recommendation rec-0123abcd \\
          --actor dr-lee --accept
    """
    from healthtwin.store import open_store

    if accept == (override is not None):
        raise InvalidInputError("give exactly one of --accept or --override VALUE")
    with open_store(database) as store:
        oversight = store.oversight()
        if accept:
            made = oversight.accept(recommendation, actor=actor, reason=reason)
        else:
            if not reason:
                raise InvalidInputError("--override needs --reason: say why")
            try:
                value = json.loads(override or "")
            except json.JSONDecodeError as err:
                raise InvalidInputError(f"--override is not JSON: {err}") from err
            if not isinstance(value, dict):
                raise InvalidInputError('--override must be a JSON object such as {"bolus_u": 3}')
            made = oversight.override(recommendation, actor=actor, reason=reason, value=value)
    output_for(json_output, quiet).result(
        {"id": made.id, "status": made.status, "decided_by": made.decided_by},
        f"{made.id}: {made.status} by {made.decided_by}",
    )


@governance_app.command("verify-audit")
def verify_audit(
    database: Annotated[str | None, _DATABASE] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Check the hash chain and signed checkpoints of the audit log (exit 2 if broken).

    \b
    Example:
      healthtwin governance verify-audit --database sqlite:///healthtwin.db
    """
    from healthtwin.store import open_store

    with open_store(database) as store:
        report = store.verify_audit()
    if not report.ok:
        raise InvalidInputError(
            f"audit log broken at event {report.first_bad_sequence}: {report.reason}"
        )
    output_for(json_output, quiet).result(
        {"ok": True, "events": report.n_events, "checkpoints": report.n_checkpoints,
         "head_hash": report.head_hash},
        f"audit log intact: {report.n_events} events, {report.n_checkpoints} checkpoints, "
        f"head {report.head_hash[:16]}",
    )  # fmt: skip


@governance_app.command("fairness")
def fairness(
    dataset: Annotated[
        str, typer.Option("--data", "--dataset", help="A shipped clinical data set (e.g. whas500).")
    ],
    out: Annotated[Path, typer.Option(help="Report: .md or .json.")],
    model: Annotated[
        str,
        typer.Option(
            help="Survival model (cox, coxnet, rsf, gbs) or progression model (ridge, "
            "gradient_boosting, linear)."
        ),
    ] = "cox",
    by: Annotated[
        str, typer.Option(help="Subgroup columns, comma-separated; age is banded.")
    ] = "age",
    horizon: Annotated[
        float | None, typer.Option(help="Outcome horizon (default: median follow-up).")
    ] = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Per-subgroup performance and calibration of a prediction model (fairlearn).

    Out-of-fold survival predictions (5 folds) on a shipped data set; the outcome is the
    event by ``--horizon``, and patients censored before it are left out.

    \b
    Example:
      healthtwin governance fairness --data whas500 --model cox \\
          --by gender,age --out fairness.md
    """
    from healthtwin.scenarios.model_fairness import model_fairness

    made = model_fairness(dataset, model=model, by=by, horizon=horizon)
    report, name, columns = made.report, made.model_key, list(made.columns)
    text = json.dumps(report.to_dict(), indent=2) if out.suffix == ".json" else report.to_markdown()
    out.write_text(text + "\n", encoding="utf-8")
    output_for(json_output, quiet).result(
        {**report.to_dict(), "out": out}, f"fairness of {name} on {dataset} by {columns}: {out}"
    )
