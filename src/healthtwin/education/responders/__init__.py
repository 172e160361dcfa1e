"""Physiology responders: the part of a virtual patient that answers the learner's actions.

A responder wraps a physiology model for play: it builds one patient from a case's
parameters, applies learner actions and timeline events as inputs, advances in short steps
of twin time and reports measures in canonical units (see :mod:`healthtwin.education.record`).
State is opaque to the engine; every call returns a new state, and all randomness comes from
the generator passed in, so a session replays exactly.

Kinds are resolved through an explicit registry of ``"module:Class"`` paths imported lazily,
so a responder whose module is not installed yet gives a clear :class:`UnknownModelError`
rather than an ``ImportError`` traceback. A kind may have aliases: ``circulation`` names the
``sepsis`` responder, whose lumped circulation also models haemorrhage (with no
inflammation it is a patient without sepsis); :func:`canonical_kind` maps an alias to its
kind (the kind the comorbidity table and the cohort mapping are keyed by).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np

from healthtwin.errors import MissingDependencyError, UnknownModelError

__all__ = ["Responder", "canonical_kind", "make_responder", "responder_kinds"]


@runtime_checkable
class Responder(Protocol):
    """The contract between the play engine and a physiology model.

    ``kind`` is the case's ``patient.model``; ``measures`` the canonical measure names the
    responder reports (the suffix names the unit). Every method returns a new state (states
    are opaque to the engine and never mutated in place).
    """

    kind: str
    measures: tuple[str, ...]

    def initial(
        self,
        parameters: Mapping[str, float],
        initial_state: Mapping[str, Any],
        rng: np.random.Generator,
    ) -> Any:
        """The patient's state at the case's start."""
        ...

    def apply(self, state: Any, effect: Mapping[str, Any], dose: float | None, t_min: float) -> Any:
        """The state after a learner action (``effect`` from the case, ``dose`` canonical)."""
        ...

    def event(self, state: Any, event: Mapping[str, Any], t_min: float) -> Any:
        """The state after a timeline event (``event`` is the case's event mapping)."""
        ...

    def advance(self, state: Any, t0_min: float, t1_min: float, rng: np.random.Generator) -> Any:
        """The state at ``t1_min`` starting from ``t0_min`` (deterministic given ``rng``)."""
        ...

    def measure(self, state: Any) -> dict[str, float]:
        """Every measure in ``measures``, in canonical units."""
        ...

    def dead(self, state: Any) -> bool:
        """Whether the patient has died (the session ends)."""
        ...

    def sample_parameters(
        self, parameters: Mapping[str, float], rng: np.random.Generator
    ) -> dict[str, float]:
        """One patient drawn from the case's parameter uncertainty (for debrief bands)."""
        ...


# kind -> "module:Class"; resolved lazily by make_responder. Add one line per responder.
_REGISTRY: Final[Mapping[str, str]] = MappingProxyType(
    {
        "glucose": "healthtwin.education.responders.glucose:GlucoseResponder",
        "sepsis": "healthtwin.education.responders.sepsis:SepsisResponder",
        "anaesthesia": "healthtwin.education.responders.anaesthesia:AnaesthesiaResponder",
    }
)
# alias -> registered kind; an alias is a valid ``patient.model`` too.
_ALIASES: Final[Mapping[str, str]] = MappingProxyType({"circulation": "sepsis"})


def canonical_kind(kind: str) -> str:
    """The registered kind an alias stands for (a registered kind maps to itself).

    Examples
    --------
    >>> canonical_kind("circulation"), canonical_kind("sepsis"), canonical_kind("glucose")
    ('sepsis', 'sepsis', 'glucose')
    """
    return _ALIASES.get(kind, kind)


def responder_kinds() -> tuple[str, ...]:
    """The responder kinds a case's ``patient.model`` may name.

    Examples
    --------
    >>> "glucose" in responder_kinds(), "circulation" in responder_kinds()
    (True, True)
    """
    return tuple(sorted({*_REGISTRY, *_ALIASES}))


def make_responder(kind: str) -> Responder:
    """A new responder of the given kind.

    Parameters
    ----------
    kind : str
        ``"glucose"``, ``"sepsis"`` (alias ``"circulation"``) or ``"anaesthesia"``.

    Returns
    -------
    Responder

    Raises
    ------
    UnknownModelError
        If ``kind`` is not registered (the valid kinds are listed), or its module is not
        available in this installation.

    Examples
    --------
    >>> make_responder("glucose").kind
    'glucose'
    >>> make_responder("circulation").kind
    'sepsis'
    """
    try:
        target = _REGISTRY[canonical_kind(kind)]
    except KeyError as err:
        raise UnknownModelError(
            f"unknown responder kind {kind!r}; choose one of {', '.join(responder_kinds())}"
        ) from err
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except MissingDependencyError:
        raise
    except (ImportError, AttributeError) as err:
        raise UnknownModelError(
            f"responder kind {kind!r} is registered as {target!r} but could not be loaded "
            f"({type(err).__name__}: {err}); this installation lacks that responder, so use "
            f"another kind or install a healthtwin version that ships it"
        ) from err
    responder = cls()
    if not isinstance(responder, Responder):
        raise UnknownModelError(
            f"{target!r} does not implement the Responder protocol; fix its class"
        )
    return responder
