"""The twin kernel: protocols, ensemble state, inputs, solvers, forecasts and the Twin.

Every scale implements :class:`Model` (advance an ensemble over ``[t0, t1]``),
is observed through an :class:`ObservationModel` and corrected by an
:class:`Assimilator`. States are frozen dataclasses of arrays with a leading member axis;
the batched solvers (:func:`rk4`, :func:`dopri5`, Dormand & Prince 1980) integrate all
members at once. :class:`Twin` binds a model to data and history.
"""

from __future__ import annotations

from healthtwin.core.ensemble import lognormal_spread
from healthtwin.core.forecast import DEFAULT_QUANTILES, Forecast
from healthtwin.core.inputs import Events, Inputs, Rate
from healthtwin.core.params import Parameters
from healthtwin.core.protocols import Assimilator, Channel, Model, ObservationModel
from healthtwin.core.random import RandomStreams
from healthtwin.core.segments import segment_bounds
from healthtwin.core.solvers import Dopri5Result, Status, dopri5, rk4
from healthtwin.core.state import ArrayState
from healthtwin.core.trajectory import Trajectory, simulate, time_grid
from healthtwin.core.twin import HistoryEntry, Twin
from healthtwin.core.what_if import PlanDifference, PlanOutcome, WhatIf, time_in_band

__all__ = [
    "DEFAULT_QUANTILES",
    "ArrayState",
    "Assimilator",
    "Channel",
    "Dopri5Result",
    "Events",
    "Forecast",
    "HistoryEntry",
    "Inputs",
    "Model",
    "ObservationModel",
    "Parameters",
    "PlanDifference",
    "PlanOutcome",
    "RandomStreams",
    "Rate",
    "Status",
    "Trajectory",
    "Twin",
    "WhatIf",
    "dopri5",
    "lognormal_spread",
    "rk4",
    "segment_bounds",
    "simulate",
    "time_grid",
    "time_in_band",
]
