"""The generic digital twin: a model kept in sync with data, with a replayable history.

A :class:`Twin` binds a model, an ensemble state (members carry their own uncertain
parameters), the inputs actually delivered, the observations received, and an optional
assimilator. It forecasts under a plan, compares plans under common random numbers, and
can be rebuilt as it was at any past time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal

import numpy as np

from healthtwin.core.forecast import Forecast
from healthtwin.core.inputs import Inputs
from healthtwin.core.protocols import Assimilator, Model, ObservationModel, S
from healthtwin.core.random import RandomStreams
from healthtwin.core.trajectory import simulate
from healthtwin.core.types import FloatArray
from healthtwin.core.what_if import WhatIf
from healthtwin.errors import InvalidInputError, InvalidParameterError, ReplayError

__all__ = ["HistoryEntry", "Twin"]

EntryKind = Literal["start", "advance", "observe", "assimilate"]


@dataclass(frozen=True)
class HistoryEntry(Generic[S]):
    """One step of a twin's life: what happened over ``[t0, t1]`` and the state after."""

    kind: EntryKind
    t0: float
    t1: float
    state: S
    rng_state: Mapping[str, Any]
    inputs: Inputs = field(default_factory=Inputs)
    y: FloatArray | None = None
    note: str = ""
    report: Any = None
    obs: Any = None


class Twin(Generic[S]):
    """A model kept in sync with one real thing's data.

    Parameters
    ----------
    model
        Dynamics of the scale (any :class:`~healthtwin.core.protocols.Model`).
    state
        Ensemble state at ``t``.
    t
        Current time in the model's unit.
    seed
        Root seed of the twin's random streams.
    standing_inputs
        Inputs that go on unless a plan overrides their channel (a basal rate, say).
    assimilator
        Corrects the state with observations; ``None`` until assimilation is wanted.

    Examples
    --------
    >>> from healthtwin.physiology import UvaPadova, load_patient
    >>> model = UvaPadova([load_patient("nominal-adult")])
    >>> state = model.initial_state(8, np.random.default_rng(0))
    >>> twin = Twin(model, state, 0.0, seed=1, standing_inputs=model.basal_inputs(state))
    >>> fc = twin.forecast(120.0, dt_out=30.0)
    >>> fc.channel("glucose_mg_dl").shape
    (8, 5)
    """

    def __init__(
        self,
        model: Model[S],
        state: S,
        t: float,
        *,
        seed: int = 0,
        standing_inputs: Inputs | None = None,
        assimilator: Assimilator[S] | None = None,
    ) -> None:
        if not np.isfinite(t):
            raise InvalidParameterError(f"twin time must be finite, got {t}")
        self.model = model
        self.streams = RandomStreams(seed)
        self.standing_inputs = standing_inputs or Inputs()
        self.assimilator = assimilator
        self._rng = self.streams.generator("advance")
        self._state = state
        self._t = float(t)
        self._history: list[HistoryEntry[S]] = [
            HistoryEntry("start", self._t, self._t, state, self._rng.bit_generator.state)
        ]

    # -- read-only views ------------------------------------------------------------
    @property
    def t(self) -> float:
        return self._t

    @property
    def state(self) -> S:
        return self._state

    @property
    def history(self) -> tuple[HistoryEntry[S], ...]:
        return tuple(self._history)

    def observations(self) -> list[tuple[float, FloatArray]]:
        """Every observation received, as ``(t, y)``."""
        return [(e.t1, e.y) for e in self._history if e.y is not None]

    # -- keeping in sync ------------------------------------------------------------
    def advance_to(self, t: float, inputs: Inputs | None = None) -> S:
        """Move the twin to ``t`` under the inputs actually delivered (plus standing ones)."""
        t = _as_time(t)
        if t < self._t:
            raise InvalidInputError(
                f"cannot advance backwards from t={self._t} to t={t}; use as_of() to look back"
            )
        delivered = self.standing_inputs.merged(inputs or Inputs())
        if t > self._t:
            self._state = self.model.advance(self._state, self._t, t, delivered, self._rng)
        self._history.append(
            HistoryEntry(
                "advance", self._t, t, self._state, self._rng.bit_generator.state, delivered
            )
        )
        self._t = t
        return self._state

    def assimilate(
        self, t: float, y: FloatArray, obs: ObservationModel[S], inputs: Inputs | None = None
    ) -> S:
        """Advance to ``t``, then correct the state with observation ``y``.

        Without an assimilator the observation is recorded and the state is unchanged.
        NaN marks a missing component (the filter skips it); infinities are refused.
        When the assimilator has an ``analyse`` method its report (innovations, outliers)
        is kept in the history entry.

        A late observation (``t`` before the twin's time) is slotted into the history: the
        twin is rebuilt as of ``t``, corrected, and every later input and observation is
        replayed in order, as if the reading had arrived on time.
        """
        y = np.atleast_1d(np.asarray(y, dtype=np.float64))
        if np.any(np.isinf(y)):
            raise InvalidInputError(
                f"observation must be finite or NaN (missing), got {y.tolist()}"
            )
        if _as_time(t) < self._t:
            return self._assimilate_late(_as_time(t), y, obs)
        self.advance_to(t, inputs)
        kind: EntryKind = "observe"
        report = None
        if self.assimilator is not None:
            analyse = getattr(self.assimilator, "analyse", None)
            if callable(analyse):  # keep the filter's report (innovations, outliers)
                report = analyse(self._state, y, obs, self._rng)
                self._state = report.state
            else:
                self._state = self.assimilator.update(self._state, y, obs, self._rng)
            kind = "assimilate"
        self._history.append(
            HistoryEntry(
                kind,
                self._t,
                self._t,
                self._state,
                self._rng.bit_generator.state,
                y=y,
                report=report,
                obs=obs,
            )
        )
        return self._state

    def _assimilate_late(self, t: float, y: FloatArray, obs: ObservationModel[S]) -> S:
        # Entries ending at or before t stay as they are (as_of keeps them); the rest replay.
        later = [e for e in self._history if e.t1 > t]
        replica = self.as_of(t)
        replica.assimilate(t, y, obs)
        for entry in later:
            if entry.kind == "advance":
                replica.advance_to(entry.t1, entry.inputs)
            elif entry.y is not None:
                replica.assimilate(entry.t1, entry.y, entry.obs)
        self._state, self._t = replica._state, replica._t
        self._history, self._rng = replica._history, replica._rng
        return self._state

    # -- looking ahead ---------------------------------------------------------------
    def forecast(
        self,
        horizon: float,
        plan: Inputs | None = None,
        *,
        dt_out: float = 5.0,
        name: str = "",
    ) -> Forecast:
        """Ensemble trajectories of the outputs over ``[t, t + horizon]`` under ``plan``.

        The twin itself does not move. The random stream depends only on the seed and
        the current time, so the same forecast is reproducible and plans compared with
        :meth:`what_if` share common random numbers.
        """
        if not horizon > 0 or not dt_out > 0:
            raise InvalidInputError(
                f"horizon and dt_out must be > 0, got horizon={horizon}, dt_out={dt_out}"
            )
        # Keyed on the exact time, so a replayed twin draws the same numbers.
        rng = self.streams.generator(f"forecast@{self._t.hex()}")
        inputs = self.standing_inputs.merged(plan or Inputs())
        _, trajectory = simulate(
            self.model, self._state, self._t, self._t + horizon, dt_out, inputs, rng
        )
        return Forecast(
            trajectory.t,
            trajectory.outputs,
            trajectory.output_channels,
            self.model.time_unit,
            name,
        )

    def what_if(
        self,
        plans: Mapping[str, Inputs] | Sequence[Inputs],
        horizon: float,
        *,
        dt_out: float = 5.0,
    ) -> WhatIf:
        """Forecasts under each plan with common random numbers, and their differences.

        ``plans`` is a mapping of names to plans, or a sequence (named ``plan_0``, ...).
        """
        if not plans:
            raise InvalidInputError("what_if needs at least one plan")
        named = (
            dict(plans)
            if isinstance(plans, Mapping)
            else {f"plan_{i}": p for i, p in enumerate(plans)}
        )
        return WhatIf(
            {k: self.forecast(horizon, p, dt_out=dt_out, name=k) for k, p in named.items()}
        )

    # -- looking back ----------------------------------------------------------------
    def as_of(self, t: float) -> Twin[S]:
        """The twin as it was at time ``t`` (replayed from its history)."""
        t = _as_time(t)
        start = self._history[0].t0
        if not start <= t <= self._t:
            raise ReplayError(f"history covers t in [{start}, {self._t}], asked for t={t}")
        kept: list[HistoryEntry[S]] = []
        for entry in self._history:
            if entry.t1 <= t:
                kept.append(entry)
                continue
            break
        last = kept[-1]
        replica = self._replica(kept)
        if last.t1 < t:
            pending = next(e for e in self._history if e.kind == "advance" and e.t1 > t)
            replica._rng.bit_generator.state = last.rng_state
            replica._state = self.model.advance(
                last.state, last.t1, t, pending.inputs, replica._rng
            )
            replica._t = float(t)
            replica._history.append(
                HistoryEntry(
                    "advance",
                    last.t1,
                    t,
                    replica._state,
                    replica._rng.bit_generator.state,
                    pending.inputs,
                )
            )
        return replica

    def _replica(self, entries: list[HistoryEntry[S]]) -> Twin[S]:
        replica: Twin[S] = object.__new__(Twin)
        replica.model = self.model
        replica.streams = self.streams
        replica.standing_inputs = self.standing_inputs
        replica.assimilator = self.assimilator
        replica._rng = self.streams.generator("advance")
        replica._rng.bit_generator.state = entries[-1].rng_state
        replica._state = entries[-1].state
        replica._t = entries[-1].t1
        replica._history = list(entries)
        return replica


def _as_time(t: float) -> float:
    """``t`` as a plain finite float (one canonical value for history and stream names)."""
    try:
        value = float(t)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"time must be a number, got {t!r}") from err
    if not math.isfinite(value):
        raise InvalidInputError(f"time must be finite, got {t!r}")
    return value
