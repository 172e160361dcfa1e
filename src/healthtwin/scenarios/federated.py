"""A world's ``federation:``: its hospitals train a prognosis model together and use it.

Every hospital of every country is a federated site
(:class:`~healthtwin.coupling.federated_site.FederatedSite`, in process): it keeps its own
patients, an in-memory store holding its audit chain (one entry per training round) and
its own privacy ledger. Only parameter vectors travel.

**Data.** With ``data: synthetic`` (the default) each hospital's patients are drawn from
its country's case mix (:class:`CohortMix`; ages, sex, BMI, diabetes and hypertension by
:func:`~healthtwin.synthetic.demographics.sample_demographics`) and their outcome, *ICU
transfer within* ``HORIZON_HOURS`` *of ward admission*, from a documented
proportional-hazards generator: the hours to transfer are exponential with rate
``-ln(1 - p0) / H * exp(x . beta)``, ``p0`` the reference patient's risk
(``baseline_icu_probability``), ``beta`` = :data:`TRUE_LOG_HAZARD` on the features of
:data:`FEATURES` (age centred at 60 per 15 years, BMI centred at 26 per 5 kg/m^2, female,
diabetes, hypertension; fixed public scalings, so no site shares a statistic). Patients
without a transfer are censored at ``H``. The logistic model learns "transfer within
``H``" and the Cox model the hours to it. With ``data: <name>`` the prognosis package's
shipped data set ``<name>`` is split across the hospitals by case mix
(:func:`~healthtwin.federation.sites.split_by_case_mix`). With ``data: twins`` each
hospital's training table is *a previous season of its own admitted patients*
(:mod:`~healthtwin.scenarios.federated_season`): members of the hospital's ``patients:``
cohort, each with a twin simulated by the run's own machinery, labelled by whether the
twin needed the ICU (or died), so the model learns what the run's twins do. Each site
holds out a share of its patients on which every round's model is evaluated
(patient-weighted over sites).

**Training.** FedAvg or FedProx rounds (:mod:`~healthtwin.federation.strategies`), with
DP-FedAvg when ``epsilon`` is given (noise calibrated to spend exactly ``epsilon`` over
the rounds; each site is charged its share per round in its own ledger). The central fit
on the pooled training rows (:func:`~healthtwin.federation.models.fit_central`) is
computed alongside as the reference.

**Shared back.** The final model goes back to every hospital with its provenance
(:func:`~healthtwin.federation.model_provenance.federated_model_provenance`: the hash of
its parameters, of the configuration and of every round). With ``share_back: pathway``
(logistic model on synthetic data) the model *replaces the fixed ICU-transfer
probability of the hospital's entry unit*: the new probability is the model's mean
predicted risk over the hospital's own patients, and the unit's other exits are scaled
so the row still sums to 1 (hospitals with twins route each patient by the twin, so
there the model is only recorded). With ``share_back: triage`` the model *acts on each
admitted patient*: a patient whose predicted risk is above ``triage_threshold`` is
admitted straight to the ICU (queueing for a bed when it is full), in the hospitals whose
patients have twins and a cohort (the risk is the matched member's;
:func:`~healthtwin.scenarios.world_patients.prefetch_world_twins`); the pathways are
left alone. With ``share_back: model-card`` (always so for the Cox model or a shipped
data set, whose outcome is not an ICU transfer) the pathways are left alone and the
model is recorded in each hospital's results only. Each hospital's record says what the
model did there (``applied``: ``pathway``, ``triage`` or ``recorded-only``, with a
``reason``): ``pathway`` only in hospitals with an ICU and without twins, ``triage`` only
in hospitals with an ICU whose patients have twins and a cohort. The logistic model on ``synthetic``
or ``twins`` data becomes each hospital's prognosis model (``HospitalSite.prognosis``).

Every random draw comes from a stream named ``world/federation/<country>/<hospital>``
(patients) or ``world/federation/aggregation`` (DP noise), so the same seed trains the
same model.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from healthtwin.core.random import RandomStreams
from healthtwin.core.types import FloatArray
from healthtwin.coupling.federated_site import LEARNING_PROJECT, FederatedSite
from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError
from healthtwin.federation.analytics_site import AnalyticsSite, SitePolicy
from healthtwin.federation.model_provenance import federated_model_provenance
from healthtwin.federation.models import CoxPH, LogisticRegression, fit_central
from healthtwin.federation.privacy import DifferentialPrivacy
from healthtwin.federation.sites import SiteData, load_site_data, split_by_case_mix
from healthtwin.federation.strategies import (
    FederationConfig,
    FederationResult,
    RoundRecord,
    close_round,
    weighted_metrics,
)
from healthtwin.governance.privacy_budget import MemoryLedgerStore, PrivacyBudget, PrivacyLedger
from healthtwin.governance.provenance import ProvenanceRecord
from healthtwin.store import open_store
from healthtwin.synthetic.demographics import sample_demographics

if TYPE_CHECKING:
    from healthtwin.scenarios.world import CountryWorld, HospitalSite, WorldScenario

__all__ = [
    "FEATURES",
    "HORIZON_HOURS",
    "TRUE_LOG_HAZARD",
    "CohortMix",
    "FederatedWorld",
    "FederationSpec",
    "PrognosisModel",
    "SharedModel",
    "icu_features",
    "share_back",
    "synthetic_patients",
    "train_federation",
]

FEATURES = ("age_per_15y", "female", "bmi_per_5", "diabetes", "hypertension")
#: Log hazard ratios of the synthetic ICU-transfer generator, per feature of FEATURES.
TRUE_LOG_HAZARD = (0.8, -0.2, 0.3, 0.6, 0.4)
HORIZON_HOURS = 168.0
_STRICT = ConfigDict(frozen=True, extra="forbid")
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


def icu_features(
    age_years: npt.ArrayLike,
    female: npt.ArrayLike,
    bmi_kg_m2: npt.ArrayLike,
    diabetes: npt.ArrayLike,
    hypertension: npt.ArrayLike,
) -> FloatArray:
    """The model's features of :data:`FEATURES` (fixed public scalings), ``(n, 5)``.

    Examples
    --------
    >>> icu_features([75.0], [1], [31.0], [0], [1]).tolist()
    [[1.0, 1.0, 1.0, 0.0, 1.0]]
    """
    return np.column_stack(
        [
            (np.asarray(age_years, dtype=np.float64) - 60.0) / 15.0,
            np.asarray(female, dtype=np.float64),
            (np.asarray(bmi_kg_m2, dtype=np.float64) - 26.0) / 5.0,
            np.asarray(diabetes, dtype=np.float64),
            np.asarray(hypertension, dtype=np.float64),
        ]
    )


class PrognosisModel(BaseModel):
    """A hospital's ICU-transfer prognosis model: logistic on :data:`FEATURES`.

    The federation's shared model as the hospital uses it: each admitted patient's risk
    of an ICU transfer within :data:`HORIZON_HOURS`, from the patient's own features.

    Examples
    --------
    >>> m = PrognosisModel(version="urn:x", intercept=-2.0, coefficients=(1, 0, 0, 0, 0))
    >>> m.predict(icu_features([60.0, 90.0], [0, 0], [26.0, 26.0], [0, 0], [0, 0])).round(3)
    array([0.119, 0.5  ])
    """

    model_config = _STRICT
    version: str
    intercept: float = Field(allow_inf_nan=False)
    coefficients: tuple[float, ...]

    @model_validator(mode="after")
    def _one_per_feature(self) -> PrognosisModel:
        if len(self.coefficients) != len(FEATURES):
            raise ValueError(
                f"give one coefficient per feature {list(FEATURES)}; got {len(self.coefficients)}"
            )
        return self

    def predict(self, features: FloatArray) -> FloatArray:
        """Risk of an ICU transfer per patient, ``(n,)``, from ``(n, 5)`` features."""
        logit = self.intercept + np.asarray(features, dtype=np.float64) @ np.asarray(
            self.coefficients
        )
        return np.asarray(1.0 / (1.0 + np.exp(-logit)))


class CohortMix(BaseModel):
    """A country's case mix of ward patients (age bins 18-40, 40-65, 65-90 years)."""

    model_config = _STRICT
    age_weights: tuple[float, float, float] = (0.3, 0.4, 0.3)
    female_fraction: Probability = 0.5
    diabetes_prevalence: Probability = 0.2
    bmi_median_kg_m2: float = Field(default=26.0, gt=10, lt=60)

    @model_validator(mode="after")
    def _weights(self) -> CohortMix:
        if min(self.age_weights) < 0 or not sum(self.age_weights) > 0:
            raise ValueError(
                f"age_weights {list(self.age_weights)} must be non-negative, not all zero"
            )
        return self


class FederationSpec(BaseModel):
    """The world's ``federation:`` section (module docstring).

    Attributes
    ----------
    model : {"logistic", "cox"}
        The prognosis model trained.
    data : str
        ``"synthetic"`` (patients drawn from each country's ``cohorts`` case mix),
        ``"twins"`` (a previous season of each hospital's own twin patients; needs every
        hospital to have ``patients: {course: twins}``) or a data set of
        :mod:`healthtwin.prognosis.datasets` split over the hospitals.
    strategy, proximal_mu, rounds, local_steps, learning_rate
        Training (:class:`~healthtwin.federation.strategies.FederationConfig`).
    epsilon, delta, clip_norm
        DP-FedAvg over the whole run when ``epsilon`` is given (site-level neighbours).
    patients_per_hospital, held_out_fraction
        Synthetic patients per site, and the share each site keeps for evaluation.
    baseline_icu_probability
        The synthetic generator's ICU-transfer risk of the reference patient.
    case_mix_skew
        How unlike the sites are when a shipped data set is split (0: IID).
    cohorts
        Case mix per country name (default :class:`CohortMix` for the others).
    share_back : {"pathway", "model-card", "triage"}
        Replace the entry unit's ICU-transfer probability, only record the model, or
        admit the patients whose predicted risk is above ``triage_threshold`` straight to
        the ICU.
    triage_threshold
        The risk above which ``share_back: triage`` sends a patient straight to the ICU
        (0: everyone; 1: nobody).

    Examples
    --------
    >>> spec = FederationSpec(rounds=3, epsilon=1.0)
    >>> config = spec.config(seed=0)
    >>> config.rounds, round(config.dp.epsilon(3), 6)
    (3, 1.0)
    """

    model_config = _STRICT
    model: Literal["logistic", "cox"] = "logistic"
    data: str = Field(default="synthetic", min_length=1)
    strategy: Literal["fedavg", "fedprox"] = "fedavg"
    proximal_mu: float = Field(default=0.1, ge=0, allow_inf_nan=False)
    rounds: int = Field(default=10, ge=1, le=1000)
    local_steps: int = Field(default=10, ge=1)
    learning_rate: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    epsilon: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    delta: float = Field(default=1e-5, gt=0, lt=1)
    clip_norm: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    patients_per_hospital: int = Field(default=300, ge=40, le=1_000_000)
    held_out_fraction: float = Field(default=0.25, gt=0, le=0.5)
    baseline_icu_probability: float = Field(default=0.08, gt=0, lt=1)
    case_mix_skew: Probability = 0.5
    cohorts: dict[str, CohortMix] = Field(default_factory=dict)
    share_back: Literal["pathway", "model-card", "triage"] = "pathway"
    triage_threshold: Probability = 0.3

    @model_validator(mode="after")
    def _share_back(self) -> FederationSpec:
        if self.share_back != "model-card" and not self.predicts_icu():
            raise ValueError(
                f"share_back {self.share_back!r} needs model 'logistic' on data 'synthetic' "
                f"or 'twins' (got model {self.model!r}, data {self.data!r}): only that "
                "model predicts an ICU transfer; use share_back: model-card"
            )
        return self

    def predicts_icu(self) -> bool:
        """Whether the trained model is an ICU-transfer risk (logistic, own patients)."""
        return self.model == "logistic" and self.data in ("synthetic", "twins")

    def config(self, seed: int) -> FederationConfig:
        """The federation's training configuration (DP calibrated to ``epsilon``)."""
        dp = None
        if self.epsilon is not None:
            dp = DifferentialPrivacy.for_epsilon(
                self.epsilon, rounds=self.rounds, clip_norm=self.clip_norm, delta=self.delta
            )
        return FederationConfig(
            rounds=self.rounds,
            strategy=self.strategy,
            proximal_mu=self.proximal_mu,
            local_steps=self.local_steps,
            learning_rate=self.learning_rate,
            dp=dp,
            seed=seed,
        )


@dataclass(frozen=True)
class SharedModel:
    """The federated model as one hospital received it.

    Attributes
    ----------
    country, hospital : str
        Where it went.
    model : str
        ``"logistic"`` or ``"cox"``.
    version : str
        The model's URN, with the hash of its parameters.
    icu_probability_before, icu_probability_after : float or None
        The entry unit's ICU-transfer probability before and after (None when the
        pathway was not changed).
    triage_threshold : float or None
        The risk above which patients go straight to the ICU (``share_back: triage``).
    applied : {"pathway", "triage", "recorded-only"}
        What the model changed in this hospital's run: its entry unit's ICU-transfer
        probability, the admission unit of its patients above the threshold, or nothing.
    reason : str
        Why, in words (for ``recorded-only``: what would make it act).
    """

    country: str
    hospital: str
    model: str
    version: str
    icu_probability_before: float | None
    icu_probability_after: float | None
    triage_threshold: float | None = None
    applied: Literal["pathway", "triage", "recorded-only"] = "recorded-only"
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "model": self.model,
            "version": self.version,
            "applied": self.applied,
            "reason": self.reason,
            "applied_to_pathway": self.applied == "pathway",
            "icu_probability_before": self.icu_probability_before,
            "icu_probability_after": self.icu_probability_after,
            "triage_threshold": self.triage_threshold,
        }


@dataclass(frozen=True)
class FederatedWorld:
    """What the federation did: rounds, reference fit, provenance, audit and sharing.

    Attributes
    ----------
    spec : FederationSpec
    sites : tuple of str
        ``"<country>/<hospital>"`` of every site, in world order.
    n_train, n_held_out : tuple of int
        Training and held-out patients of each site.
    result : FederationResult
        Final parameters and each round's record (held-out metrics).
    central_theta : ndarray, shape (p,)
        The central fit on the pooled training rows (the reference).
    central_metrics : dict of str to float
        Its held-out metrics.
    provenance : ProvenanceRecord
        The final model's provenance.
    audit_events : tuple of int
        Audit entries in each site's store (one per round), each chain verified.
    epsilon_spent : tuple of float
        Epsilon charged to each site's ledger (0 without DP).
    risk : tuple of ndarray
        Each site's predicted risk scores of all its patients, ``(n_k,)``.
    shared : tuple of SharedModel
        The model as each hospital received it.
    """

    spec: FederationSpec
    sites: tuple[str, ...]
    n_train: tuple[int, ...]
    n_held_out: tuple[int, ...]
    result: FederationResult
    central_theta: FloatArray
    central_metrics: dict[str, float]
    provenance: ProvenanceRecord
    audit_events: tuple[int, ...]
    epsilon_spent: tuple[float, ...]
    risk: tuple[FloatArray, ...]
    shared: tuple[SharedModel, ...] = ()

    def summary(self) -> dict[str, Any]:
        """JSON-ready: metrics per round, the central reference, privacy and provenance."""
        config = self.spec.config(0)
        return {
            "model": self.spec.model,
            "data": self.spec.data,
            "strategy": self.spec.strategy,
            "share_back": self.spec.share_back,
            "version": self.provenance.target,
            "parameters": [float(v) for v in self.result.theta],
            "sites": {
                name: {
                    "n_train": n,
                    "n_held_out": m,
                    "audit_events": a,
                    "epsilon_spent": e,
                }
                for name, n, m, a, e in zip(
                    self.sites,
                    self.n_train,
                    self.n_held_out,
                    self.audit_events,
                    self.epsilon_spent,
                    strict=True,
                )
            },
            "rounds": [_round(r) for r in self.result.rounds],
            "central_parameters": [float(v) for v in self.central_theta],
            "central_metrics": dict(self.central_metrics),
            "epsilon": None if config.dp is None else config.dp.epsilon(self.spec.rounds),
            "delta": None if config.dp is None else config.dp.delta,
        }

    def annotate(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Add ``federation`` and each hospital's ``prognosis_model`` to a world summary."""
        out = {**copy.deepcopy(summary), "federation": self.summary()}
        countries = out.get("countries", {})
        for shared in self.shared:
            hospitals = countries.get(shared.country, {}).get("hospitals", {})
            if shared.hospital in hospitals:
                hospitals[shared.hospital]["prognosis_model"] = shared.as_dict()
        return out

    def report_html(self) -> str:
        """An HTML section: held-out metrics per round and what each hospital received."""
        names = sorted(self.result.rounds[-1].metrics) if self.result.rounds else []
        head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
        rows = [
            f"<tr><td>{r.round}</td><td>{r.train_loss:.4f}</td>"
            + "".join(f"<td>{r.metrics.get(n, math.nan):.4f}</td>" for n in names)
            + f"<td>{r.epsilon:.3g}</td></tr>"
            for r in self.result.rounds
        ]
        central = "".join(f"<td>{self.central_metrics.get(n, math.nan):.4f}</td>" for n in names)
        rows.append(f"<tr><th>central</th><td></td>{central}<td></td></tr>")
        hospitals = [
            f"<tr><th>{html.escape(s.country)}/{html.escape(s.hospital)}</th>"
            f"<td>{_fmt_p(s.icu_probability_before)}</td>"
            f"<td>{_fmt_p(s.icu_probability_after)}</td></tr>"
            for s in self.shared
        ]
        return (
            f"<h2>Federation</h2><p>{html.escape(self.spec.model)} model trained by "
            f"{html.escape(self.spec.strategy)} across {len(self.sites)} hospitals on "
            f"{html.escape(self.spec.data)} data; version "
            f"<code>{html.escape(self.provenance.target)}</code>, shared back as "
            f"{html.escape(self.spec.share_back)}. Metrics on each site's held-out "
            "patients (patient-weighted).</p>"
            f"<table><tr><th>round</th><th>train loss</th>{head}<th>epsilon</th></tr>"
            + "".join(rows)
            + "</table><table><tr><th>hospital</th><th>ICU transfer before</th>"
            "<th>after</th></tr>" + "".join(hospitals) + "</table>"
        )

    def write(self, out_dir: str | Path) -> Path:
        """Write ``federation.json`` (summary, provenance, what each hospital got)."""
        path = Path(out_dir) / "federation.json"
        body = {
            **self.summary(),
            "provenance": {
                "target": self.provenance.target,
                "activity": self.provenance.activity,
                "agent": self.provenance.agent,
                "time": self.provenance.time.isoformat(),
                "target_sha256": self.provenance.target_sha256,
                "inputs": [i.reference for i in self.provenance.inputs],
            },
            "hospitals": [
                {"country": s.country, "hospital": s.hospital, **s.as_dict()} for s in self.shared
            ],
        }
        path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        return path


def _fmt_p(p: float | None) -> str:
    return "unchanged" if p is None else f"{p:.4f}"


def _round(record: RoundRecord) -> dict[str, Any]:
    return {
        "round": record.round,
        "train_loss": record.train_loss,
        "metrics": dict(record.metrics),
        "failed": [list(f) for f in record.failed],
        "epsilon": record.epsilon,
        "n_clipped": record.n_clipped,
    }


def synthetic_patients(
    mix: CohortMix, n: int, rng: np.random.Generator, *, baseline_icu_probability: float
) -> tuple[dict[str, FloatArray], SiteData]:
    """Ward patients of a case mix and their ICU transfers (module docstring).

    Returns
    -------
    columns : dict of str to ndarray
        The site's table (``age_years``, ``female``, ``bmi_kg_m2``, ``diabetes``,
        ``hypertension``, ``hours_to_icu``, ``icu_transfer``), each ``(n,)``.
    data : SiteData
        Features ``(n, 5)`` in :data:`FEATURES` order, hours (censored at
        :data:`HORIZON_HOURS`) and the transfer indicator.

    Examples
    --------
    >>> cols, data = synthetic_patients(CohortMix(), 4000, np.random.default_rng(0),
    ...                                 baseline_icu_probability=0.1)
    >>> data.features.shape, bool(0.05 < data.event.mean() < 0.4)
    ((4000, 5), True)
    """
    weights = np.asarray(mix.age_weights, dtype=np.float64)
    people = sample_demographics(
        n,
        rng,
        female_fraction=mix.female_fraction,
        diabetes_prevalence=mix.diabetes_prevalence,
        age_weights=tuple(weights / weights.sum()),
        bmi_median_kg_m2=mix.bmi_median_kg_m2,
    )
    features = icu_features(
        people.age_years, people.female, people.bmi_kg_m2, people.diabetes, people.hypertension
    )
    rate_per_hour = -math.log1p(-baseline_icu_probability) / HORIZON_HOURS
    hazard = rate_per_hour * np.exp(features @ np.asarray(TRUE_LOG_HAZARD))
    hours = rng.exponential(1.0 / hazard)
    event = hours < HORIZON_HOURS
    time = np.minimum(hours, HORIZON_HOURS)
    columns = {
        "age_years": people.age_years,
        "female": people.female.astype(np.float64),
        "bmi_kg_m2": people.bmi_kg_m2,
        "diabetes": people.diabetes.astype(np.float64),
        "hypertension": people.hypertension.astype(np.float64),
        "hours_to_icu": time,
        "icu_transfer": event.astype(np.float64),
    }
    return columns, SiteData(features, time, event)


def train_federation(world: WorldScenario, streams: RandomStreams) -> FederatedWorld:
    """Train the world's federation (module docstring); hospitals are the sites.

    Raises
    ------
    InvalidInputError
        No ``federation:`` section, or ``cohorts`` names a country the world lacks.
    """
    spec = world.federation
    if spec is None:
        raise InvalidInputError("the world has no federation: section; add one to train")
    countries = [c.name for c in world.countries]
    unknown = sorted(set(spec.cohorts) - set(countries))
    if unknown:
        raise InvalidInputError(
            f"federation.cohorts names countries {unknown} the world does not have; "
            f"countries are {countries}"
        )
    names = [f"{c.name}/{h.name}" for c in world.countries for h in c.hospitals]
    tables, everyone = _site_data(world, spec, streams, names)
    train, held_out = zip(
        *(
            _hold_out(d, spec.held_out_fraction, streams, name)
            for d, name in zip(everyone, names, strict=True)
        ),
        strict=True,
    )
    model = LogisticRegression() if spec.model == "logistic" else CoxPH()
    config = spec.config(_seed(streams, "world/federation/aggregation"))
    sites = [_site(n, t, d, spec) for n, t, d in zip(names, tables, train, strict=True)]
    try:
        result = _rounds(model, sites, held_out, config)
        audit = tuple(_verified_audit(s) for s in sites)
        spent = tuple(_spent(s) for s in sites)
    finally:
        for site in sites:
            site.store.close()
    central_theta = fit_central(model, list(train))
    provenance = federated_model_provenance(
        result,
        model_name=spec.model,
        model_version="1",
        config=config,
        time=dt.datetime.combine(world.start_date, dt.time(), tzinfo=dt.UTC),
    )
    risk = tuple(model.risk_score(result.theta, d.features) for d in everyone)
    return FederatedWorld(
        spec,
        tuple(names),
        tuple(d.n_patients for d in train),
        tuple(d.n_patients for d in held_out),
        result,
        central_theta,
        _evaluate(model, central_theta, held_out),
        provenance,
        audit,
        spent,
        risk,
    )


def share_back(
    world: WorldScenario, federated: FederatedWorld
) -> tuple[WorldScenario, FederatedWorld]:
    """Give every hospital the federated model; the world its hospitals then run with.

    With ``share_back: pathway`` each hospital's entry unit sends a share of its patients
    to the ICU equal to the model's mean predicted risk over the hospital's patients (the
    other exits scaled to keep the row summing to 1); with ``share_back: triage`` each
    hospital gets ``triage_threshold`` (its patients with twins above it go straight to
    the ICU); otherwise the world is unchanged and the model is only recorded.
    """
    spec = federated.spec
    shared: list[SharedModel] = []
    countries = []
    k = 0
    for country in world.countries:
        hospitals = []
        for site in country.hospitals:
            risk = federated.risk[k]
            k += 1
            applied, reason = _how_applied(spec, country, site)
            before = after = None
            if applied == "pathway":
                assert site.icu_unit is not None
                before = float(site.config.pathways[site.entry_unit].get(site.icu_unit, 0.0))
                after = float(np.mean(1.0 / (1.0 + np.exp(-risk))))
                site = _with_icu_probability(site, after)
            threshold = spec.triage_threshold if spec.share_back == "triage" else None
            if spec.predicts_icu():
                # The hospital's prognosis model: each admitted patient's own risk.
                theta = np.asarray(federated.result.theta, dtype=float)
                model = PrognosisModel(
                    version=federated.provenance.target,
                    intercept=float(theta[0]),
                    coefficients=tuple(float(v) for v in theta[1:]),
                )
                site = site.model_copy(update={"prognosis": model, "triage_threshold": threshold})
            shared.append(
                SharedModel(
                    country.name,
                    site.name,
                    federated.spec.model,
                    federated.provenance.target,
                    before,
                    after,
                    threshold,
                    applied,
                    reason,
                )
            )
            hospitals.append(site)
        countries.append(country.model_copy(update={"hospitals": hospitals}))
    return world.model_copy(update={"countries": countries}), replace(
        federated, shared=tuple(shared)
    )


def _how_applied(
    spec: FederationSpec, country: CountryWorld, site: HospitalSite
) -> tuple[Literal["pathway", "triage", "recorded-only"], str]:
    """What the shared model will change in this hospital's run, and why (or why not)."""
    patients = country.patients_of(site)
    twins = patients is not None and patients.course == "twins"
    if spec.share_back == "model-card":
        return "recorded-only", "share_back: model-card records the model only"
    if site.icu_unit is None:
        return "recorded-only", "the hospital has no ICU unit to send patients to"
    if spec.share_back == "pathway":
        if twins:
            return "recorded-only", (
                "its patients have twins, whose deterioration decides who goes to the ICU, "
                "so the pathway's ICU probability is not used; share_back: triage acts on them"
            )
        return "pathway", "the entry unit's ICU-transfer probability is the model's mean risk"
    if not twins or patients is None or patients.cohort_size == 0:
        return "recorded-only", (
            "triage needs patients with twins and a cohort (patients: {course: twins, "
            "cohort_size: > 0}); use share_back: pathway for hospitals without twins"
        )
    return "triage", (
        f"patients whose predicted risk is above {spec.triage_threshold:g} are admitted "
        "straight to the ICU"
    )


def _with_icu_probability(site: HospitalSite, p_icu: float) -> HospitalSite:
    assert site.icu_unit is not None
    icu = site.icu_unit
    routes = dict(site.config.pathways[site.entry_unit])
    routes.setdefault(icu, 0.0)
    rest = sum(v for k, v in routes.items() if k != icu)
    if rest <= 0.0:
        raise InvalidInputError(
            f"hospital {site.name!r}: unit {site.entry_unit!r} sends everyone to the ICU, so "
            "a predicted ICU-transfer probability cannot replace it; use share_back: model-card"
        )
    # The routes keep their order: a route is drawn by inverse CDF, so the same uniform
    # draws (common random numbers) send a patient to the ICU only more often as p grows.
    new = {k: p_icu if k == icu else v * (1.0 - p_icu) / rest for k, v in routes.items()}
    pathways = {**site.config.pathways, site.entry_unit: new}
    config = site.config.model_copy(update={"pathways": pathways})
    return site.model_copy(update={"config": config})


def _site_data(
    world: WorldScenario, spec: FederationSpec, streams: RandomStreams, names: list[str]
) -> tuple[list[dict[str, FloatArray]], list[SiteData]]:
    if spec.data == "synthetic":
        tables, data = [], []
        for country in world.countries:
            mix = spec.cohorts.get(country.name, CohortMix())
            for site in country.hospitals:
                rng = streams.generator(f"world/federation/{country.name}/{site.name}")
                cols, d = synthetic_patients(
                    mix,
                    spec.patients_per_hospital,
                    rng,
                    baseline_icu_probability=spec.baseline_icu_probability,
                )
                tables.append(cols)
                data.append(replace(d, name=f"{country.name}/{site.name}"))
        return tables, data
    if spec.data == "twins":
        # Imported here: the season needs the world's patients, which import this module.
        from healthtwin.scenarios.federated_season import season_patients

        return season_patients(world, spec, streams)
    outcome = "binary" if spec.model == "logistic" else "survival"
    try:
        pooled = load_site_data(spec.data, outcome=outcome)
    except UnknownModelError as err:
        raise UnknownModelError(
            f"federation.data {spec.data!r}: give 'synthetic', 'twins' or a shipped data "
            f"set ({err})"
        ) from err
    try:
        parts = split_by_case_mix(
            pooled,
            len(names),
            streams.generator("world/federation/split"),
            skew=spec.case_mix_skew,
        )
    except InvalidParameterError as err:
        raise InvalidInputError(
            f"federation.data {spec.data!r} has {pooled.n_patients} patients, too few for "
            f"{len(names)} hospitals: {err}"
        ) from err
    data = [replace(p, name=n) for p, n in zip(parts, names, strict=True)]
    tables = [{"time": d.time, "event": d.event.astype(np.float64)} for d in data]
    return tables, data


def _hold_out(
    data: SiteData, fraction: float, streams: RandomStreams, name: str
) -> tuple[SiteData, SiteData]:
    order = streams.generator(f"world/federation/{name}/held-out").permutation(data.n_patients)
    n_test = max(1, round(fraction * data.n_patients))
    return (
        data.subset(np.sort(order[n_test:]), data.name),
        data.subset(np.sort(order[:n_test]), data.name),
    )


def _site(
    name: str, table: dict[str, FloatArray], data: SiteData, spec: FederationSpec
) -> FederatedSite:
    # A site's budget covers exactly this run's epsilon (a hair more, for float sums).
    budget = PrivacyBudget((spec.epsilon or 1.0) * (1 + 1e-9), spec.delta)
    policy = SitePolicy()
    ledger = PrivacyLedger(
        MemoryLedgerStore(),
        project_budgets={LEARNING_PROJECT: budget, policy.project: budget},
        dataset_budgets={name: budget},
    )
    store = open_store("sqlite://")
    return FederatedSite(
        name, AnalyticsSite(name, table, policy, ledger), store, ledger, data, spec.delta
    )


def _rounds(
    model: LogisticRegression | CoxPH,
    sites: list[FederatedSite],
    held_out: tuple[SiteData, ...],
    config: FederationConfig,
) -> FederationResult:
    """FedAvg/FedProx over the sites, every round evaluated on the held-out patients."""
    rng = np.random.default_rng(config.seed)
    theta = np.zeros(model.n_parameters(held_out[0].features.shape[1]))
    names = tuple(s.name for s in sites)
    records = []
    for number in range(1, config.rounds + 1):
        replies = [site.train_round(model, theta, config, number) for site in sites]
        theta, record = close_round(model, theta, replies, config, rng, number)
        metrics = _evaluate(model, theta, held_out)
        records.append(replace(record, sampled=names, metrics=metrics))
    return FederationResult(theta, tuple(records))


def _evaluate(
    model: LogisticRegression | CoxPH, theta: FloatArray, held_out: tuple[SiteData, ...]
) -> dict[str, float]:
    per_site = []
    for data in held_out:
        try:
            per_site.append((data.n_patients, model.evaluate(theta, data)))
        except InvalidParameterError:
            # A small held-out set with one outcome only has no AUC / C-index.
            continue
    return weighted_metrics(per_site)


def _verified_audit(site: FederatedSite) -> int:
    report = site.store.verify_audit()
    if not report.ok:
        raise InvalidInputError(
            f"site {site.name!r}: its audit chain does not verify: {report.reason}"
        )
    return len(site.store.audit_events(actor=f"site:{site.name}"))


def _spent(site: FederatedSite) -> float:
    return float(sum(s.epsilon for s in site.ledger.spends()))


def _seed(streams: RandomStreams, name: str) -> int:
    return int(streams.sequence(name).generate_state(1)[0])
