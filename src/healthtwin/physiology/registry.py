"""The explicit registry of patient models, by the names the CLI and scenarios use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from healthtwin.core.protocols import Model
from healthtwin.errors import UnknownModelError
from healthtwin.physiology.bergman import BergmanMinimal
from healthtwin.physiology.hovorka import Hovorka
from healthtwin.physiology.inflammation import Inflammation
from healthtwin.physiology.patients import load_patient
from healthtwin.physiology.uva_padova import UvaPadova

__all__ = ["MODELS", "make_model", "model_names"]


def _uva_padova() -> UvaPadova:
    return UvaPadova([load_patient("nominal-adult")])


#: Model name -> factory of the model with its nominal subject.
MODELS: Mapping[str, Callable[[], Model[Any]]] = MappingProxyType(
    {
        "uva-padova": _uva_padova,
        "hovorka": Hovorka,
        "bergman-minimal": BergmanMinimal,
        "inflammation": Inflammation,
    }
)


def model_names() -> tuple[str, ...]:
    """Registered model names."""
    return tuple(MODELS)


def make_model(name: str) -> Model[Any]:
    """The model called ``name`` with its nominal subject.

    Examples
    --------
    >>> make_model("hovorka").time_unit
    'min'
    >>> make_model("glucose")
    Traceback (most recent call last):
    ...
    healthtwin.errors.UnknownModelError: unknown model 'glucose'; valid models: uva-padova, ...
    """
    try:
        factory = MODELS[name]
    except KeyError as err:
        raise UnknownModelError(
            f"unknown model {name!r}; valid models: {', '.join(MODELS)}"
        ) from err
    return factory()
