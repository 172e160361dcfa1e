"""Data assimilation: keep a twin in sync with its real counterpart.

Filters work on any model through the kernel's protocols and a :class:`StateView` that
says which continuous states and (log-)parameters may change. The ensemble axis is the
batch axis: ``n_twins x n_members`` members are updated in one array operation.

- Ensemble Kalman filter, stochastic (Burgers, van Leeuwen & Evensen, MWR 1998) and
  ensemble transform (Bishop, Etherton & Majumdar, MWR 2001; Hunt, Kostelich & Szunyogh,
  Physica D 2007) forms, with multiplicative inflation of states and relaxation to prior
  spread for parameters (Whitaker & Hamill, MWR 2012).
- Square-root unscented Kalman filter (van der Merwe & Wan 2001) over sigma-point
  members, positive definite by construction.
- Bootstrap particle filter (Gordon, Salmond & Smith 1993) with systematic resampling
  (Kitagawa 1996; Carpenter, Clifford & Fearnhead 1999), an effective-sample-size trigger
  (Kong, Liu & Wong 1994) and Liu & West (2001) shrinkage jitter for parameters.
- Fixed-lag ensemble Kalman smoother (stochastic EnKS; Evensen & van Leeuwen, MWR 2000)
  over an augmented state of the view and a window of recorded values, batched over
  groups: a gap in the readings is filled from data on both sides, with its spread.
- The exact Kalman filter and Rauch-Tung-Striebel smoother (Rauch, Tung & Striebel 1965)
  for linear-Gaussian systems, the references the others are tested against.
- Consistency diagnostics: NIS/NEES (Bar-Shalom, Li & Kirubarajan 2001), rank histograms
  (Anderson 1996; Hamill 2001), spread-skill (Fortin et al. 2014), CRPS (Gneiting &
  Raftery 2007; fair form Ferro 2014).
- :func:`synchronise` replays a stream of timestamped readings into a twin.
- Offline calibration on a :class:`CalibrationProblem` (one batched log posterior over
  patients): multi-start MAP fits (Levenberg-Marquardt with finite-difference Jacobians
  from one simulation) with Laplace posteriors; full posteriors by the affine-invariant
  ensemble sampler (Goodman & Weare 2010) batched over patients, with autocorrelation
  times (Sokal); profile likelihoods (Raue et al. 2009); identifiability reports
  (posterior contraction, open profile intervals); the posterior as the online prior.
"""

from __future__ import annotations

from healthtwin.assimilation.calibration import MapFit, ensemble_from_fit, fit_map, fit_problem
from healthtwin.assimilation.diagnostics import (
    chi2_interval,
    crps_ensemble,
    crps_gaussian,
    interval_coverage,
    nees,
    nis,
    rank_histogram,
    spread_skill,
)
from healthtwin.assimilation.enkf import EnKFAnalysis, EnsembleKalmanFilter
from healthtwin.assimilation.kalman import kalman_predict, kalman_update, rts_smoother
from healthtwin.assimilation.likelihood import CalibrationProblem
from healthtwin.assimilation.mcmc import (
    PosteriorSamples,
    ensemble_from_samples,
    integrated_time,
    sample_posterior,
)
from healthtwin.assimilation.observation import GaussianObservation, OutputObservation
from healthtwin.assimilation.particle import ParticleAnalysis, ParticleFilter, systematic_resample
from healthtwin.assimilation.profile import Profile, profile_likelihood
from healthtwin.assimilation.smoother import (
    EnsembleKalmanSmoother,
    SmoothedRun,
    SmootherAnalysis,
)
from healthtwin.assimilation.sync import ObservationSeries, SyncReport, synchronise
from healthtwin.assimilation.ukf import UKFAnalysis, UnscentedKalmanFilter
from healthtwin.assimilation.view import StateView, view_for

__all__ = [
    "CalibrationProblem",
    "EnKFAnalysis",
    "EnsembleKalmanFilter",
    "EnsembleKalmanSmoother",
    "GaussianObservation",
    "MapFit",
    "ObservationSeries",
    "OutputObservation",
    "ParticleAnalysis",
    "ParticleFilter",
    "PosteriorSamples",
    "Profile",
    "SmoothedRun",
    "SmootherAnalysis",
    "StateView",
    "SyncReport",
    "UKFAnalysis",
    "UnscentedKalmanFilter",
    "chi2_interval",
    "crps_ensemble",
    "crps_gaussian",
    "ensemble_from_fit",
    "ensemble_from_samples",
    "fit_map",
    "fit_problem",
    "integrated_time",
    "interval_coverage",
    "kalman_predict",
    "kalman_update",
    "nees",
    "nis",
    "profile_likelihood",
    "rank_histogram",
    "rts_smoother",
    "sample_posterior",
    "spread_skill",
    "synchronise",
    "systematic_resample",
    "view_for",
]
