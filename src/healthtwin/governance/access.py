"""The per-request access decision: policy and permit, then opt-out, then consent.

:class:`AccessController` is what the service calls for every request, after it has
validated the bearer token and built an :class:`~healthtwin.governance.policy.AccessRequest`
from it:

1. :meth:`Policy.decide <healthtwin.governance.policy.Policy.decide>`: token scopes,
   policy rules (default deny), project permit;
2. for a request about one patient, the opt-out registry (secondary uses only), then the
   patient's consents (or the default for the purpose when none decides);
3. for a query across patients, the request is allowed here and its results pass through
   :meth:`AccessController.filter_resources` (or :meth:`allowed_patients` before the
   query), so that no resource of a refusing patient leaves the store.

Every :class:`~healthtwin.governance.policy.Decision`, allowed or not, is meant to be
written to the audit log with :meth:`Decision.details` (check, rule, consent, provision).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from healthtwin.errors import ConsentError
from healthtwin.governance.consent import RequestFacts, resource_patient
from healthtwin.governance.consent_index import ConsentIndex
from healthtwin.governance.optout import OptOutRegistry
from healthtwin.governance.policy import AccessRequest, Decision, Policy

__all__ = ["AccessController"]


class AccessController:
    """Decide requests against a policy, the opt-out registry and the consents on file.

    Parameters
    ----------
    policy : Policy
    consents : ConsentIndex, optional
        The consents on file (with their defaults per purpose); none by default.
    optouts : OptOutRegistry, optional

    Examples
    --------
    >>> from healthtwin.governance.policy import load_policy
    >>> policy = load_policy('''
    ... rules:
    ...   - {id: care, roles: [clinician], actions: rs, resource_types: ["*"], purposes: [TREAT]}
    ... ''')
    >>> controller = AccessController(policy)
    >>> request = AccessRequest(actor="Practitioner/1", roles=("clinician",),
    ...     scopes=("user/*.rs",), purpose="TREAT", action="r", resource_type="Observation",
    ...     patient_id="p1")
    >>> controller.decide(request).allowed
    True
    """

    def __init__(
        self,
        policy: Policy,
        consents: ConsentIndex | None = None,
        optouts: OptOutRegistry | None = None,
    ) -> None:
        self.policy = policy
        self.consents = consents if consents is not None else ConsentIndex(())
        self.optouts = optouts if optouts is not None else OptOutRegistry()

    def decide(self, request: AccessRequest) -> Decision:
        """Decide one request; the reason names the first check that refused it."""
        decision = self.policy.decide(request)
        if not decision.allowed or request.patient_id is None:
            return decision
        patient = request.patient_id
        if self.optouts.is_opted_out(patient, request.purpose, request.at):
            return Decision.deny(
                "opt-out",
                f"patient {patient!r} opted out of secondary use for {request.purpose}",
                decision.matched_rule,
            )
        outcome = self.consents.outcome(request, patient)
        if outcome.decision == "deny":
            return Decision(
                False,
                f"Consent/{outcome.consent_id} ({outcome.provision}) denies {request.purpose} "
                f"use of patient {patient!r}'s {request.resource_type} by {request.actor}",
                decision.matched_rule,
                "consent",
                {"consent": outcome.consent_id, "provision": outcome.provision},
            )
        if outcome.decision is None and not self.consents.defaults.allows(request.purpose):
            return Decision.deny(
                "consent",
                f"patient {patient!r} has no consent permitting {request.purpose} and the "
                f"default for {request.purpose} is deny",
                decision.matched_rule,
            )
        why = (
            f"Consent/{outcome.consent_id} ({outcome.provision}) permits"
            if outcome.decision == "permit"
            else f"default for {request.purpose} permits"
        )
        return Decision(
            True,
            f"{decision.reason}; {why}",
            decision.matched_rule,
            None,
            {"consent": outcome.consent_id, "provision": outcome.provision},
        )

    def require(self, request: AccessRequest) -> Decision:
        """Like :meth:`decide`, but raise on refusal.

        Raises
        ------
        ConsentError
            With the decision's reason, when the request is refused.
        """
        decision = self.decide(request)
        if not decision.allowed:
            raise ConsentError(f"access refused ({decision.failed_check}): {decision.reason}")
        return decision

    def allowed_patients(
        self, request: AccessRequest, patient_ids: Sequence[str]
    ) -> NDArray[np.bool_]:
        """Patients whose data may serve ``request`` (policy, opt-out and consent), (n,)."""
        if not self.policy.decide(request).allowed:
            return np.zeros(len(patient_ids), dtype=bool)
        facts = RequestFacts.of(request)
        opted_out = self.optouts.mask(patient_ids, request.purpose, request.at)
        return self.consents.allowed_patients(facts, patient_ids) & ~opted_out

    def filter_resources(
        self, request: AccessRequest, resources: Sequence[Mapping[str, Any]]
    ) -> tuple[list[Mapping[str, Any]], int]:
        """Keep only the resources that may leave the store for ``request``.

        Returns
        -------
        kept : list of dict
        n_removed : int
            Resources withheld (all of them when the policy refuses the request).
        """
        if not self.policy.decide(request).allowed:
            return [], len(resources)
        kept, removed = self.consents.filter_resources(request, resources)
        if len(self.optouts) == 0:
            return kept, removed
        owners = [resource_patient(r) for r in kept]
        opted = {
            p
            for p in set(owners)
            if p is not None and self.optouts.is_opted_out(p, request.purpose, request.at)
        }
        survivors = [r for r, p in zip(kept, owners, strict=True) if p not in opted]
        return survivors, removed + len(kept) - len(survivors)
