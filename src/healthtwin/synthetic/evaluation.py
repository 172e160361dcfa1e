"""The evaluation report of a synthetic table: fidelity, utility, privacy; JSON and HTML.

:func:`evaluate` gathers the figures of :mod:`~healthtwin.synthetic.fidelity`,
:mod:`~healthtwin.synthetic.utility` and :mod:`~healthtwin.synthetic.privacy_metrics`.

Utility and the empirical privacy checks need real *holdout* rows that the generator never
saw. Without them those sections are not computed, and the report says so in
``missing`` (JSON) and in a box at the top of the HTML page, with the reason. Splitting
the real table instead would not do: the generator saw every real row, so a split-off
part is not unseen (distance to closest record and membership inference would compare
training rows with training rows, and TSTR would be scored on rows the generator copied).

The discriminator compares the synthetic rows with the holdout when there is one. Against
the generator's own training rows its cross-validated AUROC is biased *below* 0.5: every
real row left out of a fold still has its echo (the synthetic rows the generator drew
near it) in the training folds, labelled synthetic, so held-out real rows score as
synthetic. On whas500 (250 training rows, 6 replications) the Gaussian copula scored
0.43 against its training rows and 0.62 against the 250 unseen rows, while two real halves
scored 0.49; the benchmark's 0.37-0.38 were this echo, not indistinguishability. Both
figures are reported when there is a holdout (``discriminator_auc`` against it,
``discriminator_auc_training`` against the training rows: far below 0.5 means the
synthetic rows sit on the training rows). The HTML page is self-contained: its plots are
PNG images inlined as base64 (matplotlib, no script, no CDN).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthtwin.synthetic.fidelity import (
    ColumnDistance,
    column_distances,
    contingency_difference,
    correlation_difference,
    discriminator_auc,
)
from healthtwin.synthetic.privacy_metrics import (
    distance_to_closest_record,
    membership_inference,
)
from healthtwin.synthetic.tabular import ColumnKind, TableSchema, require
from healthtwin.synthetic.utility import train_synthetic_test_real

__all__ = ["MISSING_REASONS", "EvaluationReport", "evaluate", "write_report"]

#: Why each section is missing from a report made without holdout rows.
MISSING_REASONS: dict[str, str] = {
    "utility": "train-on-synthetic-test-on-real needs real test rows the generator never "
    "saw (a holdout); scored on its training rows it would reward copying them",
    "dcr": "distance to closest record compares synthetic rows with real rows the "
    "generator never saw (a holdout); a split of the training table is not unseen",
    "membership": "membership inference needs non-members, real rows the generator never "
    "saw (a holdout); a split of the training table holds only members",
    "discriminator against unseen rows": "without a holdout the discriminator compares the "
    "synthetic rows with the generator's training rows: a value below 0.5 then means the "
    "synthetic rows sit close to those rows (memorisation), not better than chance",
}


@dataclass(frozen=True)
class EvaluationReport:
    """Every figure of one evaluation (NaN or None where not computed)."""

    n_real: int
    n_synthetic: int
    n_holdout: int
    columns: tuple[ColumnDistance, ...]
    correlation_difference: float
    contingency_difference: float
    discriminator_auc: float
    utility: dict[str, Any] | None
    dcr: dict[str, float] | None
    membership: dict[str, float] | None
    privacy: dict[str, Any] = field(default_factory=dict)
    #: Which real rows the discriminator compared: ``"holdout"`` or ``"training"``.
    discriminator_real: str = "training"
    #: The discriminator against the training rows (the same as ``discriminator_auc``
    #: without a holdout); far below 0.5 when the synthetic rows echo them.
    discriminator_auc_training: float = float("nan")
    #: Sections not computed and why (see :data:`MISSING_REASONS`).
    missing: dict[str, str] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def mean_column_distance(self) -> float:
        """Mean of the per-column KS/TVD distances."""
        return float(np.mean([c.value for c in self.columns]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (NaN written as null)."""
        record = asdict(self)
        record.pop("figures")
        record["mean_column_distance"] = self.mean_column_distance
        out: dict[str, Any] = _finite(record)
        return out

    def to_json(self) -> str:
        """The figures as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def to_html(self) -> str:
        """A self-contained HTML page with tables and inline plots."""
        return _html(self)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def evaluate(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    rng: np.random.Generator,
    holdout: pd.DataFrame | None = None,
    target: str | None = None,
    schema: TableSchema | None = None,
    privacy: dict[str, Any] | None = None,
    plots: bool = True,
    time: str | None = None,
    horizon: float | None = None,
) -> EvaluationReport:
    """Fidelity, utility (TSTR vs TRTR on ``target``) and privacy of a synthetic table.

    Parameters
    ----------
    real : DataFrame
        The rows the generator was fitted on.
    synthetic : DataFrame
        The generated rows (same columns).
    rng : numpy.random.Generator
        For subsampling, cross-validation folds and model seeds.
    holdout : DataFrame or None
        Real rows the generator never saw; needed for utility, DCR and membership, and
        the discriminator's real side when given. Without it ``missing`` lists what was
        not computed and why.
    target : str or None
        Column predicted in the utility task (default: the last column).
    schema : TableSchema or None
        Column metadata (inferred from ``real`` when None).
    privacy : dict or None
        The generator's privacy statement (mechanism, epsilon, delta), copied as is.
    plots : bool
        Draw the report's figures (matplotlib).
    time, horizon : str or None, float or None
        The follow-up column of a censored ``target`` and the horizon (default: the
        median follow-up of ``real``): utility becomes the IPCW AUROC of the event by
        the horizon, with Harrell's C beside it
        (:func:`~healthtwin.synthetic.utility.train_synthetic_test_real`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> real = pd.DataFrame({"x": rng.normal(size=300), "y": rng.integers(0, 2, 300)})
    >>> report = evaluate(real, real.sample(frac=1.0, random_state=1), rng=rng, plots=False)
    >>> report.mean_column_distance, sorted(report.missing)[:2]
    (0.0, ['dcr', 'discriminator against unseen rows'])
    """
    schema = schema or TableSchema.infer(real)
    correlation, _, _ = correlation_difference(real, synthetic, schema)
    utility = dcr = membership = None
    missing = dict(MISSING_REASONS)
    against_training = discriminator_auc(real, synthetic, schema, rng=rng)
    discriminator = against_training
    if holdout is not None:
        missing = {}
        name = target or schema.names[-1]
        result = train_synthetic_test_real(
            real, synthetic, holdout, name, schema, rng=rng, time=time, horizon=horizon
        )
        utility = asdict(result)
        utility["ratio"] = float(utility["tstr"] / utility["trtr"]) if utility["trtr"] else None
        dcr = asdict(distance_to_closest_record(synthetic, real, holdout, schema))
        membership = asdict(membership_inference(synthetic, real, holdout, schema, rng=rng))
        discriminator = discriminator_auc(holdout, synthetic, schema, rng=rng)
    report = EvaluationReport(
        n_real=int(real.shape[0]),
        n_synthetic=int(synthetic.shape[0]),
        n_holdout=0 if holdout is None else int(holdout.shape[0]),
        columns=column_distances(real, synthetic, schema),
        correlation_difference=correlation,
        contingency_difference=contingency_difference(real, synthetic, schema),
        discriminator_auc=discriminator,
        utility=utility,
        dcr=dcr,
        membership=membership,
        privacy=dict(privacy or {"mechanism": "unknown (not stated)"}),
        discriminator_real="training" if holdout is None else "holdout",
        discriminator_auc_training=against_training,
        missing=missing,
    )
    if not plots:
        return report
    figures = _figures(real, synthetic, schema, report)
    return EvaluationReport(**{**report.__dict__, "figures": figures})


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figures(
    real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema, report: EvaluationReport
) -> dict[str, str]:
    figure_module = require("matplotlib.figure", "the report's plots", "pip install matplotlib")
    figures: dict[str, str] = {}
    fig = figure_module.Figure(figsize=(7, 0.3 * len(report.columns) + 1.2))
    ax = fig.subplots()
    ax.barh([f"{c.column} ({c.metric})" for c in report.columns],
            [c.value for c in report.columns], color="#4c72b0")  # fmt: skip
    ax.set_xlabel("distance (0 = identical marginals)")
    ax.invert_yaxis()
    figures["column distances"] = _png(fig)
    shown = schema.columns[:6]
    fig = figure_module.Figure(figsize=(10, 2.4 * math.ceil(len(shown) / 3)))
    axes = np.atleast_1d(fig.subplots(math.ceil(len(shown) / 3), 3)).ravel()
    for ax, spec in zip(axes, shown, strict=False):
        if spec.kind is ColumnKind.CATEGORICAL:
            levels = list(spec.categories)
            positions = np.arange(len(levels))
            for offset, (label, table) in zip(
                (-0.2, 0.2), (("real", real), ("synthetic", synthetic)), strict=True
            ):
                share = table[spec.name].astype(str).value_counts(normalize=True)
                ax.bar(
                    positions + offset,
                    [share.get(level, 0.0) for level in levels],
                    0.4,
                    label=label,
                )
            ax.set_xticks(positions, levels, fontsize=7)
        else:
            encoded = (schema.encode(real)[:, schema.names.index(spec.name)],
                       schema.encode(synthetic)[:, schema.names.index(spec.name)])  # fmt: skip
            bins = np.histogram_bin_edges(encoded[0], bins=20)
            ax.hist(encoded[0], bins=bins, density=True, alpha=0.5, label="real")
            ax.hist(encoded[1], bins=bins, density=True, alpha=0.5, label="synthetic")
        ax.set_title(spec.name, fontsize=9)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7, loc="upper left")
    figures["marginals (first six columns)"] = _png(fig)
    _, difference, names = correlation_difference(real, synthetic, schema)
    if len(names) >= 2:
        fig = figure_module.Figure(figsize=(5, 4))
        ax = fig.subplots()
        image = ax.imshow(difference, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        fig.colorbar(image, ax=ax, label="synthetic - real correlation")
        figures["correlation difference"] = _png(fig)
    return figures


def _rows(record: dict[str, Any] | None, why: str | None = None) -> str:
    if record is None:
        reason = why or "give real holdout rows the generator never saw"
        return f"<p class='missing'>not computed: {html.escape(reason)}</p>"
    cells = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in record.items()
    )
    return f"<table>{cells}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "none" if value is None else str(value)


def _html(report: EvaluationReport) -> str:
    fidelity = {
        "rows real / synthetic / holdout": f"{report.n_real} / {report.n_synthetic} / "
        f"{report.n_holdout}",
        "mean column distance (KS / TVD)": report.mean_column_distance,
        "mean |correlation difference|": report.correlation_difference,
        "mean contingency TVD": report.contingency_difference,
        f"discriminator AUROC vs {report.discriminator_real} rows (0.5 = indistinguishable)": (
            report.discriminator_auc
        ),
    }
    if report.discriminator_real == "holdout":
        fidelity["discriminator AUROC vs training rows (far below 0.5: memorisation)"] = (
            report.discriminator_auc_training
        )
    why = report.missing
    notice = ""
    if why:
        items = "".join(
            f"<li><strong>{html.escape(k)}</strong>: {html.escape(v)}</li>" for k, v in why.items()
        )
        notice = (
            "<div class='missing'><p><strong>Incomplete report: no holdout.</strong> Give "
            "real rows the generator never saw (--holdout) for utility and privacy. "
            f"Not computed:</p><ul>{items}</ul></div>"
        )
    columns = {f"{c.column} ({c.metric})": c.value for c in report.columns}
    images = "".join(
        f"<figure><img alt='{html.escape(k)}' src='data:image/png;base64,{v}'>"
        f"<figcaption>{html.escape(k)}</figcaption></figure>"
        for k, v in report.figures.items()
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Synthetic data evaluation</title><style>body{font-family:sans-serif;"
        "max-width:60em;margin:auto}table{border-collapse:collapse}th,td{border:1px solid #ccc;"
        "padding:2px 8px;text-align:left}img{max-width:100%}.missing{background:#fff3cd;"
        "border:1px solid #e0b000;padding:4px 10px}</style></head><body>"
        f"<h1>Synthetic data evaluation</h1>{notice}"
        f"<h2>Fidelity</h2>{_rows(fidelity)}<h3>Per column</h3>{_rows(columns)}"
        "<h2>Utility (train on synthetic, test on real)</h2>"
        f"{_rows(report.utility, why.get('utility'))}"
        f"<h2>Privacy</h2><h3>Formal guarantee</h3>{_rows(report.privacy)}"
        f"<h3>Distance to closest record</h3>{_rows(report.dcr, why.get('dcr'))}"
        "<h3>Membership inference (distance attack)</h3>"
        f"{_rows(report.membership, why.get('membership'))}"
        "<p>Empirical attack scores describe one attack; only a formal mechanism (epsilon, "
        f"delta) is a guarantee.</p><h2>Figures</h2>{images}</body></html>"
    )


def write_report(report: EvaluationReport, path: Path) -> None:
    """Write ``path`` as HTML (``.html``) or JSON (anything else)."""
    path = Path(path)
    text = report.to_html() if path.suffix.lower() in {".html", ".htm"} else report.to_json()
    path.write_text(text, encoding="utf-8")
