"""Utility: train on synthetic, test on real (TSTR) against train on real (TRTR).

A gradient-boosted model predicts one column of the table (the prognosis task: an outcome
such as death or recurrence, or a continuous score) from the others. It is trained once on
the real training rows and once on the synthetic rows, and both are scored on real rows
that neither the generator nor the models saw (Esteban, Hyland & Ratsch, "Real-valued
(medical) time series generation with recurrent conditional GANs", arXiv:1706.02633,
2017). The score is the AUROC for a categorical target (one-vs-rest macro AUROC for more
than two levels) and for a numeric column with exactly two distinct values in the real
training rows (a 0/1 or True/False outcome such as ``died``: a classification task, the
larger value is the positive class, synthetic values are cut at the midpoint), and R
squared for any other numeric target.

Censored outcomes. An event flag observed within follow-up is not a label: a patient
censored on day 10 is "no event" only because nobody watched longer. Given the follow-up
column (``time``), the task becomes a fixed-horizon one: did the event happen by
``horizon`` (default: the median follow-up time of the real training rows, every row,
censored or not)? Patients censored before the horizon have no label. Rather than drop
them, which over-represents early events among the cases (a case is seen only if its
censoring came after its event, more likely for early events), the others are weighted
by the inverse probability of remaining uncensored (IPCW): a case (event at ``t <=
horizon``) by ``1 / G(t-)``, a control (followed beyond the horizon) by ``1 / G(horizon)``,
``G`` the Kaplan-Meier estimate of the censoring distribution of the same rows. Both
models are trained with these weights (from the real and from the synthetic rows) and
scored by the IPCW cumulative/dynamic AUROC at the horizon on the real test rows
(Uno et al. 2007, doi:10.1198/016214507000000149; sksurv's ``cumulative_dynamic_auc``).
Beside it, Harrell's C of the predicted risk on every real test row, censored ones
included (Harrell et al. 1982, doi:10.1001/jama.1982.03320430047030), ``trtr_c_index`` and
``tstr_c_index``. The horizon is a property of the real rows, so the synthetic rows are
judged on the real task; a generator that loses the link between follow-up and event
scores near 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.synthetic.fidelity import roc_auc
from healthtwin.synthetic.tabular import ColumnKind, FloatArray, TableSchema, require

__all__ = [
    "UtilityResult",
    "censoring_survival",
    "harrell_c",
    "ipcw_auroc_at_horizon",
    "train_synthetic_test_real",
]

#: Rows a chunk of Harrell's C compares at once (memory: chunk x n booleans).
_CHUNK = 512


@dataclass(frozen=True)
class UtilityResult:
    """Scores of the same model trained on real (TRTR) and on synthetic rows (TSTR).

    ``metric`` is ``"auroc"`` (classification) or ``"r2"`` (regression). With a follow-up
    column (``time``) the AUROC is the IPCW AUROC of the event by ``horizon`` (in the time
    column's unit), ``weighting`` is ``"ipcw"``, ``n_test_censored_before_horizon`` counts
    the real test rows without a label (weight 0) and ``trtr_c_index`` / ``tstr_c_index``
    are Harrell's C on every real test row; otherwise those are None and ``weighting`` is
    ``"none"``.
    """

    target: str
    metric: str
    trtr: float
    tstr: float
    time: str | None = None
    horizon: float | None = None
    weighting: str = "none"
    n_test: int | None = None
    n_test_censored_before_horizon: int | None = None
    trtr_c_index: float | None = None
    tstr_c_index: float | None = None

    @property
    def ratio(self) -> float:
        """TSTR over TRTR (1: synthetic data as useful as real)."""
        return self.tstr / self.trtr if self.trtr else float("nan")


def censoring_survival(time: FloatArray, event: npt.ArrayLike, at: FloatArray) -> FloatArray:
    """Kaplan-Meier probability of remaining uncensored just before each of ``at``.

    ``G(t-)``: censorings are the events of this estimate; at a tied time an event comes
    before a censoring (the patient who had the event was still under observation).

    Parameters
    ----------
    time, event : ndarray
        ``(n,)`` follow-up times and event flags (true/1: the event, else censored).
    at : ndarray
        ``(m,)`` times at which ``G(t-)`` is wanted.

    Returns
    -------
    ndarray
        ``(m,)`` values in ``(0, 1]``.

    Examples
    --------
    >>> t = np.array([1.0, 2.0, 3.0, 4.0])
    >>> censoring_survival(t, np.array([1, 0, 1, 0]), np.array([1.0, 2.0, 2.5, 5.0]))
    array([1.        , 1.        , 0.66666667, 0.        ])
    """
    time = np.asarray(time, dtype=float)
    censored = ~np.asarray(event, dtype=bool)
    steps = np.unique(time[censored])
    at_risk = (time[None, :] >= steps[:, None]).sum(axis=1)
    dropped = (censored[None, :] & (time[None, :] == steps[:, None])).sum(axis=1)
    survival = np.cumprod(1.0 - dropped / at_risk)
    index = np.searchsorted(steps, np.asarray(at, dtype=float), side="left")
    return np.concatenate([[1.0], survival])[index]


def _horizon_labels(
    time: FloatArray, event: npt.ArrayLike, horizon: float
) -> tuple[FloatArray, FloatArray]:
    """Labels (event by ``horizon``) and IPCW weights (0: censored before the horizon)."""
    flag = np.asarray(event, dtype=bool)
    case = flag & (time <= horizon)
    control = time > horizon
    g_case = censoring_survival(time, flag, time)
    g_horizon = float(censoring_survival(time, flag, np.array([horizon]))[0])
    weight = np.zeros(time.shape)
    with np.errstate(divide="ignore"):
        weight[case] = 1.0 / g_case[case]
        weight[control] = 1.0 / g_horizon if g_horizon > 0 else 0.0
    return case.astype(float), weight


def ipcw_auroc_at_horizon(
    time: FloatArray, event: npt.ArrayLike, risk: FloatArray, horizon: float
) -> float:
    """IPCW cumulative/dynamic AUROC of ``risk`` for the event by ``horizon``.

    Cases (event at ``t <= horizon``) weighted by ``1 / G(t-)``, controls (``t >
    horizon``) equally; rows censored before the horizon do not count. Ties in ``risk``
    count half.

    Raises
    ------
    InvalidInputError
        No case or no control at the horizon.

    Examples
    --------
    >>> t = np.array([1.0, 2.0, 3.0, 5.0, 6.0])
    >>> e = np.array([1, 0, 1, 0, 1])
    >>> round(ipcw_auroc_at_horizon(t, e, np.array([0.9, 0.1, 0.2, 0.3, 0.1]), 4.0), 4)
    0.7143
    """
    time = np.asarray(time, dtype=float)
    labels, weight = _horizon_labels(time, np.asarray(event), horizon)
    case, control = (labels == 1) & (weight > 0), (labels == 0) & (weight > 0)
    if not case.any() or not control.any():
        raise InvalidInputError(
            f"the AUROC at horizon {horizon:g} needs rows with the event by then and rows "
            f"followed beyond it; got {int(case.sum())} and {int(control.sum())}: choose a "
            "horizon inside the follow-up"
        )
    risk = np.asarray(risk, dtype=float)
    order = np.argsort(risk[control], kind="stable")
    scores, cumulative = risk[control][order], np.cumsum(weight[control][order])
    cumulative = np.concatenate([[0.0], cumulative])
    below = cumulative[np.searchsorted(scores, risk[case], side="left")]
    tied = cumulative[np.searchsorted(scores, risk[case], side="right")] - below
    total = weight[case].sum() * weight[control].sum()
    return float((weight[case] * (below + 0.5 * tied)).sum() / total)


def harrell_c(time: FloatArray, event: npt.ArrayLike, risk: FloatArray) -> float:
    """Harrell's concordance index of ``risk`` (higher: earlier event) with censored times.

    A pair is comparable when the earlier time is an event (or both times tie and only
    the first is an event); it is concordant when that row has the higher risk, half
    when the risks tie (sksurv's ``concordance_index_censored``).

    Raises
    ------
    InvalidInputError
        No comparable pair (no event).

    Examples
    --------
    >>> t = np.array([1.0, 2.0, 3.0, 4.0])
    >>> harrell_c(t, np.array([1, 1, 0, 1]), np.array([4.0, 2.0, 3.0, 1.0]))
    0.8
    """
    time = np.asarray(time, dtype=float)
    flag = np.asarray(event, dtype=bool)
    risk = np.asarray(risk, dtype=float)
    concordant = comparable = 0.0
    cases = np.flatnonzero(flag)
    for start in range(0, cases.size, _CHUNK):
        i = cases[start : start + _CHUNK, None]
        pair = (time[None, :] > time[i]) | ((time[None, :] == time[i]) & ~flag[None, :])
        comparable += pair.sum()
        concordant += (pair * ((risk[None, :] < risk[i]) + 0.5 * (risk[None, :] == risk[i]))).sum()
    if comparable == 0:
        raise InvalidInputError("Harrell's C needs at least one event before another time")
    return float(concordant / comparable)


def _score(
    task: str, labels: FloatArray, prediction: FloatArray, n_levels: int
) -> float:  # fmt: skip
    if task == "r2":
        residual = ((labels - prediction) ** 2).sum()
        return float(1 - residual / ((labels - labels.mean()) ** 2).sum())
    present = [k for k in range(n_levels) if 0 < (labels == k).sum() < labels.size]
    if not present:
        raise InvalidInputError("the real test rows hold a single class of the target")
    return float(np.mean([roc_auc(labels == k, prediction[:, k]) for k in present]))


def train_synthetic_test_real(
    real_train: pd.DataFrame,
    synthetic: pd.DataFrame,
    real_test: pd.DataFrame,
    target: str,
    schema: TableSchema | None = None,
    *,
    rng: np.random.Generator,
    time: str | None = None,
    horizon: float | None = None,
) -> UtilityResult:
    """Fit the same gradient-boosted model on real and on synthetic rows; score both on real.

    Parameters
    ----------
    real_train, synthetic, real_test : DataFrame
        The generator's training rows, its rows, and real rows neither saw.
    target : str
        The column to predict; with ``time``, the event flag (a two-level column whose
        last level in the schema, or larger value, is the event).
    schema : TableSchema or None
        Column metadata (inferred from ``real_train`` when None).
    rng : numpy.random.Generator
        The models' seed.
    time : str or None
        The follow-up column of a censored outcome: the task becomes the event by
        ``horizon``, IPCW-weighted, plus Harrell's C (see the module docstring). The time
        column is not a predictor.
    horizon : float or None
        In the time column's unit; default the median follow-up of ``real_train``.

    Raises
    ------
    InvalidInputError
        ``target`` or ``time`` is not a column, ``time`` is given for a target that is not
        a two-level event flag, or the real test rows have a single class.
    InvalidParameterError
        ``horizon`` is not a positive number.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=400)
    >>> table = pd.DataFrame({"x": x, "died": (x + rng.normal(size=400) > 0).astype(int)})
    >>> result = train_synthetic_test_real(table[:200], table[:200], table[200:], "died",
    ...                                    rng=rng)
    >>> result.metric, result.tstr == result.trtr
    ('auroc', True)
    >>> days = rng.exponential(100.0 / np.exp(x)).round(1)
    >>> table = table.assign(days=np.minimum(days, 150.0), died=(days < 150.0).astype(int))
    >>> result = train_synthetic_test_real(table[:200], table[:200], table[200:], "died",
    ...                                    rng=rng, time="days")
    >>> result.weighting, result.horizon > 0, result.tstr_c_index == result.trtr_c_index
    ('ipcw', True, True)
    """
    schema = schema or TableSchema.infer(real_train)
    for name in (target, time):
        if name is not None and name not in schema.names:
            raise InvalidInputError(f"{name!r} is not a column; columns: {schema.names}")
    ensemble = require("sklearn.ensemble", "the train-synthetic-test-real utility")
    j = schema.names.index(target)
    spec = schema.columns[j]
    real_encoded = schema.encode(real_train)
    cut = _binary_cut(spec.kind, real_encoded[:, j])
    if time is not None:
        return _survival_utility(
            (real_encoded, schema.encode(synthetic), schema.encode(real_test)),
            schema, target, time, horizon, cut, seed=int(rng.integers(2**31)),
        )  # fmt: skip
    keep = [k for k in range(len(schema.columns)) if k != j]
    classify = spec.kind is ColumnKind.CATEGORICAL or cut is not None
    task = "auroc" if classify else "r2"
    n_levels = 2 if cut is not None else len(spec.categories)
    seed = int(rng.integers(2**31))
    test = _as_labels(schema.encode(real_test), j, cut)
    scores = []
    for train in (_as_labels(real_encoded, j, cut), _as_labels(schema.encode(synthetic), j, cut)):
        # Category codes as ordered numbers: trees split them into any grouping they need.
        if classify:
            model = ensemble.GradientBoostingClassifier(random_state=seed)
        else:
            model = ensemble.GradientBoostingRegressor(random_state=seed)
        if classify and np.unique(train[:, j]).size < 2:
            scores.append(0.5)
            continue
        model.fit(train[:, keep], train[:, j])
        if classify:
            proba = np.zeros((test.shape[0], n_levels))
            proba[:, model.classes_.astype(int)] = model.predict_proba(test[:, keep])
            scores.append(_score(task, test[:, j], proba, n_levels))
        else:
            scores.append(_score(task, test[:, j], model.predict(test[:, keep]), 0))
    return UtilityResult(target, task, scores[0], scores[1])


def _survival_utility(
    tables: tuple[FloatArray, FloatArray, FloatArray],
    schema: TableSchema,
    target: str,
    time: str,
    horizon: float | None,
    cut: float | None,
    *,
    seed: int,
) -> UtilityResult:
    """The fixed-horizon IPCW task and Harrell's C (see the module docstring)."""
    ensemble = require("sklearn.ensemble", "the train-synthetic-test-real utility")
    j, k = schema.names.index(target), schema.names.index(time)
    spec = schema.columns[j]
    if spec.kind is ColumnKind.CATEGORICAL and len(spec.categories) == 2:
        cut = 0.5
    if cut is None or schema.columns[k].kind is ColumnKind.CATEGORICAL:
        raise InvalidInputError(
            f"time={time!r} needs a numeric follow-up column and a two-level event flag as "
            f"the target; {target!r} is {spec.kind.value} with "
            f"{len(spec.categories) or 'more than two'} levels: pass the event flag"
        )
    real, synthetic, test = tables
    if horizon is None:
        horizon = float(np.median(real[:, k]))
    if not (np.isfinite(horizon) and horizon > 0):
        raise InvalidParameterError(
            f"horizon must be a positive number of the time column's unit, got {horizon}"
        )
    keep = [c for c in range(len(schema.columns)) if c not in (j, k)]
    test_event = test[:, j] > cut
    risks, c_index = [], []
    for train in (real, synthetic):
        labels, weight = _horizon_labels(train[:, k], train[:, j] > cut, horizon)
        used = weight > 0
        if np.unique(labels[used]).size < 2:
            risks.append(np.zeros(test.shape[0]))  # one class: no ranking, AUROC 0.5
        else:
            model = ensemble.GradientBoostingClassifier(random_state=seed)
            model.fit(train[used][:, keep], labels[used], sample_weight=weight[used])
            risks.append(model.predict_proba(test[:, keep])[:, 1])
        c_index.append(harrell_c(test[:, k], test_event, risks[-1]))
    scores = [ipcw_auroc_at_horizon(test[:, k], test_event, r, horizon) for r in risks]
    unlabelled = int(((test[:, k] < horizon) & ~test_event).sum())
    return UtilityResult(
        target, "auroc", scores[0], scores[1], time=time, horizon=horizon, weighting="ipcw",
        n_test=int(test.shape[0]), n_test_censored_before_horizon=unlabelled,
        trtr_c_index=c_index[0], tstr_c_index=c_index[1],
    )  # fmt: skip


def _binary_cut(kind: ColumnKind, values: FloatArray) -> float | None:
    """The midpoint of a numeric column with exactly two distinct values, else None."""
    if kind in (ColumnKind.CATEGORICAL, ColumnKind.DATE):
        return None
    levels = np.unique(values[np.isfinite(values)])
    return float(levels.mean()) if levels.size == 2 else None


def _as_labels(encoded: FloatArray, j: int, cut: float | None) -> FloatArray:
    """``encoded`` with column ``j`` as 0/1 class labels when the target is binary."""
    if cut is None:
        return encoded
    out = encoded.copy()
    out[:, j] = encoded[:, j] > cut
    return out
