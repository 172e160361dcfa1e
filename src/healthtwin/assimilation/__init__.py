"""Data assimilation: keep a twin in sync with its real counterpart.

Filters work on any model through the kernel's protocols and a :class:`StateView` that
says which continuous states and (log-)parameters may change. The ensemble axis is the
batch axis: ``n_twins x n_members`` members are updated in one array operation.

- Ensemble Kalman filter, stochastic (Burgers, van Leeuwen & Evensen, MWR 1998) and
  ensemble transform (Bishop, Etherton & Majumdar, MWR 2001; Hunt, Kostelich & Szunyogh,
  Physica D 2007) forms, with multiplicative inflation of states and relaxation to prior
  spread for parameters (Whitaker & Hamill, MWR 2012).
- The exact Kalman filter for linear-Gaussian systems, the reference the others are tested
  against.
"""

from __future__ import annotations

from healthtwin.assimilation.enkf import EnKFAnalysis, EnsembleKalmanFilter
from healthtwin.assimilation.kalman import kalman_predict, kalman_update
from healthtwin.assimilation.observation import GaussianObservation, OutputObservation
from healthtwin.assimilation.view import StateView, view_for

__all__ = [
    "EnKFAnalysis",
    "EnsembleKalmanFilter",
    "GaussianObservation",
    "OutputObservation",
    "StateView",
    "kalman_predict",
    "kalman_update",
    "view_for",
]
