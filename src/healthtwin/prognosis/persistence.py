"""Saving fitted models safely: skops files, model cards and content hashes.

A pickle runs arbitrary code when loaded, so fitted models are stored with skops
(``skops.io``), which rebuilds objects only from types it is told to trust. Beside each
``model.skops`` lies ``model.card.json``, a model card (Mitchell et al. 2019, FAT*): the
data set with its source and licence, the features and their types, metrics, intended
use, limitations, training date, library versions, and the SHA-256 of the model file.
:func:`load_model` refuses a file whose hash differs from its card's (or from one the
caller holds), and a file holding any type outside an explicit allow-list
(:data:`TRUSTED_TYPES`), before anything in it is rebuilt. The card and the file travel
together, so the hash detects corruption and careless edits; against a deliberate
attacker who can rewrite both, pass ``expected_sha256`` from a store you control.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import platform
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from healthtwin.errors import InvalidInputError, InvalidParameterError
from healthtwin.prognosis._extras import require_ml

__all__ = ["TRUSTED_TYPES", "ModelCard", "card_path", "feature_types", "load_model", "save_model"]

TRUSTED_TYPES: tuple[str, ...] = (
    # healthtwin's own wrappers (plain data plus fitted estimators).
    "healthtwin.prognosis.bootstrap.BootstrapSurvival",
    "healthtwin.prognosis.cox_boosting.CoxGradientBoosting",
    "healthtwin.prognosis.design_matrix.DesignMatrix",
    "healthtwin.prognosis.survival.SurvivalModel",
    "healthtwin.prognosis.survival.SurvivalModelSpec",
    "healthtwin.prognosis.conformal.ConformalizedQuantileRegressor",
    "healthtwin.prognosis.conformal.SplitConformalRegressor",
    "healthtwin.prognosis.conformal_sets.SplitConformalClassifier",
    "healthtwin.prognosis.feature_schema.FeatureSchema",
    "healthtwin.prognosis.feature_schema.FeatureSpec",
    "healthtwin.prognosis.progression.ProgressionModel",
    # scikit-learn internals skops does not trust by default.
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    # scikit-survival models (its boosting and loss stay for models saved before "gbs"
    # moved to healthtwin.prognosis.cox_boosting).
    "sksurv.ensemble.boosting.GradientBoostingSurvivalAnalysis",
    "sksurv.ensemble.forest.RandomSurvivalForest",
    "sksurv.ensemble.survival_loss.CoxPH",
    "sksurv.functions.StepFunction",
    "sksurv.linear_model.coxph.BreslowEstimator",
    "sksurv.linear_model.coxph.CoxPHSurvivalAnalysis",
    "sksurv.tree.tree.SurvivalTree",
)
"""Types :func:`load_model` accepts beyond those skops trusts by default."""

_VERSIONED = ("healthtwin", "numpy", "scipy", "scikit-learn", "scikit-survival", "skops", "pandas")


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """What a saved model is, what it was fitted on, and what it is (not) for.

    ``training_date`` (ISO 8601), ``library_versions`` and ``sha256`` are filled in by
    :func:`save_model` when left empty.
    """

    name: str
    dataset: str
    dataset_source: str
    dataset_licence: str
    features: Mapping[str, str]
    metrics: Mapping[str, float]
    intended_use: str
    limitations: str
    training_date: str = ""
    library_versions: Mapping[str, str] = field(default_factory=dict)
    sha256: str = ""

    def to_json(self) -> str:
        """The card as indented JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        """Read a card written by :meth:`to_json`.

        Raises
        ------
        InvalidInputError
            If the text is not JSON or lacks or adds fields.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"the model card is not valid JSON: {err}") from err
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.name not in _FILLED}
        if not isinstance(data, dict) or not required <= data.keys() <= names:
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise InvalidInputError(
                f"the model card has fields {keys}; it needs {sorted(required)} "
                f"and may have {sorted(_FILLED)}"
            )
        return cls(**data)


_FILLED = frozenset({"training_date", "library_versions", "sha256"})


def card_path(model_path: str | Path) -> Path:
    """Where the card of ``model.skops`` lies: ``model.card.json`` beside it."""
    return Path(model_path).with_suffix(".card.json")


def save_model(model: Any, path: str | Path, card: ModelCard) -> ModelCard:
    """Write ``model`` to ``path`` (``.skops``) and its card beside it; return the card.

    Raises
    ------
    InvalidParameterError
        If ``path`` does not end in ``.skops``.
    MissingDependencyError
        If skops (the ``ml`` extra) is not installed.
    """
    sio = require_ml("skops.io", "saving models")
    target = Path(path)
    if target.suffix != ".skops":
        raise InvalidParameterError(f"model files end in .skops, got {target.name!r}")
    sio.dump(model, target)
    filled = replace(
        card,
        training_date=card.training_date or datetime.datetime.now(datetime.UTC).date().isoformat(),
        library_versions=dict(card.library_versions) or _library_versions(),
        sha256=_sha256(target.read_bytes()),
    )
    card_path(target).write_text(filled.to_json(), encoding="utf-8")
    return filled


def load_model(
    path: str | Path,
    *,
    trusted: Sequence[str] = TRUSTED_TYPES,
    expected_sha256: str | None = None,
) -> tuple[Any, ModelCard]:
    """Verify and load a model saved by :func:`save_model`; return it and its card.

    Parameters
    ----------
    path
        The ``.skops`` file; its card must lie beside it (:func:`card_path`).
    trusted
        Type names allowed beyond skops' defaults. Extend it only with types you have
        reviewed: loading a type can run its code.
    expected_sha256
        A hash recorded elsewhere (a registry you control), checked as well.

    Raises
    ------
    InvalidInputError
        If the card is missing or malformed, the file's SHA-256 differs from the card's
        or ``expected_sha256``, or the file holds a type outside ``trusted``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn.linear_model import LinearRegression
    >>> model = LinearRegression().fit([[0.0], [1.0]], [1.0, 3.0])
    >>> card = ModelCard(name="toy", dataset="two points", dataset_source="this example",
    ...                  dataset_licence="CC0", features={"x": "float64"}, metrics={},
    ...                  intended_use="documentation", limitations="two points")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     saved = save_model(model, Path(folder) / "toy.skops", card)
    ...     loaded, loaded_card = load_model(Path(folder) / "toy.skops")
    >>> loaded.predict([[2.0]]).round(9).tolist(), loaded_card.sha256 == saved.sha256
    ([5.0], True)
    """
    sio = require_ml("skops.io", "loading models")
    source = Path(path)
    card_file = card_path(source)
    if not source.is_file() or not card_file.is_file():
        raise InvalidInputError(
            f"need both {source} and its card {card_file}; save models with save_model"
        )
    card = ModelCard.from_json(card_file.read_text(encoding="utf-8"))
    content = source.read_bytes()  # hashed and loaded from the same bytes
    digest = _sha256(content)
    for what, wanted in (("its card", card.sha256), ("expected_sha256", expected_sha256)):
        if wanted is not None and digest != wanted.lower():
            raise InvalidInputError(
                f"{source.name} has SHA-256 {digest} but {what} records {wanted or '(none)'}: "
                "the file changed after it was saved; restore it or save the model again"
            )
    try:
        untrusted = list(sio.get_untrusted_types(data=content))
    except zipfile.BadZipFile as err:
        raise InvalidInputError(
            f"{source.name} is not a skops file ({err}); only files written by save_model load"
        ) from err
    unknown = sorted(set(untrusted) - set(trusted))
    if unknown:
        raise InvalidInputError(
            f"{source.name} holds types outside the allow-list: {unknown}; nothing was "
            "loaded. If you have reviewed them, pass trusted=(*TRUSTED_TYPES, ...) naming them"
        )
    return sio.loads(content, trusted=untrusted), card


def feature_types(frame: Any) -> dict[str, str]:
    """``{column: dtype}`` of a table, for :attr:`ModelCard.features`.

    Examples
    --------
    >>> import pandas as pd
    >>> feature_types(pd.DataFrame({"age": [61.0], "sex": ["F"]}))
    {'age': 'float64', 'sex': 'object'}
    """
    return {str(c): str(t) for c, t in frame.dtypes.items()}


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
