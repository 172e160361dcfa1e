"""The explicit registry of patient models, by the names the CLI and scenarios use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import Any

import numpy as np

from healthtwin.core.inputs import Events, Inputs
from healthtwin.core.protocols import Model
from healthtwin.errors import UnknownModelError
from healthtwin.physiology.bergman import BergmanMinimal
from healthtwin.physiology.circulation.smith2004 import SmithCVS
from healthtwin.physiology.circulation.smith2004_parameters import septic_shock_parameters
from healthtwin.physiology.hovorka import Hovorka
from healthtwin.physiology.inflammation import (
    PAPER_SCENARIOS,
    Inflammation,
    reynolds_nominal_parameters,
)
from healthtwin.physiology.patients import load_patient
from healthtwin.physiology.pkpd.model import PKPD_MODELS
from healthtwin.physiology.uva_padova import UvaPadova

__all__ = ["MODELS", "make_model", "make_scenario", "model_names", "scenario_names"]


def _uva_padova() -> UvaPadova:
    return UvaPadova([load_patient("nominal-adult")])


#: Model name -> factory of the model with its nominal subject.
MODELS: Mapping[str, Callable[[], Model[Any]]] = MappingProxyType(
    {
        "uva-padova": _uva_padova,
        "hovorka": Hovorka,
        "bergman-minimal": BergmanMinimal,
        "inflammation": Inflammation,
        **PKPD_MODELS,
        "cvs-smith": SmithCVS,
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


def _inflammation_scenario(name: str) -> tuple[Model[Any], Inputs]:
    run = PAPER_SCENARIOS[name]
    model = Inflammation(reynolds_nominal_parameters(k_pg=run.k_pg))
    inoculum = Events(np.array([0.0]), np.array([run.pathogen_0]))
    return model, Inputs(events={"pathogen_inoculum": inoculum})


#: Model name -> scenario name -> factory of (model, inputs) for that published run.
SCENARIOS: Mapping[str, Mapping[str, Callable[[], tuple[Model[Any], Inputs]]]] = MappingProxyType(
    {
        "inflammation": MappingProxyType(
            {name: partial(_inflammation_scenario, name) for name in PAPER_SCENARIOS}
        ),
        "cvs-smith": MappingProxyType(
            {
                "nominal": lambda: (SmithCVS(), Inputs()),
                "septic-shock": lambda: (SmithCVS(septic_shock_parameters()), Inputs()),
            }
        ),
    }
)


def scenario_names(model: str) -> tuple[str, ...]:
    """Published scenarios available for ``model`` (may be empty)."""
    return tuple(SCENARIOS.get(model, {}))


def make_scenario(model: str, scenario: str) -> tuple[Model[Any], Inputs]:
    """The model and inputs of a published scenario.

    Examples
    --------
    >>> model, inputs = make_scenario("inflammation", "septic-death")
    >>> float(inputs.events["pathogen_inoculum"].amounts[0, 0])
    1.0
    """
    runs = SCENARIOS.get(model, {})
    if scenario not in runs:
        valid = ", ".join(runs) or "none"
        raise UnknownModelError(
            f"unknown scenario {scenario!r} for {model}; valid scenarios: {valid}"
        )
    return runs[scenario]()
