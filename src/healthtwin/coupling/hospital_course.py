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

import hashlib
import itertools
import math
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri

from healthtwin.core.inputs import Inputs
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidParameterError
from healthtwin.hospital.config import HospitalConfig
from healthtwin.hospital.course import EventKind, Patient
from healthtwin.hospital.early_warning import NewsTrajectories
from healthtwin.physiology.circulation import (
    SmithCVS,
    septic_shock_parameters,
    smith_nominal_parameters,
)
from healthtwin.physiology.inflammation import (
    Inflammation,
    inflammation_rhs,
    reynolds_nominal_parameters,
)
from healthtwin.physiology.scores import news2
from healthtwin.physiology.vitals import Vitals

__all__ = [
    "SMITH_SBP_TABLE_MM_HG",
    "TwinCourse",
    "TwinCourseSettings",
    "circulation_sbp_table",
    "integrate_twins",
    "prefetch_twins",
    "replication_entropy",
    "twin_initial_state",
]

#: SBP (mmHg) of the Smith et al. (2004) CVS at shock fractions 0, 0.1, ..., 1 (R_sys
#: from nominal to Revie et al. 2013 septic shock); from :func:`circulation_sbp_table`.
SMITH_SBP_TABLE_MM_HG = (
    116.49, 113.38, 110.19, 106.94, 103.64, 100.28, 96.85, 93.37, 89.83, 86.22, 82.56,
)  # fmt: skip
_P, _N, _D = 0, 1, 2
_REP_SHIFT = 2**32


def circulation_sbp_table(n_points: int = 11) -> FloatArray:
    """SBP (mmHg) of the Smith 2004 CVS with ``R_sys`` interpolated to septic shock.

    Runs the model (numba-compiled when available; about 6 s the first time) for 30 min
    at ``n_points`` equally spaced shock fractions from 0 to 1, shape ``(n_points,)``.
    """
    nominal = float(np.ravel(smith_nominal_parameters().R_sys)[0])
    septic = float(np.ravel(septic_shock_parameters().R_sys)[0])
    r_sys = nominal + (septic - nominal) * np.linspace(0.0, 1.0, n_points)
    model = SmithCVS(smith_nominal_parameters(R_sys=r_sys))
    rng = np.random.default_rng(0)
    state = model.advance(model.initial_state(n_points, rng), 0.0, 30.0, Inputs(), rng)
    return np.asarray(model.observe(state)[:, 1])


@dataclass(frozen=True, kw_only=True)
class TwinCourseSettings:
    """Heterogeneity, event thresholds and numerics of :class:`TwinCourse` (see module)."""

    pathogen_median: float = 0.4
    pathogen_sigma: float = 0.5
    growth_median: float = 0.3
    growth_sigma: float = 0.25
    deterioration_damage: float = 3.0
    death_damage: float = 15.0
    shock_damage: float = 10.0
    resolved_pathogen: float = 0.05
    resolved_damage: float = 1.0
    resolved_phagocytes: float = 0.05
    horizon_hours: float = 720.0
    step_hours: float = 0.25
    block_size: int = 64
    record_every_hours: float = 1.0
    twin_kinds: frozenset[str] = field(default=frozenset({"ward", "icu", "step_down"}))

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "twin_kinds":
                continue
            if name.endswith("sigma") and value == 0:
                continue
            if not (math.isfinite(value) and value > 0):
                raise InvalidParameterError(
                    f"TwinCourseSettings.{name} must be a finite number > 0, got {value!r}"
                )
        if not self.deterioration_damage < self.death_damage:
            raise InvalidParameterError(
                f"deterioration_damage ({self.deterioration_damage}) must be below "
                f"death_damage ({self.death_damage})"
            )


@dataclass(frozen=True)
class _Block:
    """Twins of ``block_size`` consecutive patient ids: events (h) and NEWS2 on the grid."""

    deterioration: FloatArray  # (B,), inf when never
    death: FloatArray
    resolved: FloatArray
    total: npt.NDArray[np.int8]  # (B, T)
    single_3: BoolArray  # (B, T)
    growth_multiplier: FloatArray = field(default_factory=lambda: np.zeros(0))  # (B,)

    @property
    def size(self) -> int:
        return int(self.deterioration.size)

    def joined(self, more: _Block) -> _Block:
        """This block's twins followed by ``more``'s."""
        return _Block(*(np.concatenate([getattr(self, f), getattr(more, f)]) for f in _FIELDS))


_FIELDS = ("deterioration", "death", "resolved", "total", "single_3", "growth_multiplier")


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
        self._growth = None if growth_multiplier is None else _multipliers(growth_multiplier)
        self._escalating: set[int] = set()
        self._rng: np.random.Generator | None = None
        self._rep_entropy = 0
        self._rep = -1
        self._blocks: dict[int, _Block] = {}
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

    def _record_stay(self, patient: Patient, block: _Block, j: int, end: float) -> None:
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

    def _twin(self, pid: int) -> tuple[_Block, int]:
        size = self.settings.block_size
        b = pid // size
        block = self._blocks.get(b)
        if block is None or pid - b * size >= block.size:
            block = self._known_block(b, pid)
            self._blocks[b] = block
        return block, pid - b * size

    def _known_block(self, b: int, pid: int) -> _Block:
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
        cached: _Block | None = None if self._cache is None else self._cache.get(key)
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

    def _simulate_block(self, ids: range, growth_multiplier: FloatArray) -> _Block:
        request = (self._seed, self._rep_entropy, ids, growth_multiplier)
        return _simulate_twins(self.settings, [request])[0]


#: ``(seed, replication entropy, patient ids, growth multipliers)`` of twins to simulate.
TwinRequest = tuple[int, int, range, FloatArray]


def replication_entropy(rng: np.random.Generator) -> int:
    """The number a course reads (without consuming it) from a replication's generator."""
    state = repr(rng.bit_generator.state).encode()
    return int(hashlib.sha256(state).hexdigest()[:16], 16)


def prefetch_twins(
    settings: TwinCourseSettings,
    courses: Sequence[tuple[int, int, FloatArray]],
    cache: MutableMapping[tuple[int, int, int], Any],
) -> int:
    """Simulate in one batch the twins that courses will ask ``cache`` for and it lacks.

    A run of many hospitals (or replications) over the same days asks for a few new
    twins each; integrating them together costs little more than integrating one
    hospital's (the integration's cost is mostly per step, not per twin).

    Parameters
    ----------
    settings
        The courses' settings (the same for all).
    courses
        ``(seed, replication_entropy(course generator), growth multipliers (n,))`` of
        each :class:`TwinCourse` that will run with ``twin_cache=cache``.
    cache
        The courses' twin cache; completed in place.

    Returns
    -------
    int
        Twins simulated.
    """
    size = settings.block_size
    requests: list[TwinRequest] = []
    where: list[tuple[tuple[int, int, int], _Block | None]] = []
    for seed, entropy, growth in courses:
        growth = _multipliers(growth)
        for b in range(-(-growth.size // size)):
            key, wanted = (seed, entropy, b), growth[b * size : (b + 1) * size]
            cached: _Block | None = cache.get(key)
            if cached is not None:
                n = min(cached.size, wanted.size)
                if not np.array_equal(cached.growth_multiplier[:n], wanted[:n]):
                    cached = None
            have = 0 if cached is None else cached.size
            if have >= wanted.size:
                continue
            ids = range(b * size + have, b * size + wanted.size)
            requests.append((seed, entropy, ids, wanted[have:]))
            where.append((key, cached))
    for (key, cached), block in zip(where, _simulate_twins(settings, requests), strict=True):
        cache[key] = block if cached is None else cached.joined(block)
    return sum(len(r[2]) for r in requests)


def _simulate_twins(settings: TwinCourseSettings, requests: Sequence[TwinRequest]) -> list[_Block]:
    """The twins of each request, integrated together, one block per request.

    Twins go through in chunks of at most :data:`_CHUNK_TWINS`: the NEWS2 scores hold a
    few arrays of ``(twins, grid)`` (about 1 MB per twin at the default grid).
    """
    if not requests:
        return []
    rows = [(seed, entropy, i) for seed, entropy, ids, _ in requests for i in ids]
    growth = np.concatenate([np.asarray(r[3], dtype=float) for r in requests])
    parts = [
        _simulate_rows(settings, rows[a : a + _CHUNK_TWINS], growth[a : a + _CHUNK_TWINS])
        for a in range(0, len(rows), _CHUNK_TWINS)
    ]
    every = _Block(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))
    bounds = np.cumsum([0] + [len(r[2]) for r in requests])
    return [
        _Block(*(getattr(every, f)[a:b] for f in _FIELDS)) for a, b in itertools.pairwise(bounds)
    ]


#: Most twins integrated and scored at once.
_CHUNK_TWINS = 128


def _simulate_rows(
    settings: TwinCourseSettings, rows: Sequence[tuple[int, int, int]], growth: FloatArray
) -> _Block:
    """Twins ``(seed, replication entropy, patient id)`` with their growth multipliers."""
    s = settings
    grid = np.arange(0.0, s.horizon_hours + 0.5 * s.step_hours, s.step_hours)
    gens = [np.random.default_rng(np.random.SeedSequence(list(row))) for row in rows]
    z = np.array([g.standard_normal(4) for g in gens]).reshape(len(gens), 4)
    x0, theta = twin_initial_state(s, z[:, 0], z[:, 1], growth)
    states, _ = integrate_twins(x0, theta, s)
    assert states is not None
    deterioration = _first_crossing(grid, states[:, :, _D], s.deterioration_damage)
    death = _first_crossing(grid, states[:, :, _D], s.death_damage)
    resolved = _resolution_hours(states, s, grid)
    total, single_3 = _scores(states, z[:, 2:], gens, s)
    return _Block(deterioration, death, resolved, total, single_3, np.asarray(growth, float))


def _resolution_hours(states: FloatArray, s: TwinCourseSettings, grid: FloatArray) -> FloatArray:
    settled = _settled(states, s)
    unsettled = ~settled
    last = states.shape[1] - 1 - np.argmax(unsettled[:, ::-1], axis=1)
    never_unsettled = ~unsettled.any(axis=1)
    hours = grid[np.minimum(last + 1, grid.size - 1)]
    hours = np.where(never_unsettled, 0.0, hours)
    return np.where(settled[:, -1], hours, math.inf)


def _scores(
    states: FloatArray,
    offsets: FloatArray,
    gens: list[np.random.Generator],
    settings: TwinCourseSettings,
) -> tuple[npt.NDArray[np.int8], BoolArray]:
    n, t = states.shape[:2]
    act = states[:, :, _N] / (states[:, :, _N] + 0.1)
    shock = np.clip(states[:, :, _D] / settings.shock_damage, 0.0, 1.0)
    noise = np.stack([g.standard_normal((6, t)) for g in gens], axis=1)  # (6, n, t)
    table = np.asarray(SMITH_SBP_TABLE_MM_HG)
    sbp = np.interp(shock, np.linspace(0.0, 1.0, table.size), table)
    confused = noise[5] < _probit(0.7 * np.clip(2.0 * (shock - 0.5), 0.0, 1.0))
    vitals = Vitals(
        respiratory_rate_per_min=_flat(np.clip(15 + 6 * act + 10 * shock + 1.5 * noise[0], 4, 60)),
        spo2_percent=_flat(np.clip(97.5 - 7 * shock + noise[1], 50, 100)),
        spo2_scale=np.ones(n * t, dtype=np.int64),
        on_oxygen=_flat(shock > 0.5).astype(np.bool_),
        systolic_bp_mm_hg=_flat(np.clip(sbp + 10 * offsets[:, 1:2] + 8 * noise[2], 40, 250)),
        heart_rate_per_min=_flat(
            np.clip(75 + 20 * act + 30 * shock + 8 * offsets[:, 0:1] + 2.5 * noise[3], 30, 220)
        ),
        consciousness=_flat(confused).astype(np.int64),
        temperature_c=_flat(np.clip(36.8 + 1.8 * act + 0.3 * noise[4], 34, 42)),
    )
    scores = news2(vitals)
    return (
        scores.total.reshape(n, t).astype(np.int8),
        scores.any_single_3.reshape(n, t).copy(),
    )


def twin_initial_state(
    settings: TwinCourseSettings,
    z_load: FloatArray,
    z_growth: FloatArray,
    growth_multiplier: FloatArray | float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    """Initial states and parameters of twins from their standard-normal draws.

    ``P(0) = pathogen_median * exp(pathogen_sigma * z_load)`` and ``k_pg =
    growth_median * exp(growth_sigma * z_growth) * growth_multiplier``; the other
    parameters are Table 1's, ``N*(0) = D(0) = 0`` and ``CA(0) = s_c / mu_c``.

    Returns
    -------
    x0 : ndarray, shape (n, 4)
    theta : ndarray, shape (n, n_parameters)

    Examples
    --------
    >>> x0, theta = twin_initial_state(TwinCourseSettings(), np.zeros(2), np.zeros(2), 2.0)
    >>> x0[:, 0].tolist(), theta[:, Inflammation.parameter_index("k_pg")].tolist()
    ([0.4, 0.4], [0.6, 0.6])
    """
    s = settings
    z_load = np.asarray(z_load, dtype=float).reshape(-1)
    n = z_load.size
    theta = reynolds_nominal_parameters().to_matrix(n).copy()
    growth = s.growth_median * np.exp(s.growth_sigma * np.asarray(z_growth, dtype=float))
    theta[:, Inflammation.parameter_index("k_pg")] = growth * growth_multiplier
    x0 = np.zeros((n, 4))
    x0[:, _P] = s.pathogen_median * np.exp(s.pathogen_sigma * z_load)
    x0[:, 3] = (
        theta[:, Inflammation.parameter_index("s_c")]
        / theta[:, Inflammation.parameter_index("mu_c")]
    )
    return x0, theta


def integrate_twins(
    x0: FloatArray, theta: FloatArray, settings: TwinCourseSettings, *, keep_states: bool = True
) -> tuple[FloatArray | None, BoolArray]:
    """RK4 of independent twins on the grid ``0, step_hours, ..., horizon_hours``.

    Every 24 h of twin time, a twin that has settled (pathogen, damage and phagocytes
    below their ``resolved_*`` levels) or reached ``death_damage`` is frozen: its state is
    held from then on and it is no longer integrated. Each twin's course therefore
    depends on its own parameters only, not on the twins integrated with it.

    Parameters
    ----------
    x0 : ndarray, shape (n, 4)
    theta : ndarray, shape (n, n_parameters)
    settings
        Step, horizon and the levels above.
    keep_states
        Return the states on the grid (else only who died: far less memory).

    Returns
    -------
    states : ndarray, shape (n, T, 4), or None
    died : ndarray of bool, shape (n,)
        Whether damage reached ``death_damage`` at a grid time.

    Examples
    --------
    >>> s = TwinCourseSettings(horizon_hours=240.0)
    >>> x0, theta = twin_initial_state(s, np.array([0.0, 3.0]), np.zeros(2))
    >>> states, died = integrate_twins(x0, theta, s)
    >>> states.shape, died.tolist()
    ((2, 961, 4), [False, True])
    """
    s, h = settings, settings.step_hours
    n_steps = np.arange(0.0, s.horizon_hours + 0.5 * h, h).size
    x = np.array(x0, dtype=float, copy=True)
    n = x.shape[0]
    out = np.empty((n, n_steps, 4)) if keep_states else None
    if out is not None:
        out[:, 0] = x
    peak = np.zeros(n)  # highest damage on the grid, per twin
    # The active twins' states and parameters, compacted only when some freeze.
    rows, xa, ta = np.arange(n), x, np.asarray(theta, dtype=float)
    peak_a, u = xa[:, _D].copy(), np.zeros((n, 1))
    check_every = max(1, int(24.0 / h))
    for k in range(1, n_steps):
        if not rows.size:
            break
        k1 = inflammation_rhs(xa, u, ta)
        k2 = inflammation_rhs(xa + 0.5 * h * k1, u, ta)
        k3 = inflammation_rhs(xa + 0.5 * h * k2, u, ta)
        k4 = inflammation_rhs(xa + h * k3, u, ta)
        xa = xa + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        np.maximum(peak_a, xa[:, _D], out=peak_a)
        if out is not None:
            out[rows, k] = xa
        if k % check_every == 0:
            done = _settled(xa, s) | (xa[:, _D] >= s.death_damage)
            if done.any():
                if out is not None:
                    out[rows[done], k + 1 :] = xa[done][:, None, :]
                peak[rows[done]] = peak_a[done]
                keep = ~done
                rows, xa, ta, peak_a = rows[keep], xa[keep], ta[keep], peak_a[keep]
                u = u[: rows.size]
    peak[rows] = peak_a
    return out, peak >= s.death_damage


def _settled(x: FloatArray, s: TwinCourseSettings) -> BoolArray:
    return np.asarray(
        (x[..., _P] < s.resolved_pathogen)
        & (x[..., _D] < s.resolved_damage)
        & (x[..., _N] < s.resolved_phagocytes)
    )


def _multipliers(values: FloatArray) -> FloatArray:
    out = np.asarray(values, dtype=float).reshape(-1)
    if not (np.isfinite(out) & (out > 0)).all():
        raise InvalidParameterError(
            "growth_multiplier must be finite and > 0 for every patient; got "
            f"{out[~(np.isfinite(out) & (out > 0))][:3].tolist()}"
        )
    return out


def _flat(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return np.ascontiguousarray(a).reshape(-1)


def _probit(p: FloatArray) -> FloatArray:
    """Standard normal quantile of ``p`` (0 -> -inf), so ``z < probit(p)`` has chance ``p``."""
    return np.asarray(ndtri(p))


def _first_crossing(grid: FloatArray, values: FloatArray, level: float) -> FloatArray:
    """First time each row reaches ``level``, linearly interpolated (inf: never)."""
    above = values >= level
    k = np.argmax(above, axis=1)
    hit = above.any(axis=1)
    out = np.full(values.shape[0], math.inf)
    rows = np.flatnonzero(hit)
    for i in rows:
        j = int(k[i])
        if j == 0:
            out[i] = 0.0
            continue
        v0, v1 = values[i, j - 1], values[i, j]
        out[i] = grid[j - 1] + (grid[j] - grid[j - 1]) * (level - v0) / (v1 - v0)
    return out
