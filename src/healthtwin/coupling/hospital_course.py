"""Patients as twins in the hospital: a :class:`ClinicalCourse` backed by physiology.

Each patient who reaches a bed gets an acute-inflammation twin (Reynolds et al., J Theor
Biol 242:220-236, 2006; :mod:`healthtwin.physiology.inflammation`, Table 1 parameters),
inoculated with a pathogen load at hospital arrival. Its state gives the clinical events
and the vital signs; NEWS2 (:func:`healthtwin.physiology.scores.news2`) follows from them.

Heterogeneity (chosen here, not from a paper; :class:`TwinCourseSettings`)
    Initial pathogen load ``P(0) ~ lognormal(median 0.4, sigma 0.5)`` and growth rate
    ``k_pg ~ lognormal(median 0.3, sigma 0.25)``; the other Table 1 values are shared.
    The paper's health run is ``(k_pg 0.3, P(0) 1)`` and loads above 1.036 or growth
    above 0.311 end in aseptic death, so medians below those put most patients in the
    healthy basin and a tail (about 4-6 %) in the death basins: a ward mix where a
    minority deteriorates, rather than the paper's three illustrative runs.

Events (twin time = hours since hospital arrival)
    *deterioration*: tissue damage ``D`` first reaches ``deterioration_damage`` (3 D-units;
    healing runs peak below 4, so a few survivors deteriorate and recover);
    *death*: ``D`` reaches ``death_damage`` (15, on the way to the death attractors near
    17.4); *resolution*: from the last time ``P >= 0.05`` or ``D >= 1`` or ``N* >= 0.05``
    on. A stay ends at the later of resolution and the unit's usual stay (drawn from its
    ``los_hours``): the twin can lengthen a stay, never shorten it. In an ICU the end is
    ``step_down``; in units whose kind is not in ``twin_kinds`` (ED, theatre) the usual
    stay alone ends the visit. Deterioration is reported once per patient; twins are
    integrated to ``horizon_hours`` (720) and treated as resolved after it.

Escalation (``escalate=True``)
    The deterioration is the twin's ICU need: in a unit of a twin kind other than
    ``icu`` it ends the visit at once (the event after ``deteriorate`` is an immediate
    ``fit_for_discharge``), and whoever routes the patient sends them to the ICU
    (:mod:`healthtwin.scenarios.hospital_runs` sets the route; the course only ends the
    stay). :meth:`TwinCourse.prognosis` gives each twin's event times ahead of the run so
    that routes can be set before it. The twin's dynamics do not change in the ICU (no
    treatment effect is modelled): a twin in a death basin dies there.

Vitals
    Systolic BP comes from the circulation model: the Smith et al. (2004) closed-loop CVS
    at quasi-steady state (its beats settle in seconds to minutes, the inflammation moves
    over hours) with systemic resistance interpolated linearly between the nominal set
    and the septic-shock set of Revie et al. (2013; ``R_sys`` -42 %), by the *shock
    fraction* ``s = min(D / shock_damage, 1)``. The interpolation by ``D`` is an
    assumption of this module, not a published mapping. Integrating the CVS per patient
    would cost a numba compile (about 6 s) and a re-settling at every parameter change for
    no change in the beat-averaged result, so its SBP at 11 values of ``s`` is stored in
    :data:`SMITH_SBP_TABLE_MM_HG` (regenerate: :func:`circulation_sbp_table`; a test checks
    it) and interpolated. The model has no baroreflex (heart rate is a parameter), so heart
    rate, like respiratory rate, SpO2, temperature and consciousness, comes from a
    **statistical stand-in, not physiology**: with the activation ``a = N* / (N* + 0.1)``
    and ``s`` as above, RR ``15 + 6a + 10s + N(0, 1.5)``, SpO2 ``97.5 - 7s + N(0, 1)``
    (at most 100), oxygen given when ``s > 0.5``, temperature ``36.8 + 1.8a + N(0, 0.3)``,
    heart rate ``75 + 20a + 30s + b_hr + N(0, 2.5)`` (ECG error), SBP
    ``table(s) + b_sbp + N(0, 8)`` (NIBP error, ISO 81060-2), patient offsets
    ``b_hr ~ N(0, 8)``, ``b_sbp ~ N(0, 10)``, new confusion with probability
    ``0.7 * clip(2 (s - 0.5), 0, 1)``.

Cost and common random numbers
    Twins are integrated in blocks of ``block_size`` patient ids (RK4, ``step_hours``),
    vectorized across patients, only when a patient of the block is first seen, and
    stopped once every member has resolved or died; vitals and NEWS2 are computed once per
    block on the time grid. Patient ``p``'s draws come from ``SeedSequence((seed, r, p))``
    where ``r`` is read (not consumed) from the replication's course generator, so two
    hospital configs simulated with the same seed share patient twins.

Trajectories for early-warning evaluation
    The engine's results carry no per-patient series, so the course records them:
    :meth:`TwinCourse.trajectories` gives NEWS2 sampled every ``record_every_hours`` over
    every stay, the deteriorations (and deaths) it generated and the stays, as
    :class:`~healthtwin.hospital.early_warning.NewsTrajectories` for
    :func:`~healthtwin.hospital.early_warning.evaluate_alerts`. (The simulation's own
    NEWS2 queries are not used: it looks hourly before each deterioration only, which
    would bias sensitivity up.) Patient keys are ``replication * 2**32 + patient id``.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.coupling.twin_blocks import (
    TwinBlock,
    TwinRequest,
    growth_multipliers,
    prefetch_twins,
    replication_entropy,
    simulate_twins,
)
from healthtwin.coupling.twin_dynamics import (
    SMITH_SBP_TABLE_MM_HG,
    circulation_sbp_table,
    integrate_twins,
    twin_initial_state,
)
from healthtwin.coupling.twin_settings import TwinCourseSettings
from healthtwin.errors import InvalidParameterError
from healthtwin.hospital.config import HospitalConfig
from healthtwin.hospital.course import EventKind, Patient
from healthtwin.hospital.early_warning import NewsTrajectories

__all__ = [
    "SMITH_SBP_TABLE_MM_HG",
    "TwinCourse",
    "TwinCourseSettings",
    "TwinRequest",
    "circulation_sbp_table",
    "integrate_twins",
    "prefetch_twins",
    "replication_entropy",
    "twin_initial_state",
]

_REP_SHIFT = 2**32


@dataclass
class _Record:
    patient: list[FloatArray] = field(default_factory=list)
    time: list[FloatArray] = field(default_factory=list)
    total: list[npt.NDArray[np.int8]] = field(default_factory=list)
    single_3: list[BoolArray] = field(default_factory=list)
    events: list[tuple[int, float, str]] = field(default_factory=list)
    stays: list[tuple[int, float, float]] = field(default_factory=list)


class TwinCourse:
    """A clinical course whose patients are inflammation twins (see the module docstring).

    Parameters
    ----------
    config
        The hospital (unit kinds and usual stays).
    settings
        Heterogeneity, thresholds and numerics.
    seed
        Mixed into every patient's draws.
    escalate
        Whether a twin's deterioration on a ward sends it to the ICU.
    twin_cache
        Where to keep simulated twins for courses of the same hospital and settings run
        again (a run over more days re-uses the twins of a shorter one: the same patients
        have the same twins); None keeps them for this course only.
    growth_multiplier : ndarray, shape (n,), optional
        Multiplier of each patient's pathogen growth ``k_pg`` (patient ids ``0..n-1``;
        see the module docstring); None: 1 for every patient, ids unbounded.

    Examples
    --------
    >>> cfg = HospitalConfig.model_validate({
    ...     "units": {"ward": {"kind": "ward", "beds": 5,
    ...                        "los_hours": {"dist": "fixed", "mean": 24.0}}},
    ...     "pathways": {"ward": {"discharge": 1.0}}})
    >>> course = TwinCourse(cfg)
    >>> p = Patient(id=0, triage=3, unit="ward", arrival_hours=0.0, admitted_hours=0.0)
    >>> dt, kind = course.next_event(p, 0.0, np.random.default_rng(0))
    >>> dt >= 24.0 and kind in ("fit_for_discharge", "deteriorate", "death")
    True
    >>> total, red = course.news2(p, 1.0)
    >>> 0 <= total <= 20
    True
    """

    def __init__(
        self,
        config: HospitalConfig,
        settings: TwinCourseSettings | None = None,
        *,
        seed: int = 0,
        escalate: bool = False,
        twin_cache: MutableMapping[tuple[int, int, int], Any] | None = None,
        growth_multiplier: FloatArray | None = None,
    ) -> None:
        self._config = config
        # Simulated blocks of twins, shared by courses of the same hospital and settings
        # (a block depends only on the seed, the replication's course stream and its ids).
        self._cache = twin_cache
        self.settings = TwinCourseSettings() if settings is None else settings
        self._seed = seed
        self._escalate = escalate
        self._growth = None if growth_multiplier is None else growth_multipliers(growth_multiplier)
        self._escalating: set[int] = set()
        self._rng: np.random.Generator | None = None
        self._rep_entropy = 0
        self._rep = -1
        self._blocks: dict[int, TwinBlock] = {}
        self._reported: set[int] = set()
        self._recorded_until: dict[int, float] = {}
        self._records: list[_Record] = []
        self._grid = np.arange(
            0.0, self.settings.horizon_hours + 0.5 * self.settings.step_hours,
            self.settings.step_hours,
        )  # fmt: skip

    # -- the ClinicalCourse protocol ------------------------------------------------------
    def next_event(
        self, patient: Patient, now: float, rng: np.random.Generator
    ) -> tuple[float, EventKind]:
        """Hours to the patient's next event: deterioration, death or end of the stay."""
        self._sync(rng)
        block, j = self._twin(patient.id)
        unit = self._config.units[patient.unit]
        if patient.id in self._escalating:
            # The deterioration just reported ends this stay: the patient leaves for ICU.
            self._escalating.discard(patient.id)
            self._record_stay(patient, block, j, now)
            return 0.0, "fit_for_discharge"
        if patient.stay_end_hours is None:
            patient.stay_end_hours = now + float(unit.los_hours.sample(rng, 1)[0])
        origin = patient.arrival_hours
        end = patient.stay_end_hours
        end_kind: EventKind = "step_down" if unit.kind == "icu" else "fit_for_discharge"
        if unit.kind in self.settings.twin_kinds:
            resolved = float(block.resolved[j])
            resolved = self.settings.horizon_hours if math.isinf(resolved) else resolved
            end = max(end, origin + resolved)
        else:
            end_kind = "fit_for_discharge"
        # Ties go to the first: a deterioration before death, death before discharge.
        candidates: list[tuple[float, EventKind]] = []
        det = origin + float(block.deterioration[j])
        if patient.id not in self._reported and det < math.inf:
            # A crossing while boarding (no course events) is reported on admission.
            candidates.append((max(det, now), "deteriorate"))
        death = origin + float(block.death[j])
        if death < math.inf:
            candidates.append((max(death, now), "death"))
        candidates.append((end, end_kind))
        at, kind = min(candidates, key=lambda c: c[0])
        if kind == "deteriorate":
            self._reported.add(patient.id)
            if self._escalate and unit.kind != "icu" and unit.kind in self.settings.twin_kinds:
                self._escalating.add(patient.id)
        if kind in ("deteriorate", "death"):
            true_time = det if kind == "deteriorate" else death
            self._record().events.append((self._key(patient.id), true_time, kind))
        if kind != "deteriorate":
            self._record_stay(patient, block, j, at)
        return at - now, kind

    def news2(self, patient: Patient, now: float) -> tuple[int, bool] | None:
        """NEWS2 total and red-score flag of the twin at ``now`` (None before arrival)."""
        if self._rng is None:
            return None
        block, j = self._twin(patient.id)
        k = self._index(now - patient.arrival_hours)
        if k < 0:
            return None
        return int(block.total[j, k]), bool(block.single_3[j, k])

    # -- prognosis ahead of the run -------------------------------------------------------
    def start(self, rng: np.random.Generator) -> None:
        """Start the replication whose course generator is ``rng`` (read, not consumed)."""
        self._sync(rng)

    def prognosis(self, patient_id: int) -> tuple[float, float, float]:
        """Hours from arrival to the twin's deterioration, death and resolution.

        ``inf`` when the event never happens within ``horizon_hours`` (resolution: never
        settles). Call :meth:`start` with the replication's course generator first.

        Examples
        --------
        >>> cfg = HospitalConfig.model_validate({
        ...     "units": {"ward": {"kind": "ward", "beds": 5,
        ...                        "los_hours": {"dist": "fixed", "mean": 24.0}}},
        ...     "pathways": {"ward": {"discharge": 1.0}}})
        >>> course = TwinCourse(cfg)
        >>> course.start(np.random.default_rng(0))
        >>> det, death, resolved = course.prognosis(0)
        >>> det <= death and resolved >= 0
        True
        """
        if self._rng is None:
            raise InvalidParameterError(
                "TwinCourse.prognosis needs a replication; call start(rng) with the "
                "replication's course generator first"
            )
        block, j = self._twin(patient_id)
        return float(block.deterioration[j]), float(block.death[j]), float(block.resolved[j])

    # -- recorded trajectories ------------------------------------------------------------
    def trajectories(self, kinds: tuple[str, ...] = ("deteriorate",)) -> NewsTrajectories:
        """NEWS2 over every recorded stay, the events of ``kinds``, and the stays."""
        recs = self._records
        parts = {f: [a for r in recs for a in getattr(r, f)] for f in ("patient", "time")}
        totals = [a for r in recs for a in r.total]
        reds = [a for r in recs for a in r.single_3]
        events = [e for r in recs for e in r.events if e[2] in kinds]
        stays = [s for r in recs for s in r.stays]

        def cat(arrays: Sequence[npt.NDArray[Any]], dtype: type) -> npt.NDArray[Any]:
            return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype)

        return NewsTrajectories(
            patient=cat(parts["patient"], np.int64),
            time_hours=cat(parts["time"], np.float64),
            total=cat(totals, np.int64),
            any_single_3=cat(reds, np.bool_),
            event_patient=np.array([e[0] for e in events], dtype=np.int64),
            event_time_hours=np.array([e[1] for e in events], dtype=np.float64),
            stay_patient=np.array([s[0] for s in stays], dtype=np.int64),
            stay_start_hours=np.array([s[1] for s in stays], dtype=np.float64),
            stay_end_hours=np.array([s[2] for s in stays], dtype=np.float64),
        )

    # -- internals ------------------------------------------------------------------------
    def _sync(self, rng: np.random.Generator) -> None:
        """Start a new replication when the engine hands over a new course generator."""
        if rng is self._rng:
            return
        self._rep_entropy = replication_entropy(rng)
        self._rng, self._rep = rng, self._rep + 1
        self._blocks, self._reported, self._recorded_until = {}, set(), {}
        self._escalating = set()
        self._records.append(_Record())

    def _record(self) -> _Record:
        return self._records[-1]

    def _key(self, pid: int) -> int:
        return self._rep * _REP_SHIFT + pid

    def _index(self, twin_hours: float) -> int:
        if twin_hours < -1e-9:
            return -1
        k = int(twin_hours / self.settings.step_hours + 0.5)
        return min(k, self._grid.size - 1)

    def _record_stay(self, patient: Patient, block: TwinBlock, j: int, end: float) -> None:
        # From hospital arrival (or time 0 for the census) and then contiguously, so that
        # waiting for a cubicle and boarding are recorded too.
        start = self._recorded_until.get(patient.id, max(patient.arrival_hours, 0.0))
        self._recorded_until[patient.id] = end
        every = self.settings.record_every_hours
        times = np.arange(start, end, every)
        k = np.minimum(
            ((times - patient.arrival_hours) / self.settings.step_hours + 0.5).astype(np.int64),
            self._grid.size - 1,
        )
        k = np.maximum(k, 0)
        rec, key = self._record(), self._key(patient.id)
        rec.patient.append(np.full(times.size, float(key)))
        rec.time.append(times)
        rec.total.append(block.total[j, k])
        rec.single_3.append(block.single_3[j, k])
        rec.stays.append((key, start, end))

    def _twin(self, pid: int) -> tuple[TwinBlock, int]:
        size = self.settings.block_size
        b = pid // size
        block = self._blocks.get(b)
        if block is None or pid - b * size >= block.size:
            block = self._known_block(b, pid)
            self._blocks[b] = block
        return block, pid - b * size

    def _known_block(self, b: int, pid: int) -> TwinBlock:
        """Block ``b`` with the twins of every known patient in it (from the cache if kept).

        A cached block whose patients are a prefix of the known ones is extended by the
        twins it lacks: twins are integrated independently, so the result is the same.
        """
        size = self.settings.block_size
        first = b * size
        if self._growth is None:
            wanted = np.ones(size)
        else:
            if pid >= self._growth.size:
                raise InvalidParameterError(
                    f"TwinCourse knows patients 0..{self._growth.size - 1} (one growth "
                    f"multiplier each); patient {pid} has none: give a multiplier per patient"
                )
            wanted = self._growth[first : first + size]
        key = (self._seed, self._rep_entropy, b)
        cached: TwinBlock | None = None if self._cache is None else self._cache.get(key)
        if cached is not None:
            n = min(cached.size, wanted.size)
            if not np.array_equal(cached.growth_multiplier[:n], wanted[:n]):
                cached = None
        if cached is None:
            block = self._simulate_block(range(first, first + wanted.size), wanted)
        elif cached.size >= wanted.size:
            return cached
        else:
            more = range(first + cached.size, first + wanted.size)
            block = cached.joined(self._simulate_block(more, wanted[cached.size :]))
        if self._cache is not None:
            self._cache[key] = block
        return block

    def _simulate_block(self, ids: range, growth_multiplier: FloatArray) -> TwinBlock:
        request = (self._seed, self._rep_entropy, ids, growth_multiplier)
        return simulate_twins(self.settings, [request])[0]
