"""Record a model's outputs and states on a time grid: the batch-simulation primitive.

:func:`simulate` advances any :class:`~healthtwin.core.protocols.Model` from one grid
time to the next and keeps what it observes, so every model (patient physiology,
pharmacology, circulation, inflammation) can be run, saved and plotted the same way.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.core.inputs import Inputs
from healthtwin.core.protocols import Channel, Model
from healthtwin.core.types import FloatArray
from healthtwin.errors import InvalidInputError, ShapeError

__all__ = ["Trajectory", "concatenate_trajectories", "simulate", "time_grid"]


def time_grid(t0: float, t1: float, dt: float) -> FloatArray:
    """Times ``t0, t0 + dt, ...`` ending exactly at ``t1``.

    Examples
    --------
    >>> time_grid(0.0, 10.0, 4.0).tolist()
    [0.0, 4.0, 8.0, 10.0]
    """
    if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
        raise InvalidInputError(f"need finite t0 < t1, got t0={t0}, t1={t1}")
    if not (math.isfinite(dt) and dt > 0):
        raise InvalidInputError(f"the output step must be > 0, got {dt}")
    steps = max(1, math.ceil((t1 - t0) / dt - 1e-9))
    grid = t0 + np.minimum(np.arange(steps + 1) * dt, t1 - t0)
    grid[-1] = t1
    return np.asarray(grid, dtype=np.float64)


@dataclass(frozen=True)
class Trajectory:
    """Outputs and states of ``n`` members on a time grid.

    Attributes
    ----------
    t
        Grid, shape ``(T,)``, in ``time_unit``.
    outputs
        Output channels, shape ``(n, T, k)``.
    states
        State variables, shape ``(n, T, d)``.
    output_channels, state_channels
        Names and units of the last axes.
    time_unit
        Unit of ``t``.
    """

    t: FloatArray
    outputs: FloatArray
    states: FloatArray
    output_channels: tuple[Channel, ...]
    state_channels: tuple[Channel, ...]
    time_unit: str

    def __post_init__(self) -> None:
        n, size = self.outputs.shape[0], self.t.size
        if self.outputs.shape[1:] != (size, len(self.output_channels)):
            raise ShapeError(f"outputs must be (n, {size}, {len(self.output_channels)})")
        if self.states.shape != (n, size, len(self.state_channels)):
            raise ShapeError(f"states must be ({n}, {size}, {len(self.state_channels)})")

    @property
    def n_members(self) -> int:
        return int(self.outputs.shape[0])

    def output(self, name: str) -> FloatArray:
        """One output channel, shape ``(n, T)``."""
        names = [c.name for c in self.output_channels]
        if name not in names:
            raise InvalidInputError(f"no output {name!r}; this trajectory has {names}")
        return np.asarray(self.outputs[:, :, names.index(name)])

    def write_csv(self, path: Path, member_names: Sequence[str] | None = None) -> None:
        """One row per member and grid time: ``t_<unit>``, every output, every state by
        name (a state that is also an output is written once), then ``patient``."""
        names = (
            list(member_names)
            if member_names is not None
            else [f"member-{i}" for i in range(self.n_members)]
        )
        if len(names) != self.n_members:
            raise ShapeError(f"{len(names)} names for {self.n_members} members")
        output_names = [c.name for c in self.output_channels]
        extra = [i for i, c in enumerate(self.state_channels) if c.name not in output_names]
        header = [
            f"t_{self.time_unit}",
            *output_names,
            *(self.state_channels[i].name for i in extra),
            "patient",
        ]
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for i, name in enumerate(names):
                block = np.column_stack([self.t, self.outputs[i], self.states[i][:, extra]])
                for row in block:
                    writer.writerow([*(f"{v:.10g}" for v in row), name])


def simulate(
    model: Model[Any],
    state: Any,
    t0: float,
    t1: float,
    dt_out: float,
    inputs: Inputs,
    rng: np.random.Generator,
) -> tuple[Any, Trajectory]:
    """Advance ``state`` from ``t0`` to ``t1`` under ``inputs``, recording every ``dt_out``.

    Returns
    -------
    tuple
        The state at ``t1`` and the recorded :class:`Trajectory`.

    Examples
    --------
    >>> from healthtwin.physiology.registry import make_model
    >>> model = make_model("bergman-minimal")
    >>> rng = np.random.default_rng(0)
    >>> end, traj = simulate(model, model.initial_state(2, rng), 0.0, 60.0, 15.0,
    ...                      model.basal_inputs(model.initial_state(2, rng)), rng)
    >>> traj.outputs.shape, traj.t.tolist()
    ((2, 5, 2), [0.0, 15.0, 30.0, 45.0, 60.0])
    """
    grid = time_grid(t0, t1, dt_out)
    outputs = [model.observe(state)]
    states = [model.state_matrix(state)]
    for a, b in itertools.pairwise(grid):
        state = model.advance(state, float(a), float(b), inputs, rng)
        outputs.append(model.observe(state))
        states.append(model.state_matrix(state))
    return state, Trajectory(
        grid,
        np.stack(outputs, axis=1),
        np.stack(states, axis=1),
        tuple(model.outputs.values()),
        tuple(model.states.values()),
        model.time_unit,
    )


def concatenate_trajectories(pieces: Sequence[Trajectory]) -> Trajectory:
    """Consecutive trajectories joined in time; where one ends as the next starts, the
    later one's row is kept (a reset replaces the state at that instant)."""
    if not pieces:
        raise InvalidInputError("nothing to concatenate: the run has no time in it")
    keep: list[Trajectory] = []
    for k, piece in enumerate(pieces):
        if k + 1 < len(pieces) and piece.t[-1] >= pieces[k + 1].t[0]:
            mask = piece.t < pieces[k + 1].t[0]
            piece = Trajectory(
                piece.t[mask],
                piece.outputs[:, mask],
                piece.states[:, mask],
                piece.output_channels,
                piece.state_channels,
                piece.time_unit,
            )
        keep.append(piece)
    first = keep[0]
    return Trajectory(
        np.concatenate([p.t for p in keep]),
        np.concatenate([p.outputs for p in keep], axis=1),
        np.concatenate([p.states for p in keep], axis=1),
        first.output_channels,
        first.state_channels,
        first.time_unit,
    )
