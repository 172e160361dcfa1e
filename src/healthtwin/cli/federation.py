"""``healthtwin federation``: federated learning on Flower, on one machine or many.

``demo`` starts a whole federation on loopback (SuperLink + SuperNodes with TLS and node
authentication) and prints each round; ``server``, ``site`` and ``project`` run the parts
separately for a multi-machine set-up (docs/federation.md). Flower is imported only when a
command runs.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from healthtwin.cli.output import JsonOption, Output, QuietOption, output_for
from healthtwin.errors import InvalidInputError

federation_app = typer.Typer(
    help="Federated learning across sites on Flower.", no_args_is_help=True
)


@federation_app.command("demo")
def demo_command(
    sites: Annotated[int, typer.Option(help="Number of SuperNodes (sites).")] = 3,
    rounds: Annotated[int, typer.Option(help="Federated rounds.")] = 5,
    model: Annotated[
        str, typer.Option(help="cox, logistic or gbdt (histogram gradient-boosted trees).")
    ] = "cox",
    dp_epsilon: Annotated[
        float, typer.Option(help="Total epsilon of DP-FedAvg (site-level); 0 turns DP off.")
    ] = 0.0,
    clip_norm: Annotated[float, typer.Option(help="DP clip norm of a site's update.")] = 0.5,
    dataset: Annotated[
        str, typer.Option("--data", "--dataset", help="Shipped survival data set to split.")
    ] = "whas500",
    split: Annotated[str, typer.Option(help="iid or case-mix.")] = "iid",
    strategy: Annotated[str, typer.Option(help="fedavg or fedprox.")] = "fedavg",
    secure_aggregation: Annotated[
        bool,
        typer.Option(
            "--secure-aggregation",
            help="Aggregate over Flower's SecAgg+: the server sees only the sum of updates.",
        ),
    ] = False,
    in_process: Annotated[
        bool, typer.Option("--in-process", help="Run the same apps in one process instead.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the trained model (JSON: parameters, rounds, privacy spent)."),
    ] = None,
    trees: Annotated[int, typer.Option(help="gbdt: number of trees.")] = 20,
    max_depth: Annotated[int, typer.Option(help="gbdt: depth of each tree.")] = 3,
    seed: Annotated[
        int, typer.Option(help="Seed of the split into sites and of the training's noise.")
    ] = 0,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Start a federation on loopback, train, and print per-round metrics.

    With --model gbdt the sites answer gradient histograms level by level (one line per
    tree); without DP the model equals the one trained on the pooled data.

    \b
    Example:
      healthtwin federation demo --sites 3 --rounds 5 --model cox --dp-epsilon 2.0
      healthtwin federation demo --model gbdt --trees 10 --in-process
    """
    output = output_for(json_output, quiet)
    if model == "gbdt":
        _boosting_demo(
            output, sites, trees, max_depth, dp_epsilon, dataset, split, in_process, out, seed
        )
        return
    if secure_aggregation and sites < 2:
        raise InvalidInputError("--secure-aggregation needs at least two --sites")
    from healthtwin.scenarios.federation_runs import demo_nodes, train_demo

    outcome = "binary" if model == "logistic" else "survival"
    nodes = demo_nodes(sites, dataset=dataset, split=split, outcome=outcome, seed=seed)
    run_config: dict[str, bool | float | int | str] = {
        "model": model, "num-rounds": rounds, "strategy": strategy,
        "dp-epsilon": dp_epsilon, "clip-norm": clip_norm,
        "secure-aggregation": secure_aggregation, "seed": seed,
    }  # fmt: skip
    task = f"training {model} over {sites} sites for {rounds} rounds"
    if in_process:
        task = f"{task} (in process)"
    else:
        output.say(f"starting a SuperLink and {sites} SuperNodes on 127.0.0.1 (TLS, node auth)")
    # In process the rounds are counted; a deployed run's rounds happen in the
    # SuperLink's process and come back only at the end: a spinner there.
    with output.progress(f"{task} (rounds)", total=rounds if in_process else None) as bar:
        trained = train_demo(
            nodes, run_config, in_process=in_process, timeout_s=120.0 + 60.0 * rounds,
            on_round=bar.update,
        )  # fmt: skip
    seconds = trained.seconds
    lines = list(trained.round_lines)
    if secure_aggregation:
        lines.insert(0, "secure aggregation (SecAgg+): the server saw only the sum of the updates")
    lines.append(f"done in {seconds:.1f} s")
    document = {
        "sites": sites, "model": model, "dp_epsilon": dp_epsilon,
        "secure_aggregation": secure_aggregation, "seconds": seconds, "seed": seed,
        "rounds": trained.rounds,
    }  # fmt: skip
    if out is not None:
        saved = {**document, "dataset": dataset, "theta": trained.theta}
        _write_model(out, saved)
        document["out"] = str(out)
        lines.append(f"model -> {out}")
    output.result(document, *lines)


def _write_model(path: Path, document: dict[str, object]) -> None:
    import json

    from healthtwin.cli.output import jsonable

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(document), indent=1) + "\n", encoding="utf-8")


def _boosting_demo(
    output: Output,
    sites: int,
    trees: int,
    max_depth: int,
    dp_epsilon: float,
    dataset: str,
    split: str,
    in_process: bool,
    out: Path | None,
    seed: int,
) -> None:
    """``demo --model gbdt``: federated histogram boosting over the same sites."""
    from healthtwin.scenarios.federation_runs import demo_nodes, train_boosting_demo

    nodes = demo_nodes(sites, dataset=dataset, split=split, outcome="binary", seed=seed)
    run_config: dict[str, bool | float | int | str] = {
        "num-trees": trees, "max-depth": max_depth, "dp-epsilon": dp_epsilon, "seed": seed,
    }  # fmt: skip
    task = f"boosting {trees} trees of depth {max_depth} over {sites} sites"
    if in_process:
        task = f"{task} (in process)"
    else:
        output.say(f"starting a SuperLink and {sites} SuperNodes on 127.0.0.1 (TLS, node auth)")
    with output.progress(f"{task} (trees)", total=trees if in_process else None) as bar:
        boosted = train_boosting_demo(
            nodes, run_config, dataset=dataset, in_process=in_process,
            timeout_s=120.0 + 30.0 * trees, on_tree=bar.update,
        )  # fmt: skip
    scores, epsilon = boosted.scores, boosted.epsilon
    lines = list(boosted.tree_lines)
    lines.append(
        f"on the pooled sites' records: AUROC {scores['auc']:.3f}, log-loss "
        f"{scores['log_loss']:.3f}" + (f"; epsilon spent {epsilon:.3g}" if epsilon else "")
    )
    document = {
        "sites": sites, "model": "gbdt", "trees": boosted.n_trees, "dp_epsilon": dp_epsilon,
        "epsilon": epsilon, "metrics": scores, "levels": boosted.levels,
    }  # fmt: skip
    if out is not None:
        _write_model(out, {**document, "gbdt": boosted.model})
        document["out"] = str(out)
        lines.append(f"model -> {out}")
    output.result(document, *lines)


@federation_app.command("project")
def project_command(
    out: Annotated[Path, typer.Option(help="Directory to write the Flower app project to.")],
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Write the Flower app project that ``flwr run`` submits to a SuperLink.

    \b
    Example:
      healthtwin federation project --out flower-app/
    """
    from healthtwin.scenarios.federation_runs import write_flower_project

    written = write_flower_project(out)
    output_for(json_output, quiet).result({"out": written}, str(written))


#: Flower sends usage telemetry unless told not to; a site's machine must not.
_QUIET_ENV = {"FLWR_TELEMETRY_ENABLED": "0"}


def _run_or_print(args: list[str], dry_run: bool, output: Output) -> None:
    """Print the command (as ``{"command": [...]}`` under --json), then run it.

    The process's own log goes to stderr unless a person reads the output, so that --json
    keeps stdout to the one document.
    """
    output.result(
        {"command": args, "dry_run": dry_run, "environment": _QUIET_ENV},
        " ".join(f"{k}={v}" for k, v in _QUIET_ENV.items()) + " " + shlex.join(args),
    )
    if not dry_run:
        env = {**os.environ, **_QUIET_ENV}
        raise typer.Exit(
            subprocess.call(args, stdout=None if output.human else sys.stderr, env=env)
        )


@federation_app.command("server")
def server_command(
    ca: Annotated[Path, typer.Option(help="CA certificate (PEM).")],
    cert: Annotated[Path, typer.Option(help="SuperLink TLS certificate (PEM).")],
    key: Annotated[Path, typer.Option(help="SuperLink TLS private key (PEM).")],
    host: Annotated[
        str, typer.Option(help="Interface to bind; the Control API shares this port.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Fleet + Control API port.")] = 9093,
    database: Annotated[Path | None, typer.Option(help="SQLite state file.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the command only.")] = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run the SuperLink with TLS, node authentication and no run-time installs.

    \b
    Example:
      healthtwin federation server --ca ca.pem --cert superlink.pem \\
          --key superlink.key
    """
    args = [
        str(Path(sys.executable).parent / "flower-superlink"),
        "--ssl-ca-certfile", str(ca), "--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
        "--enable-supernode-auth", "--disable-runtime-dependency-installation",
        "--host", host, "--port", str(port),
    ]  # fmt: skip
    if database is not None:
        args += ["--database", str(database)]
    output = output_for(json_output, quiet)
    if host not in {"127.0.0.1", "localhost", "::1"}:
        output.warn(
            "the Control API shares this port and has no authentication of its "
            "own; expose it beyond loopback only behind mutual TLS (docs/federation.md)"
        )
    _run_or_print(args, dry_run, output)


@federation_app.command("site")
def site_command(
    superlink: Annotated[str, typer.Option(help="SuperLink address, host:port.")],
    root_certificates: Annotated[Path, typer.Option(help="CA certificate (PEM).")],
    auth_key: Annotated[Path, typer.Option(help="This site's registered private key.")],
    data: Annotated[
        Path, typer.Option(help="The site's harmonised records: .npz with features, time, event.")
    ],
    name: Annotated[str, typer.Option(help="Site name in the records.")] = "site",
    runtime_port: Annotated[int, typer.Option(help="Local ClientApp runtime port.")] = 9094,
    ledger: Annotated[
        Path | None,
        typer.Option(help="This site's privacy ledger (JSON lines); needs --budget-epsilon."),
    ] = None,
    budget_epsilon: Annotated[
        float | None, typer.Option(help="The site's learning budget (epsilon) in --ledger.")
    ] = None,
    budget_delta: Annotated[float, typer.Option(help="The site's learning delta budget.")] = 1e-5,
    audit: Annotated[
        Path | None, typer.Option(help="This site's hash-chained audit log (JSON lines).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the command only.")] = False,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run this site's SuperNode; its data never leave the machine.

    With --ledger and --budget-epsilon the site charges every DP round to its own budget
    before training (and sits out once it is spent); with --audit it writes every round to
    its own hash-chained log. Flower's telemetry is off.

    \b
    Example:
      healthtwin federation site --superlink superlink.example.org:9093 \\
          --root-certificates ca.pem --auth-key site.key --data site.npz \\
          --ledger ledger.jsonl --budget-epsilon 4 --audit audit.jsonl
    """
    if (ledger is None) != (budget_epsilon is None):
        raise InvalidInputError("give --ledger and --budget-epsilon together, or neither")
    node_config = f'data-path="{data.resolve()}" site-name="{name}"'
    if ledger is not None:
        node_config += (
            f' ledger-path="{ledger.resolve()}" budget-epsilon={budget_epsilon}'
            f" budget-delta={budget_delta}"
        )
    if audit is not None:
        node_config += f' audit-path="{audit.resolve()}"'
    args = [
        str(Path(sys.executable).parent / "flower-supernode"),
        "--superlink", superlink, "--root-certificates", str(root_certificates),
        "--auth-supernode-private-key", str(auth_key),
        "--host", "127.0.0.1", "--port", str(runtime_port), "--node-config", node_config,
    ]  # fmt: skip
    _run_or_print(args, dry_run, output_for(json_output, quiet))
