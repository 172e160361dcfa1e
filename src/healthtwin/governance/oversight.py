"""Human oversight: clinicians accept or override recommendations; kill switches stop models.

A recommendation made by a model is *proposed*: nothing acts on it until a clinician
*accepts* it (its value becomes the decision) or *overrides* it (with a reason and the
value chosen instead). Both are recorded, with who and when, and are final: a decided
recommendation cannot be decided again (EU AI Act art. 14, human oversight; the override
reason is the feedback that post-market monitoring needs).

Each model version has a kill switch: :meth:`Oversight.disable` stops it (version ``"*"``
stops every version of the model), :meth:`Oversight.enable` restores it; the switch history
is kept. Every recommend path calls :func:`require_enabled` before it computes or shows a
recommendation, and accepting a recommendation of a disabled model is refused too; the
refusal is a :class:`~healthtwin.errors.ConsentError` (a ``PermissionError``: the use is
not permitted now, whatever the input).

This module holds the rules (:func:`propose`, :func:`decide`, :func:`switch_enabled`) and
an in-memory :class:`InMemoryOversight`; the store's implementation persists the same
objects (``Store.oversight()``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from healthtwin.errors import (
    ConflictError,
    ConsentError,
    InvalidInputError,
    NotFoundError,
)

__all__ = [
    "ALL_VERSIONS",
    "STATUSES",
    "InMemoryOversight",
    "ModelSwitch",
    "Oversight",
    "Recommendation",
    "SwitchBoard",
    "decide",
    "make_switch",
    "propose",
    "require_enabled",
    "switch_enabled",
]

#: Recommendation statuses.
STATUSES = ("proposed", "accepted", "overridden")
#: The version that stands for every version of a model in a kill switch.
ALL_VERSIONS = "*"


@dataclass(frozen=True, kw_only=True)
class Recommendation:
    """A model's recommendation and the clinician's decision on it (if any).

    ``value`` and ``override_value`` are JSON objects (a dose, a plan); ``final_value`` is
    what may be acted on: ``None`` while proposed.
    """

    id: str
    model: str
    model_version: str
    patient: str | None
    value: dict[str, Any]
    proposed_by: str
    proposed_time: datetime
    status: str = "proposed"
    decided_by: str | None = None
    decided_time: datetime | None = None
    reason: str | None = None
    override_value: dict[str, Any] | None = None

    @property
    def final_value(self) -> dict[str, Any] | None:
        """The accepted value, the overriding value, or ``None`` while proposed."""
        if self.status == "accepted":
            return self.value
        if self.status == "overridden":
            return self.override_value
        return None


@dataclass(frozen=True, kw_only=True)
class ModelSwitch:
    """One change of a model version's kill switch (``version`` may be ``"*"``)."""

    model: str
    version: str
    enabled: bool
    reason: str
    actor: str
    time: datetime


class SwitchBoard(Protocol):
    """Anything that can say whether a model version may be used."""

    def is_enabled(self, model: str, version: str) -> bool:
        """Whether recommendations of ``model`` at ``version`` may be made and accepted."""
        ...


class Oversight(SwitchBoard, Protocol):
    """The oversight operations, in memory or persisted."""

    def propose(
        self,
        recommendation_id: str,
        *,
        model: str,
        model_version: str,
        value: Mapping[str, Any],
        proposed_by: str,
        patient: str | None = None,
        time: datetime | None = None,
    ) -> Recommendation:
        """Record a new proposed recommendation (refused if the model is disabled)."""
        ...

    def accept(
        self,
        recommendation_id: str,
        *,
        actor: str,
        reason: str | None = None,
        time: datetime | None = None,
    ) -> Recommendation:
        """A clinician accepts the recommendation as proposed."""
        ...

    def override(
        self,
        recommendation_id: str,
        *,
        actor: str,
        reason: str,
        value: Mapping[str, Any],
        time: datetime | None = None,
    ) -> Recommendation:
        """A clinician replaces the recommendation with ``value``, saying why."""
        ...

    def recommendation(self, recommendation_id: str) -> Recommendation:
        """The recommendation as it stands now."""
        ...

    def disable(
        self, model: str, version: str, *, reason: str, actor: str, time: datetime | None = None
    ) -> ModelSwitch:
        """Turn the kill switch of a model version off (``version="*"``: all)."""
        ...

    def enable(
        self, model: str, version: str, *, reason: str, actor: str, time: datetime | None = None
    ) -> ModelSwitch:
        """Turn it back on."""
        ...


def _text(value: object, what: str, max_length: int = 255) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidInputError(
            f"{what} must be a non-empty string of at most {max_length} characters, "
            f"got {value!r:.80}"
        )
    return value


def _json_object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must be a JSON object (a mapping), got {value!r:.80}")
    try:
        plain: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{what} cannot be stored as JSON ({err})") from err
    return plain


def _now(time: datetime | None, what: str) -> datetime:
    if time is None:
        return datetime.now(UTC)
    if time.tzinfo is None or time.utcoffset() is None:
        raise InvalidInputError(f"{what} {time.isoformat()} has no time zone; give a UTC time")
    return time.astimezone(UTC)


def switch_enabled(history: Iterable[ModelSwitch], model: str, version: str) -> bool:
    """Whether a model version is enabled after the switches in ``history`` (oldest first).

    A version is enabled unless its latest switch, or the latest switch for every version
    (``"*"``), turned it off.

    Examples
    --------
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> off = ModelSwitch(model="mpc", version="*", enabled=False, reason="recall",
    ...                   actor="Practitioner/cmo", time=t)
    >>> switch_enabled([off], "mpc", "2.1"), switch_enabled([off], "pid", "1")
    (False, True)
    """
    exact: bool | None = None
    every: bool | None = None
    for switch in history:
        if switch.model != model:
            continue
        if switch.version == version:
            exact = switch.enabled
        elif switch.version == ALL_VERSIONS:
            every = switch.enabled
    return exact is not False and every is not False


def require_enabled(board: SwitchBoard, model: str, version: str) -> None:
    """Refuse the use of a disabled model version.

    Raises
    ------
    ConsentError
        If ``board`` says the version is disabled.

    Examples
    --------
    >>> board = InMemoryOversight()
    >>> require_enabled(board, "mpc", "1")
    >>> _ = board.disable("mpc", "1", reason="hypoglycaemia signal", actor="Practitioner/cmo")
    >>> require_enabled(board, "mpc", "1")
    Traceback (most recent call last):
    ...
    healthtwin.errors.ConsentError: model mpc version 1 is disabled by its kill switch; ...
    """
    if not board.is_enabled(model, version):
        raise ConsentError(
            f"model {model} version {version} is disabled by its kill switch; its "
            "recommendations may not be made or accepted until an authorised person "
            "enables it again (see the switch history for who disabled it and why)"
        )


def propose(
    recommendation_id: str,
    *,
    model: str,
    model_version: str,
    value: Mapping[str, Any],
    proposed_by: str,
    patient: str | None = None,
    time: datetime | None = None,
) -> Recommendation:
    """A new proposed recommendation, checked (no kill-switch check: callers do that)."""
    if patient is not None:
        _text(patient, "recommendation patient", 160)
    return Recommendation(
        id=_text(recommendation_id, "recommendation id", 64),
        model=_text(model, "model name", 128),
        model_version=_text(model_version, "model version", 64),
        patient=patient,
        value=_json_object(value, "recommendation value"),
        proposed_by=_text(proposed_by, "recommendation proposer"),
        proposed_time=_now(time, "proposal time"),
    )


def decide(
    recommendation: Recommendation,
    decision: Literal["accept", "override"],
    *,
    actor: str,
    reason: str | None = None,
    value: Mapping[str, Any] | None = None,
    time: datetime | None = None,
) -> Recommendation:
    """The recommendation after a clinician's decision.

    Raises
    ------
    ConflictError
        If it was already decided (decisions are final).
    InvalidInputError
        If an override lacks a reason or a value, an accept carries a value, or the
        decision is neither ``"accept"`` nor ``"override"``.

    Examples
    --------
    >>> r = propose("r1", model="mpc", model_version="1", value={"insulin_units": 4},
    ...             proposed_by="Device/mpc", time=datetime(2024, 1, 1, tzinfo=UTC))
    >>> done = decide(r, "override", actor="Practitioner/dr1", reason="patient is eating",
    ...               value={"insulin_units": 6})
    >>> done.status, done.final_value
    ('overridden', {'insulin_units': 6})
    >>> decide(done, "accept", actor="Practitioner/dr2")
    Traceback (most recent call last):
    ...
    healthtwin.errors.ConflictError: recommendation r1 was already overridden by ...
    """
    if recommendation.status != "proposed":
        raise ConflictError(
            f"recommendation {recommendation.id} was already {recommendation.status} by "
            f"{recommendation.decided_by}; decisions are final: propose a new recommendation"
        )
    _text(actor, "deciding clinician")
    when = _now(time, "decision time")
    if decision == "accept":
        if value is not None:
            raise InvalidInputError(
                "an accepted recommendation keeps its value; to change it, override it"
            )
        if reason is not None:
            _text(reason, "acceptance reason", 2000)
        return replace(
            recommendation, status="accepted", decided_by=actor, decided_time=when, reason=reason
        )
    if decision == "override":
        _text(reason, "override reason", 2000)
        if value is None:
            raise InvalidInputError(
                f"overriding recommendation {recommendation.id} needs the value chosen instead"
            )
        return replace(
            recommendation,
            status="overridden",
            decided_by=actor,
            decided_time=when,
            reason=reason,
            override_value=_json_object(value, "override value"),
        )
    raise InvalidInputError(f"decision {decision!r} is not 'accept' or 'override'")


def make_switch(
    model: str, version: str, *, enabled: bool, reason: str, actor: str, time: datetime | None
) -> ModelSwitch:
    """A checked kill-switch change."""
    return ModelSwitch(
        model=_text(model, "model name", 128),
        version=_text(version, "model version", 64),
        enabled=enabled,
        reason=_text(reason, "kill-switch reason", 2000),
        actor=_text(actor, "kill-switch actor"),
        time=_now(time, "kill-switch time"),
    )


@dataclass
class InMemoryOversight:
    """Oversight held in memory (tests, a single process without a store).

    Examples
    --------
    >>> board = InMemoryOversight()
    >>> r = board.propose("r1", model="mpc", model_version="1", value={"dose_units": 2},
    ...                   proposed_by="Device/mpc", patient="Patient/p1")
    >>> board.accept("r1", actor="Practitioner/dr1").final_value
    {'dose_units': 2}
    """

    recommendations: dict[str, Recommendation] = field(default_factory=dict)
    switches: list[ModelSwitch] = field(default_factory=list)

    def is_enabled(self, model: str, version: str) -> bool:
        """Whether the version's kill switch is on."""
        return switch_enabled(self.switches, model, version)

    def propose(
        self,
        recommendation_id: str,
        *,
        model: str,
        model_version: str,
        value: Mapping[str, Any],
        proposed_by: str,
        patient: str | None = None,
        time: datetime | None = None,
    ) -> Recommendation:
        """Record a proposal (``ConsentError`` if disabled, ``ConflictError`` if known)."""
        require_enabled(self, model, model_version)
        if recommendation_id in self.recommendations:
            raise ConflictError(f"recommendation {recommendation_id} already exists")
        made = propose(
            recommendation_id,
            model=model,
            model_version=model_version,
            value=value,
            proposed_by=proposed_by,
            patient=patient,
            time=time,
        )
        self.recommendations[made.id] = made
        return made

    def accept(
        self,
        recommendation_id: str,
        *,
        actor: str,
        reason: str | None = None,
        time: datetime | None = None,
    ) -> Recommendation:
        """Accept (refused with ``ConsentError`` if its model was disabled since)."""
        current = self.recommendation(recommendation_id)
        require_enabled(self, current.model, current.model_version)
        decided = decide(current, "accept", actor=actor, reason=reason, time=time)
        self.recommendations[recommendation_id] = decided
        return decided

    def override(
        self,
        recommendation_id: str,
        *,
        actor: str,
        reason: str,
        value: Mapping[str, Any],
        time: datetime | None = None,
    ) -> Recommendation:
        """Override with ``value`` and a reason."""
        current = self.recommendation(recommendation_id)
        decided = decide(current, "override", actor=actor, reason=reason, value=value, time=time)
        self.recommendations[recommendation_id] = decided
        return decided

    def recommendation(self, recommendation_id: str) -> Recommendation:
        """The recommendation; ``NotFoundError`` if unknown."""
        try:
            return self.recommendations[recommendation_id]
        except KeyError as err:
            raise NotFoundError(f"no recommendation {recommendation_id!r} was proposed") from err

    def disable(
        self, model: str, version: str, *, reason: str, actor: str, time: datetime | None = None
    ) -> ModelSwitch:
        """Turn the kill switch off."""
        switch = make_switch(model, version, enabled=False, reason=reason, actor=actor, time=time)
        self.switches.append(switch)
        return switch

    def enable(
        self, model: str, version: str, *, reason: str, actor: str, time: datetime | None = None
    ) -> ModelSwitch:
        """Turn the kill switch back on."""
        switch = make_switch(model, version, enabled=True, reason=reason, actor=actor, time=time)
        self.switches.append(switch)
        return switch
