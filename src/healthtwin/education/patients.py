"""The virtual patient of a case: written inline or drawn from a virtual cohort.

A case's ``patient`` block either writes the patient out (demographics, comorbidities and
responder parameters) or names a virtual cohort and a member of it::

    patient:
      model: glucose
      cohort: t1d_adults          # a packaged cohort id, or a .yaml file next to the case
      sex: female                 # a selection criterion kept in sight (pronouns follow it)
      seed: 7                     # the cohort's seed: same seed, same cohort, same patient
      select: {age_years: [65, 80], bmi_kg_m2: [18.5, 30]}
      member: 0                   # the first member matching ``select`` (default 0)
      comorbidities: [cellulitis] # added to the member's own
      parameters: {...}           # case parameters; they win over drawn ones

A cohort file (``education/cohorts/<id>.yaml``) holds a
:class:`~healthtwin.synthetic.cohort_spec.CohortSpec` under ``spec`` and the cohort's
``size``; :func:`~healthtwin.synthetic.cohort.generate_cohort` builds it (sample, check
each twin's plausibility, match the published targets by entropy balancing). At load time
the member becomes a concrete patient: age, sex, weight and height (from weight and BMI),
comorbidities (``diabetes_comorbidity`` for members with diabetes, ``hypertension``,
``obesity`` for a BMI of 30 kg/m2 or more, and the file's ``comorbidities`` drawn by age
band, each from its own named random stream), its ASA physical status
(:func:`asa_class`) and the physiology its covariates imply, mapped onto the responder
(:func:`member_parameters`, :mod:`healthtwin.education.member_physiology`): the
UVA/Padova twin's ``Vmx`` and ``kp3`` over the Dalla Man 2007 reference give the glucose
responder's ``disposal_sensitivity_factor`` and ``egp_sensitivity_factor``; age, height,
sex and hypertension give the anaesthesia responder's Schnider/Minto covariates, propofol
C50 and post-induction fall; age, sex, weight and height give the circulation's blood
volume (Nadler), size and cardiac reserve. Comorbidities then act
(:mod:`healthtwin.education.comorbidities`).

Debrief draws (:func:`draw_patients`): for an inline patient, a parameter ``<name>_cv``
states how much ``<name>`` varies between patients like this one (the responder's
``sample_parameters`` draws from it); for a cohort patient each draw is another member
matching the same selection (with its own weight, physiology and comorbidities), then the
remaining ``_cv`` spreads. Draw ``k`` uses its own random stream spawned from the seed, so
patient ``k`` is the same patient in every replay that asks for it (common random numbers:
a learner's pathway and the expert pathway are compared on the same patients).

Generating a cohort costs about a second, so the generated members are memoised per
(cohort file contents, seed): a pure function of its arguments, never mutated.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from healthtwin.education.comorbidities import apply_comorbidities, check_comorbidities
from healthtwin.education.member_physiology import covariate_parameters
from healthtwin.education.responders import canonical_kind, make_responder
from healthtwin.errors import InvalidInputError, InvalidParameterError, UnknownModelError

if TYPE_CHECKING:
    from healthtwin.education.case import Case, PatientSpec
    from healthtwin.synthetic.cohort_spec import CohortSpec

__all__ = [
    "AgeBandPrevalence",
    "CohortFile",
    "CohortMember",
    "CohortSelect",
    "CohortSource",
    "asa_class",
    "cohort_ids",
    "cohort_members",
    "draw_patients",
    "member_parameters",
    "patient_parameters",
    "resolve_cohort_patient",
    "seeded_patient_parameters",
]

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)
Finite = Annotated[float, Field(allow_inf_nan=False)]
Range = Annotated[list[Finite], Field(min_length=2, max_length=2)]
#: Dalla Man et al. 2007 reference constants the cohort's twins are drawn around.
_VMX_REF, _KP3_REF = 0.047, 0.009
_OBESITY_BMI = 30.0


class CohortSelect(BaseModel):
    """Which members of a cohort may be the case's patient: ranges ``[low, high]``
    (inclusive), a sex, whether the member has hypertension, comorbidity ids the member
    must have (``with_comorbidities``) or must not have (``without_comorbidities``)."""

    model_config = _STRICT
    age_years: Range | None = None
    sex: Literal["female", "male"] | None = None
    weight_kg: Range | None = None
    bmi_kg_m2: Range | None = None
    hba1c_percent: Range | None = None
    asa_class: Range | None = None
    hypertension: bool | None = None
    disposal_sensitivity_factor: Range | None = None
    egp_sensitivity_factor: Range | None = None
    with_comorbidities: list[str] = Field(default_factory=list)
    without_comorbidities: list[str] = Field(default_factory=list)

    @field_validator("with_comorbidities", "without_comorbidities")
    @classmethod
    def _known_ids(cls, ids: list[str]) -> list[str]:
        try:
            check_comorbidities(ids)
        except UnknownModelError as err:
            raise ValueError(str(err)) from err
        return ids

    def matches(self, member: CohortMember) -> bool:
        """Whether the member meets every criterion given."""
        own = set(member.comorbidities)
        if not own.issuperset(self.with_comorbidities) or own & set(self.without_comorbidities):
            return False
        for name in ("age_years", "weight_kg", "bmi_kg_m2", "hba1c_percent", "asa_class"):
            bounds = getattr(self, name)
            if bounds is not None and not bounds[0] <= getattr(member, name) <= bounds[1]:
                return False
        for name in ("disposal_sensitivity_factor", "egp_sensitivity_factor"):
            bounds = getattr(self, name)
            value = member.physiology.get(name, math.nan)
            if bounds is not None and not bounds[0] <= value <= bounds[1]:
                return False
        if self.sex is not None and member.sex != self.sex:
            return False
        return self.hypertension is None or member.hypertension == self.hypertension


class CohortSource(BaseModel):
    """Where a cohort patient came from (kept on the case, used for the debrief draws)."""

    model_config = _STRICT
    cohort: str = Field(min_length=1)
    path: str = Field(min_length=1)
    seed: Annotated[int, Field(ge=0)] = 0
    member: Annotated[int, Field(ge=0)] = 0
    select: CohortSelect = CohortSelect()
    row: Annotated[int, Field(ge=0)] = 0
    case_comorbidities: list[str] = Field(default_factory=list)
    drawn_parameters: list[str] = Field(default_factory=list)


class _CohortRequest(BaseModel):
    """The cohort form of a case's ``patient`` block, before resolution."""

    model_config = _STRICT
    model: str
    cohort: str = Field(min_length=1)
    sex: Literal["female", "male"] | None = None
    seed: Annotated[int, Field(ge=0)] = 0
    member: Annotated[int, Field(ge=0)] = 0
    select: CohortSelect = CohortSelect()
    comorbidities: list[str] = Field(default_factory=list)
    parameters: dict[str, Finite] = Field(default_factory=dict)


class AgeBandPrevalence(BaseModel):
    """A comorbidity's prevalence by age band: ``age_years`` edges (increasing, one more
    than the prevalences) and the ``prevalence`` in each band (0-1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    age_years: Annotated[list[Finite], Field(min_length=2)]
    prevalence: Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(min_length=1)]

    @model_validator(mode="after")
    def _bands(self) -> AgeBandPrevalence:
        edges = self.age_years
        if len(edges) != len(self.prevalence) + 1 or any(
            b <= a for a, b in itertools.pairwise(edges)
        ):
            raise ValueError(
                f"give increasing age_years edges and one prevalence per band, got edges "
                f"{edges} and prevalences {self.prevalence}"
            )
        return self

    def at(self, age_years: np.ndarray) -> np.ndarray:
        """The prevalence at each age ``(n,)`` (ages outside the edges take the end bands)."""
        band = np.searchsorted(np.asarray(self.age_years), age_years, side="right") - 1
        band = np.clip(band, 0, len(self.prevalence) - 1)
        return np.asarray(self.prevalence)[band]


class CohortFile(BaseModel):
    """A cohort file: the synthetic cohort spec (validated by ``CohortSpec``), its size,
    the comorbidity id of its members with diabetes, further comorbidities drawn by age
    band (``comorbidities``: id -> :class:`AgeBandPrevalence`) and the sources."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    description: str = Field(min_length=1)
    references: list[str] = Field(default_factory=list)
    size: Annotated[int, Field(ge=10, le=1000)] = 120
    diabetes_comorbidity: str | None = None
    comorbidities: dict[str, AgeBandPrevalence] = Field(default_factory=dict)
    spec: dict[str, Any]

    @field_validator("comorbidities")
    @classmethod
    def _known(cls, table: dict[str, AgeBandPrevalence]) -> dict[str, AgeBandPrevalence]:
        try:
            check_comorbidities(table)
        except UnknownModelError as err:
            raise ValueError(str(err)) from err
        return table


@dataclass(frozen=True)
class CohortMember:
    """One member of a generated cohort (row ``row``), ready to be a case's patient.

    ``physiology`` holds the glucose factors drawn with the member's UVA/Padova twin
    (``disposal_sensitivity_factor`` = ``Vmx / 0.047``, ``egp_sensitivity_factor`` =
    ``kp3 / 0.009``); it is empty for members without a twin (no diabetes).
    ``asa_class`` is the ASA physical status implied by the member's comorbidities
    (:func:`asa_class`).
    """

    row: int
    age_years: float
    sex: Literal["female", "male"]
    weight_kg: float
    height_cm: float
    bmi_kg_m2: float
    hba1c_percent: float
    hypertension: bool
    comorbidities: tuple[str, ...]
    physiology: Mapping[str, float]
    asa_class: int = 1


#: Comorbidities of ASA class III (severe systemic disease) and of class II (mild).
_ASA_III = frozenset({"heart_failure", "chronic_kidney_disease"})
_ASA_II = frozenset(
    {"hypertension", "obesity", "type_1_diabetes", "type_2_diabetes", "beta_blocker"}
)
_MORBID_OBESITY_BMI = 40.0


def asa_class(comorbidities: Sequence[str], bmi_kg_m2: float) -> int:
    """The ASA physical status (I-III) a member's comorbidities imply.

    After the ASA Physical Status Classification System (American Society of
    Anesthesiologists, amended 2020) and its examples: III (severe systemic disease) for
    heart failure, chronic kidney disease or a BMI of 40 kg/m2 or more; II (mild systemic
    disease) for treated hypertension, diabetes, obesity or regular beta-blocker
    treatment; I otherwise. A simplification: control and severity are not drawn.

    Examples
    --------
    >>> asa_class([], 24.0), asa_class(["hypertension"], 24.0), asa_class([], 41.0)
    (1, 2, 3)
    """
    ids = set(comorbidities)
    if ids & _ASA_III or bmi_kg_m2 >= _MORBID_OBESITY_BMI:
        return 3
    return 2 if ids & _ASA_II else 1


def cohort_ids() -> list[str]:
    """Ids of the cohorts shipped with healthtwin, sorted.

    Examples
    --------
    >>> "t1d_adults" in cohort_ids()
    True
    """
    folder = resources.files("healthtwin.education") / "cohorts"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _cohort_path(name: str, case_dir: Path | None) -> Path:
    if name.endswith((".yaml", ".yml")):
        path = Path(name) if case_dir is None else case_dir / name
        if not path.is_file():
            raise InvalidInputError(
                f"cohort file {path} does not exist; put it next to the case file or name a "
                f"packaged cohort: {cohort_ids()}"
            )
        return path
    if name not in cohort_ids():
        raise InvalidInputError(
            f"no packaged cohort {name!r}; cohorts are {cohort_ids()} (or name a .yaml file "
            "next to the case)"
        )
    return Path(str(resources.files("healthtwin.education") / "cohorts" / f"{name}.yaml"))


def cohort_members(path: str | Path, seed: int = 0) -> tuple[CohortMember, ...]:
    """Every member of the cohort in a cohort file, generated with ``seed``.

    Raises
    ------
    InvalidInputError
        If the file is missing, not YAML, or not a valid cohort (each problem named).

    Examples
    --------
    >>> members = cohort_members(_cohort_path("t1d_adults", None), seed=7)
    >>> len(members) == len(cohort_members(_cohort_path("t1d_adults", None), seed=7))
    True
    >>> members[0].comorbidities[0]
    'type_1_diabetes'
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInputError(f"cannot read cohort file {path}: {err}") from err
    try:
        _parse(text)
    except (yaml.YAMLError, ValidationError) as err:
        raise InvalidInputError(f"cohort file {path} is not a valid cohort: {err}") from err
    return _generate(text, seed)


def _parse(text: str) -> tuple[CohortFile, CohortSpec]:
    from healthtwin.synthetic.cohort_spec import CohortSpec

    cfile = CohortFile.model_validate(yaml.safe_load(text))
    return cfile, CohortSpec.model_validate(cfile.spec)


@functools.lru_cache(maxsize=16)
def _generate(text: str, seed: int) -> tuple[CohortMember, ...]:
    from healthtwin.synthetic.cohort import generate_cohort

    cfile, spec = _parse(text)
    cohort = generate_cohort(spec, cfile.size, seed=seed)
    cols = cohort.columns
    extra = _draw_comorbidities(cfile, cols["age_years"], seed)
    members = []
    for row, twin in enumerate(cohort.twins):
        weight, bmi = float(cols["body_weight_kg"][row]), float(cols["bmi_kg_m2"][row])
        diabetic, hypertensive = bool(cols["diabetes"][row]), bool(cols["hypertension"][row])
        derived = [cfile.diabetes_comorbidity] if diabetic and cfile.diabetes_comorbidity else []
        derived += ["hypertension"] if hypertensive else []
        derived += ["obesity"] if bmi >= _OBESITY_BMI else []
        derived += [cid for cid, has in extra.items() if has[row]]
        physiology = {}
        if twin is not None:
            physiology = {
                "disposal_sensitivity_factor": float(np.asarray(twin.params.Vmx)[0]) / _VMX_REF,
                "egp_sensitivity_factor": float(np.asarray(twin.params.kp3)[0]) / _KP3_REF,
            }
        members.append(
            CohortMember(
                row=row,
                age_years=round(float(cols["age_years"][row]), 1),
                sex="female" if cols["female"][row] > 0.5 else "male",
                weight_kg=round(weight, 1),
                height_cm=round(100.0 * math.sqrt(weight / bmi), 1),
                bmi_kg_m2=bmi,
                hba1c_percent=float(cols["hba1c_percent"][row]),
                hypertension=hypertensive,
                comorbidities=tuple(derived),
                physiology=physiology,
                asa_class=asa_class(derived, bmi),
            )
        )
    return tuple(members)


def _draw_comorbidities(
    cfile: CohortFile, age_years: np.ndarray, seed: int
) -> dict[str, np.ndarray]:
    """Each listed comorbidity drawn for every member ``(n,)`` at its age band's prevalence,
    from a stream of its own (named after the comorbidity) so that adding one to a cohort
    file leaves the others' draws unchanged."""
    from healthtwin.core.random import RandomStreams

    streams = RandomStreams(seed)
    return {
        cid: streams.generator(f"comorbidity:{cid}").random(age_years.size) < band.at(age_years)
        for cid, band in cfile.comorbidities.items()
    }


def member_parameters(kind: str, member: CohortMember) -> dict[str, float]:
    """The responder parameters a cohort member brings (besides ``weight_kg``).

    Glucose: the twin's insulin-sensitivity factors; anaesthesia: the Schnider/Minto
    covariates age, height and sex, the age's propofol C50 and the fall of pressure after
    induction; circulation (``sepsis``): blood volume, size-scaled capacities and the
    age's cardiac reserve (:mod:`healthtwin.education.member_physiology`).

    Examples
    --------
    >>> m = CohortMember(0, 60.0, "male", 80.0, 175.0, 26.1, 7.5, False, (), {})
    >>> {k: round(v, 2) for k, v in member_parameters("anaesthesia", m).items()}
    {'age_years': 60.0, 'height_cm': 175.0, 'male': 1.0, 'propofol_c50_scale': 0.85, \
'map_drop_scale': 1.1}
    >>> round(member_parameters("circulation", m)["blood_volume_ml_per_kg"], 1)
    64.3
    """
    if canonical_kind(kind) == "glucose":
        return dict(member.physiology)
    return covariate_parameters(
        kind, member.age_years, member.sex, member.weight_kg, member.height_cm, member.hypertension
    )


def _matching(members: Sequence[CohortMember], select: CohortSelect) -> list[CohortMember]:
    return [m for m in members if select.matches(m)]


def resolve_cohort_patient(data: Mapping[str, Any], case_dir: Path | None) -> dict[str, Any]:
    """A case's cohort ``patient`` block turned into the inline form (plus its source).

    Parameters
    ----------
    data
        The ``patient`` mapping with a ``cohort`` key.
    case_dir
        The folder of the case file (where a cohort ``.yaml`` named by the case lives).

    Returns
    -------
    dict
        ``model``, ``age_years``, ``sex``, ``weight_kg``, ``height_cm``,
        ``comorbidities``, ``parameters`` and ``cohort`` (a :class:`CohortSource` mapping).

    Raises
    ------
    ValueError
        For a malformed block, an unknown cohort, or a selection with too few members
        (pydantic reports it under ``patient``).
    """
    try:
        req = _CohortRequest.model_validate(dict(data))
    except ValidationError as err:
        text = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ValueError(f"cohort patient: {text}") from err
    if req.sex is not None:
        if req.select.sex not in (None, req.sex):
            raise ValueError(
                f"cohort patient: sex {req.sex!r} contradicts select.sex {req.select.sex!r}; "
                "give one of them"
            )
        req = req.model_copy(update={"select": req.select.model_copy(update={"sex": req.sex})})
    try:
        path = _cohort_path(req.cohort, case_dir)
        members = _matching(cohort_members(path, req.seed), req.select)
    except InvalidInputError as err:
        raise ValueError(str(err)) from err
    if req.member >= len(members):
        raise ValueError(
            f"member {req.member} asked for, but only {len(members)} member(s) of cohort "
            f"{req.cohort!r} (seed {req.seed}) match select "
            f"{req.select.model_dump(exclude_none=True)}; widen select or pick a lower member"
        )
    chosen = members[req.member]
    drawn = member_parameters(req.model, chosen)
    source = CohortSource(
        cohort=req.cohort,
        path=str(path),
        seed=req.seed,
        member=req.member,
        select=req.select,
        row=chosen.row,
        case_comorbidities=list(req.comorbidities),
        drawn_parameters=sorted(set(drawn) - set(req.parameters)),
    )
    return {
        "model": req.model,
        "age_years": chosen.age_years,
        "sex": chosen.sex,
        "weight_kg": chosen.weight_kg,
        "height_cm": chosen.height_cm,
        "comorbidities": list(dict.fromkeys([*chosen.comorbidities, *req.comorbidities])),
        "parameters": {**drawn, **req.parameters},
        "cohort": source.model_dump(),
    }


def patient_parameters(case: Case) -> dict[str, float]:
    """The nominal patient's responder parameters (``weight_kg`` included), with the
    comorbidities' factors applied.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> case = load_case("hypoglycaemia")
    >>> patient_parameters(case)["weight_kg"] == case.patient.weight_kg
    True
    """
    return spec_parameters(case.patient)


def spec_parameters(patient: PatientSpec) -> dict[str, float]:
    """:func:`patient_parameters` of a ``patient`` block."""
    base = {"weight_kg": float(patient.weight_kg), **patient.parameters}
    return apply_comorbidities(patient.model, patient.comorbidities, base)


def draw_patients(case: Case, n: int, seed: int = 0) -> list[dict[str, float]]:
    """``n`` patients drawn like the case's own: other cohort members, or ``_cv`` spreads.

    Parameters
    ----------
    case
        The case whose patient is drawn from (see the module docstring).
    n
        Number of patients (>= 1).
    seed
        Seed of the draws; draw ``k`` depends only on ``seed`` and ``k``.

    Returns
    -------
    list of dict
        One parameter mapping per patient, ready for ``Session(case, parameters=...)``.

    Raises
    ------
    InvalidParameterError
        If ``n`` < 1.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> case = load_case("hyperglycaemia_dka")
    >>> a, b = draw_patients(case, 3, seed=1), draw_patients(case, 5, seed=1)
    >>> a == b[:3]
    True
    """
    if n < 1:
        raise InvalidParameterError(f"n must be >= 1 patient, got {n}")
    responder = make_responder(case.patient.model)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]
    source = case.patient.cohort
    if source is None:
        nominal = patient_parameters(case)
        return [responder.sample_parameters(nominal, rng) for rng in streams]
    others = _other_members(case)
    out = []
    for rng in streams:
        member = others[int(rng.integers(len(others)))]
        out.append(responder.sample_parameters(_member_patient(case, member), rng))
    return out


def seeded_patient_parameters(case: Case, seed: int | None) -> dict[str, float]:
    """The patient a learner plays with ``seed`` (the ``--seed`` of the faces).

    Seed ``None`` or 0 is the case's own patient (:func:`patient_parameters`). Another seed
    is another patient like it, deterministically: for a cohort patient, member
    ``(seed - 1) mod n`` of the ``n`` other members matching the case's selection (so
    consecutive seeds give different members), with its own size, physiology and
    comorbidities and the remaining ``_cv`` spreads drawn from the seed; for an inline
    patient, the ``_cv`` spreads drawn from the seed.

    Raises
    ------
    InvalidParameterError
        If ``seed`` is negative.

    Examples
    --------
    >>> from healthtwin.education.case import load_case
    >>> case = load_case("septic_shock")
    >>> seeded_patient_parameters(case, 0) == patient_parameters(case)
    True
    >>> a, b = seeded_patient_parameters(case, 1), seeded_patient_parameters(case, 2)
    >>> a == seeded_patient_parameters(case, 1), a["weight_kg"] != b["weight_kg"]
    (True, True)
    """
    if not seed:
        return patient_parameters(case)
    if seed < 0:
        raise InvalidParameterError(f"seed must be >= 0, got {seed}")
    responder = make_responder(case.patient.model)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 16]))
    if case.patient.cohort is None:
        return responder.sample_parameters(patient_parameters(case), rng)
    others = _other_members(case)
    member = others[(int(seed) - 1) % len(others)]
    return responder.sample_parameters(_member_patient(case, member), rng)


def _source(case: Case) -> CohortSource:
    if case.patient.cohort is None:
        raise InvalidInputError(f"case {case.id!r} has no cohort patient; name a cohort")
    return case.patient.cohort


def _other_members(case: Case) -> list[CohortMember]:
    """The members matching a cohort case's selection, its own member left out."""
    source = _source(case)
    members = _matching(cohort_members(source.path, source.seed), source.select)
    return [m for m in members if m.row != source.row] or members


def _member_patient(case: Case, member: CohortMember) -> dict[str, float]:
    """A member's responder parameters, with the case's own and the comorbidities'."""
    source = _source(case)
    own = {k: v for k, v in case.patient.parameters.items() if k not in source.drawn_parameters}
    base = {"weight_kg": member.weight_kg, **member_parameters(case.patient.model, member)}
    ids = list(dict.fromkeys([*member.comorbidities, *source.case_comorbidities]))
    return apply_comorbidities(case.patient.model, ids, {**base, **own})
