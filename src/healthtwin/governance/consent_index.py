"""Consents on file, indexed for batch questions: which of these patients may this request touch?

:class:`ConsentIndex` answers one request for every patient at once with the rules of
:mod:`healthtwin.governance.consent` (deny overrides, the most specific provision decides),
flattened into arrays and inverted indexes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from healthtwin.governance.consent import (
    _CODE,
    DENY,
    NONE,
    PERMIT,
    CompiledConsent,
    ConsentDefaults,
    ConsentOutcome,
    Provision,
    RequestFacts,
    compile_consent,
    evaluate_consent,
    resource_patient,
)
from healthtwin.governance.policy import AccessRequest

__all__ = ["ConsentIndex"]


class ConsentIndex:
    """Consents on file, indexed by patient and flattened into arrays for batch queries.

    One request is answered for every patient at once: each provision's conditions become
    boolean arrays (inverted indexes for actors, actions, purposes and resource types), the
    tree is reduced level by level (deny overrides, the most specific decides), and the
    consents of each patient are combined (deny overrides permit, else the default).

    Parameters
    ----------
    consents : iterable of dict or CompiledConsent
        FHIR R4 Consent resources (or compiled ones).
    defaults : ConsentDefaults, optional
        The decision per purpose when no consent decides.

    Examples
    --------
    >>> index = ConsentIndex([{"resourceType": "Consent", "id": "c1", "status": "active",
    ...     "scope": {"coding": [{"code": "research"}]}, "patient": {"reference": "Patient/a"},
    ...     "policyRule": {"coding": [{"code": "OPTIN"}]}}])
    >>> study = AccessRequest(actor="Practitioner/9", purpose="HRESCH", action="s",
    ...                       resource_type="Observation")
    >>> index.allowed_patients(study, ["a", "b"]).tolist()
    [True, False]
    """

    def __init__(
        self,
        consents: Iterable[Mapping[str, Any] | CompiledConsent],
        defaults: ConsentDefaults | None = None,
    ) -> None:
        self.defaults = defaults or ConsentDefaults()
        self._consents = tuple(
            c if isinstance(c, CompiledConsent) else compile_consent(c) for c in consents
        )
        by_patient: dict[str, list[int]] = {}
        for number, consent in enumerate(self._consents):
            by_patient.setdefault(consent.patient_id, []).append(number)
        self._by_patient = {p: tuple(v) for p, v in by_patient.items()}
        self._patient_number = {p: i for i, p in enumerate(self._by_patient)}
        self._tables = _ProvisionTables(self._consents, self._patient_number)

    @property
    def n_consents(self) -> int:
        """Number of consents on file."""
        return len(self._consents)

    def consents_of(self, patient_id: str) -> tuple[CompiledConsent, ...]:
        """The consents of one patient (any status)."""
        return tuple(self._consents[i] for i in self._by_patient.get(patient_id, ()))

    def outcome(
        self,
        request: AccessRequest | RequestFacts,
        patient_id: str,
        resource: Mapping[str, Any] | None = None,
    ) -> ConsentOutcome:
        """What the patient's consents decide (``decision`` None when none decides)."""
        return evaluate_consent(self.consents_of(patient_id), request, resource)

    def allows(
        self,
        request: AccessRequest | RequestFacts,
        patient_id: str,
        resource: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether the patient's consents, or else the default, allow the request."""
        facts = request if isinstance(request, RequestFacts) else RequestFacts.of(request)
        decided = self.outcome(facts, patient_id, resource).decision
        return self.defaults.allows(facts.purpose) if decided is None else decided == "permit"

    def allowed_patients(
        self, request: AccessRequest | RequestFacts, patient_ids: Sequence[str]
    ) -> NDArray[np.bool_]:
        """Whether each patient's data may be used for ``request``, shape (n_patients,).

        Conditions on individual resources (``data``, ``dataPeriod``) are resolved toward
        refusal here; :meth:`filter_resources` decides them resource by resource.
        """
        facts = request if isinstance(request, RequestFacts) else RequestFacts.of(request)
        # One patient costs ~10 us one by one, a provision ~20 ns in the batch pass.
        if len(patient_ids) <= max(_SCALAR_LIMIT, self._tables.n // 500):
            return np.array([self.allows(facts, str(p)) for p in patient_ids], dtype=bool)
        per_patient = self._tables.allowed(facts, self.defaults.allows(facts.purpose))
        numbers = np.fromiter(
            (self._patient_number.get(str(p), -1) for p in patient_ids), np.int64, len(patient_ids)
        )
        mask = np.full(numbers.size, self.defaults.allows(facts.purpose))
        known = numbers >= 0
        mask[known] = per_patient[numbers[known]]
        return mask

    def filter_resources(
        self, request: AccessRequest, resources: Sequence[Mapping[str, Any]]
    ) -> tuple[list[Mapping[str, Any]], int]:
        """Drop the resources whose patient's consents refuse ``request``.

        Each resource is judged under its own resource type; resources of no patient
        (``Organization``, ``Practitioner``...) are kept.

        Returns
        -------
        kept : list of dict
            The resources that may leave the store, in their original order.
        n_removed : int
        """
        base = RequestFacts.of(request)
        owners = [resource_patient(r) for r in resources]
        verdicts: dict[tuple[str, str], bool] = {}
        by_type: dict[str, list[str]] = {}
        for resource, owner in zip(resources, owners, strict=True):
            if owner is not None and not self._needs_resource(owner):
                by_type.setdefault(str(resource.get("resourceType")), []).append(owner)
        for kind, owners_of_kind in by_type.items():
            unique = list(dict.fromkeys(owners_of_kind))
            facts = RequestFacts(**{**base.__dict__, "resource_type": kind})
            for owner, ok in zip(unique, self.allowed_patients(facts, unique), strict=True):
                verdicts[(kind, owner)] = bool(ok)
        kept: list[Mapping[str, Any]] = []
        for resource, owner in zip(resources, owners, strict=True):
            kind = str(resource.get("resourceType"))
            if owner is None:
                kept.append(resource)
                continue
            ok = verdicts.get((kind, owner))
            if ok is None:
                facts = RequestFacts(**{**base.__dict__, "resource_type": kind})
                ok = self.allows(facts, owner, resource)
            if ok:
                kept.append(resource)
        return kept, len(resources) - len(kept)

    def _needs_resource(self, patient_id: str) -> bool:
        return any(c.needs_resource for c in self.consents_of(patient_id))


# Below this many patients, evaluating their consents one by one beats the batch pass.
_SCALAR_LIMIT = 64


class _ProvisionTables:
    """Every provision of every consent as arrays, depth-first, for the batch pass."""

    def __init__(
        self, consents: Sequence[CompiledConsent], patient_number: Mapping[str, int]
    ) -> None:
        nodes: list[tuple[Provision, int, int, int]] = []  # node, consent, parent, depth
        roots: list[int] = []
        for number, consent in enumerate(consents):
            roots.append(len(nodes))
            stack = [(consent.root, -1, 0)]
            while stack:
                node, parent, depth = stack.pop()
                here = len(nodes)
                nodes.append((node, number, parent, depth))
                stack.extend((child, here, depth + 1) for child in reversed(node.children))
        # Deepest level first, each level contiguous, so the reduction works on slices.
        depths = np.array([n[3] for n in nodes], dtype=np.int64)
        order = np.argsort(-depths, kind="stable")
        position = np.empty_like(order)
        position[order] = np.arange(order.size)
        provisions = [nodes[i][0] for i in order]
        parents = np.array([nodes[i][2] for i in order], dtype=np.int64)
        parents = np.where(parents >= 0, position[np.maximum(parents, 0)], -1)
        self.n = len(nodes)
        self.own = np.array([_CODE[p.type] for p in provisions], dtype=np.int8)
        self.start = np.array([p.period[0] for p in provisions], dtype=float)
        self.end = np.array([p.period[1] for p in provisions], dtype=float)
        self.uncertain = np.array([bool(p.uncertain) or p.needs_resource for p in provisions])
        self.conditions = {
            name: _Inverted([getattr(p, name) for p in provisions])
            for name in ("actors", "actions", "purposes", "resource_types")
        }
        sorted_depths = depths[order]
        self.levels = []
        for depth in range(int(depths.max(initial=0)), -1, -1):
            first, stop = np.searchsorted(-sorted_depths, [-depth, -depth + 1])
            self.levels.append((slice(int(first), int(stop)), parents[first:stop]))
        self.roots = position[np.array(roots, dtype=np.int64)]
        self.roots_start = self.levels[-1][0].start if self.levels else 0
        self.active = np.array([c.active for c in consents], dtype=bool)
        self.scope = np.array(
            [
                ("patient-privacy", "research").index(c.scope) if c.scope != "other" else 2
                for c in consents
            ],
            dtype=np.int8,
        )
        self.patient = np.array([patient_number[c.patient_id] for c in consents], dtype=np.int64)
        self.n_patients = len(patient_number)

    def allowed(self, facts: RequestFacts, default: bool) -> NDArray[np.bool_]:
        """Per patient number: deny if any consent denies, else permit if any, else default."""
        match = (self.start <= facts.at_s) & (facts.at_s < self.end)
        match &= self.conditions["actors"].any_of(facts.actors)
        match &= self.conditions["actions"].any_of(facts.actions)
        match &= self.conditions["purposes"].any_of(facts.purposes)
        match &= self.conditions["resource_types"].any_of((facts.resource_type,))
        child_deny = np.zeros(self.n, dtype=bool)
        child_permit = np.zeros(self.n, dtype=bool)
        result = np.zeros(self.n, dtype=np.int8)
        for nodes, parents in self.levels:
            decided = self.own[nodes].copy()
            decided[child_permit[nodes]] = PERMIT
            decided[child_deny[nodes]] = DENY
            decided[~match[nodes] | (self.uncertain[nodes] & (decided != DENY))] = NONE
            result[nodes] = decided
            if nodes.start < self.roots_start:
                child_deny[parents[decided == DENY]] = True
                child_permit[parents[decided == PERMIT]] = True
        research = "HRESCH" in facts.purposes
        applies = self.active & ((self.scope == 0) | ((self.scope == 1) & research))
        by_consent = np.where(applies, result[self.roots], NONE)
        deny = np.zeros(self.n_patients, dtype=bool)
        deny[self.patient[by_consent == DENY]] = True
        permit = np.zeros(self.n_patients, dtype=bool)
        permit[self.patient[by_consent == PERMIT]] = True
        return ~deny & (permit | default)


class _Inverted:
    """Which provisions state a condition, and which name each value."""

    def __init__(self, values: Sequence[frozenset[str]]) -> None:
        self.unconditioned = np.array([not v for v in values], dtype=bool)
        positions: dict[str, list[int]] = {}
        for number, names in enumerate(values):
            for name in names:
                positions.setdefault(name, []).append(number)
        self.positions = {k: np.array(v, dtype=np.int64) for k, v in positions.items()}

    def any_of(self, keys: Iterable[str]) -> NDArray[np.bool_]:
        """Provisions whose condition holds for one of ``keys`` (or that state none)."""
        mask = self.unconditioned.copy()
        for key in keys:
            hits = self.positions.get(key)
            if hits is not None:
                mask[hits] = True
        return mask
