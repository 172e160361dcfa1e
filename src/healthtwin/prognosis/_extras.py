"""Lazy imports of the optional machine-learning libraries, with the extra to install.

scikit-learn, skops and shap are optional extras (``ml``, ``explain``). They are imported
where first needed, so ``import healthtwin.prognosis`` works without them and a missing one
is a :class:`~healthtwin.errors.MissingDependencyError` that names the ``pip install``
command. Modules come back as :class:`types.ModuleType`, so their (untyped) attributes are
``Any`` to mypy.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

from healthtwin.errors import MissingDependencyError

__all__ = ["require_ml", "require_shap"]

ML_EXTRA = "pip install 'healthtwin[ml]'"
EXPLAIN_EXTRA = "pip install 'healthtwin[explain]'"


def require_ml(module: str, purpose: str) -> ModuleType:
    """Import ``module`` from the ``ml`` extra (scikit-learn, skops, pandas).

    Raises
    ------
    MissingDependencyError
        If it is not installed; the message names the extra.

    Examples
    --------
    >>> require_ml("sklearn.metrics", "scoring").__name__
    'sklearn.metrics'
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{module.split('.')[0]!r} is needed for {purpose} but is not installed: {ML_EXTRA}"
        ) from err


def require_shap(purpose: str) -> ModuleType:
    """Import shap, the ``explain`` extra.

    Raises
    ------
    MissingDependencyError
        If shap is not installed; the message names the extra.
    """
    try:
        with warnings.catch_warnings():
            # shap's colour maps call matplotlib methods that matplotlib has marked for
            # deprecation; the warnings are about shap's code, not ours or the caller's.
            warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="shap")
            return importlib.import_module("shap")
    except ImportError as err:
        raise MissingDependencyError(
            f"shap is needed for {purpose} but is not installed: {EXPLAIN_EXTRA}"
        ) from err
