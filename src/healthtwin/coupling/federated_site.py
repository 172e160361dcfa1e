"""A federation site that harmonises its own data, keeps its own audit log and privacy budget.

In a federation across countries, each site (a hospital, a national node) does three
things before and while it takes part, none of which leaves the site:

1. **Harmonise** its export with its own mapping (:func:`healthtwin.interop.harmonize`):
   local column names, units, date formats, time zones and codes become shared records
   (LOINC glucose in mg/dL, ISO country codes, UTC times). Only then do its aggregates
   mean the same as every other site's.
2. **Audit** every training round and analytics query into its own store
   (:meth:`healthtwin.store.Store.record_audit`, a hash chain that
   :meth:`~healthtwin.store.Store.verify_audit` checks), refusals included.
3. **Spend** differential privacy from its own budget: one governance
   :class:`~healthtwin.governance.privacy_budget.PrivacyLedger` per site, charged by the
   analytics site directly and, for learning, behind the federation's
   :class:`~healthtwin.federation.privacy.PrivacyLedger` protocol
   (:class:`GovernedPrivacyLedger`).

:class:`FederatedSite` bundles the three; :class:`SiteFederation` is the analytics
transport over such sites (the in-process counterpart of the Flower apps), and
:func:`train_sites` runs FedAvg/FedProx rounds over them with the federation's own
aggregation functions.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from healthtwin.core.types import FloatArray
from healthtwin.errors import ConsentError, InvalidInputError
from healthtwin.federation.analytics_queries import Query, SiteAnswer, query_to_json
from healthtwin.federation.analytics_site import AnalyticsSite, SitePolicy
from healthtwin.federation.models import FederatedModel
from healthtwin.federation.site_governance import LEARNING_PROJECT, GovernedPrivacyLedger
from healthtwin.federation.sites import SiteData
from healthtwin.federation.strategies import (
    FederationConfig,
    FederationResult,
    RoundRecord,
    SiteReply,
    close_round,
    train_at_site,
)
from healthtwin.governance.privacy_budget import (
    MemoryLedgerStore,
    PrivacyBudget,
    PrivacyLedger,
)
from healthtwin.interop.harmonize import harmonize
from healthtwin.interop.records import PatientData
from healthtwin.store import Store

__all__ = [
    "GLUCOSE_LOINC",
    "LEARNING_PROJECT",
    "FederatedSite",
    "GovernedPrivacyLedger",
    "SiteFederation",
    "glucose_table",
    "train_sites",
]

GLUCOSE_LOINC = "2345-7"


def glucose_table(patients: Sequence[PatientData]) -> dict[str, np.ndarray]:
    """One row per glucose observation: value (mg/dL), the patient's country and id.

    Parameters
    ----------
    patients : sequence of PatientData
        Harmonised records (:class:`healthtwin.interop.records.PatientData`).
    """
    values: list[float] = []
    countries: list[str] = []
    ids: list[str] = []
    for data in patients:
        patient = data.patient
        for obs in data.observations:
            if obs.code.code == GLUCOSE_LOINC and obs.value is not None:
                values.append(float(obs.value))
                countries.append(patient.country or "unknown")
                ids.append(patient.id)
    return {
        "glucose_mg_dl": np.asarray(values, dtype=np.float64),
        "country": np.asarray(countries, dtype=np.str_),
        "patient": np.asarray(ids, dtype=np.str_),
    }


@dataclass
class FederatedSite:
    """One site: its harmonised records, its store (audit log) and its privacy ledger.

    Build one with :meth:`from_export`. ``analytics`` answers queries;
    :meth:`train_round` trains; both audit into ``store``.

    Attributes
    ----------
    name : str
        The site's name (also its dataset name in the ledger).
    analytics : AnalyticsSite
        The harmonised table and the disclosure policy.
    store : Store
        Where the site's audit chain lives.
    ledger : PrivacyLedger
        The site's governance ledger (analytics and learning spends).
    learning_data : SiteData or None
        Encoded records for federated learning, when the site takes part in it.
    """

    name: str
    analytics: AnalyticsSite
    store: Store
    ledger: PrivacyLedger
    learning_data: SiteData | None = None
    delta_budget: float = 1e-5

    @classmethod
    def from_export(
        cls,
        name: str,
        mapping: str | Path,
        store: Store,
        *,
        export: str | Path | None = None,
        policy: SitePolicy | None = None,
        epsilon_budget: float = 1.0,
        delta_budget: float = 1e-5,
    ) -> FederatedSite:
        """Harmonise the site's export with its own mapping and set up its governance.

        Parameters
        ----------
        name : str
            The site's name.
        mapping : str or Path
            The site's harmonisation mapping (YAML).
        store : Store
            The site's own store; the harmonisation is audited into it.
        export : str or Path, optional
            The export file; default the mapping's ``data`` file.
        policy : SitePolicy, optional
            Suppression and DP of analytics answers.
        epsilon_budget, delta_budget : float
            The site's total privacy budget, per project and over all projects.

        Raises
        ------
        InvalidInputError
            If the export does not harmonise cleanly (the quality report's problems are
            quoted); a site does not federate data it could not map.
        """
        source = harmonize(export, mapping)
        problems = source.quality.problems
        if problems:
            raise InvalidInputError(
                f"site {name!r}: {len(problems)} problem(s) harmonising {mapping}, e.g. "
                f"{problems[0]}; fix the export or the mapping before federating"
            )
        budget = PrivacyBudget(epsilon_budget, delta_budget)
        policy = SitePolicy(min_cell=None) if policy is None else policy
        ledger = PrivacyLedger(
            MemoryLedgerStore(),
            project_budgets={policy.project: budget, LEARNING_PROJECT: budget},
            dataset_budgets={name: budget},
        )
        table = glucose_table(source.patients)
        store.record_audit(
            actor=f"site:{name}",
            action="federation.harmonise",
            purpose="federated research",
            details={"mapping": str(mapping), "records": dict(source.quality.records)},
        )
        return cls(name, AnalyticsSite(name, table, policy, ledger), store, ledger, None,
                   delta_budget)  # fmt: skip

    def answer(self, query: Query) -> SiteAnswer:
        """Answer an analytics query (or refuse) and audit it with its outcome."""
        answer = self.analytics.answer(query)
        self.store.record_audit(
            actor=f"site:{self.name}",
            action="federation.analytics-query",
            outcome="success" if answer.refusal is None else "minor-failure",
            purpose=self.analytics.policy.project,
            query=query_to_json(query),
            details={"epsilon": answer.epsilon, "refusal": answer.refusal or ""},
        )
        return answer

    def privacy_ledger(self) -> GovernedPrivacyLedger:
        """The learning spends' face of the site's ledger (federation protocol)."""
        return GovernedPrivacyLedger(self.ledger, LEARNING_PROJECT, delta_budget=self.delta_budget)

    def train_round(
        self,
        model: FederatedModel,
        theta: FloatArray,
        config: FederationConfig,
        round_number: int,
        run: str = "run",
    ) -> SiteReply:
        """Train one round locally, charging DP to the site's budget; audit the round.

        Under DP the site's ``k``-th round of ``run`` is charged
        ``epsilon(k) - epsilon(k - 1)`` of the exact accountant (and the run's delta
        once), so its charges add up to what the accountant reports for the rounds its
        data entered, even if it sat some out. A site whose budget is spent sits the round
        out (a failure recorded as data).
        """
        if self.learning_data is None:
            return SiteReply(self.name, None, "site holds no learning data")
        reply = self._charged_training(model, theta, config, round_number, run)
        self.store.record_audit(
            actor=f"site:{self.name}",
            action="federation.training-round",
            outcome="success" if reply.result is not None else "minor-failure",
            purpose=LEARNING_PROJECT,
            details={
                "round": round_number,
                "model": model.name,
                "n_patients": self.learning_data.n_patients,
                "error": reply.error,
            },
        )
        return reply

    def _charged_training(
        self,
        model: FederatedModel,
        theta: FloatArray,
        config: FederationConfig,
        number: int,
        run: str,
    ) -> SiteReply:
        assert self.learning_data is not None
        if config.dp is not None:
            try:
                self.privacy_ledger().charge_participation(
                    self.name, config.dp, run, f"round {number}"
                )
            except ConsentError as err:
                return SiteReply(self.name, None, str(err))
        return train_at_site(model, theta, self.learning_data, config)


@dataclass(frozen=True)
class SiteFederation:
    """Analytics transport over :class:`FederatedSite` objects (audited answers)."""

    sites: Sequence[FederatedSite]

    def site_names(self) -> Sequence[str]:
        """Names of the sites."""
        return [s.name for s in self.sites]

    def ask(self, query: Query) -> list[SiteAnswer]:
        """Each site's audited answer."""
        return [site.answer(query) for site in self.sites]


def train_sites(
    model: FederatedModel, sites: Sequence[FederatedSite], config: FederationConfig
) -> FederationResult:
    """FedAvg/FedProx rounds over the sites' own learning data, audited and charged per site.

    Every site trains every round (no sampling); aggregation, DP noise and round records
    are :func:`~healthtwin.federation.strategies.close_round`'s.
    """
    data = [s.learning_data for s in sites if s.learning_data is not None]
    if not data:
        raise InvalidInputError("no site holds learning data; set FederatedSite.learning_data")
    rng = np.random.default_rng(config.seed)
    theta = np.zeros(model.n_parameters(data[0].features.shape[1]))
    records: list[RoundRecord] = []
    run = f"run-{uuid.uuid4().hex}"
    for number in range(1, config.rounds + 1):
        replies = [site.train_round(model, theta, config, number, run) for site in sites]
        theta, record = close_round(model, theta, replies, config, rng, number)
        records.append(record)
    return FederationResult(theta, tuple(records))
