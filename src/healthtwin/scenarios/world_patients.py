"""The admitted patients of a world's hospitals: cohorts, twins and the prognosis check.

A hospital with a ``patients:`` section admits people who are matched by age band to
members of a cohort generated once per hospital (:mod:`~healthtwin.scenarios.ages`);
with ``course: twins`` each carries a twin whose growth factor is calibrated so that
the twins of a band die at the disease's hospital fatality of that band
(:mod:`~healthtwin.coupling.twin_calibration`). After the run, each hospital's patients
are summarised by age band, and a hospital with a prognosis model (shared back by the
federation) has the model checked on its own admitted patients (:func:`prognosis_check`).

With ``share_back: triage`` the model also acts: each admitted patient's risk (from the
features of the cohort member they are matched to) is computed with their twins
(:func:`hospital_triage`, given to each hospital run) and patients above the
hospital's ``triage_threshold`` are admitted straight to the ICU
(:class:`~healthtwin.scenarios.hospital_runs.TriageOrders`); the summary's ``triage``
block counts them. Since triage then decides who reaches the ICU, :func:`prognosis_check`
scores the model against each patient's twin ICU need as if untriaged
(:attr:`~healthtwin.scenarios.hospital_runs.PatientStays.needed_icu`), and keeps the
figures against the observed route, triage's own effect included, under their own names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from healthtwin.core.random import RandomStreams
from healthtwin.core.types import FloatArray, IntArray
from healthtwin.coupling.hospital_course import (
    TwinCourseSettings,
    prefetch_twins,
    replication_entropy,
)
from healthtwin.coupling.region_hospital import HospitalRun
from healthtwin.coupling.twin_calibration import (
    TwinDeathCurve,
    calibrate_age_factors,
    covariate_multiplier,
    death_curve,
    hospital_fatality,
)
from healthtwin.errors import SolverError
from healthtwin.population.scenario import Variant
from healthtwin.population.scenario_build import parameters_for
from healthtwin.scenarios.ages import AdmittedPatients, age_band_edges
from healthtwin.scenarios.federated import icu_features
from healthtwin.scenarios.hospital_runs import (
    PatientStays,
    TriageOrders,
    summarise_stays,
)
from healthtwin.scenarios.world import CountryWorld, HospitalSite, WorldScenario
from healthtwin.synthetic.cohort import generate_cohort

__all__ = [
    "ICU_COLUMNS",
    "admitted_patients",
    "auroc",
    "hospital_triage",
    "patients_summary",
    "prefetch_world_twins",
    "prognosis_check",
    "triage_columns",
    "triage_orders",
    "twin_growth",
    "twin_settings",
    "world_seed",
]


def world_seed(streams: RandomStreams, name: str) -> int:
    """The integer seed of the stream ``name`` under the world's seed.

    Examples
    --------
    >>> world_seed(RandomStreams(1), "a") == world_seed(RandomStreams(1), "a")
    True
    """
    return int(streams.sequence(name).generate_state(1)[0])


def twin_settings(country: CountryWorld, site: HospitalSite) -> TwinCourseSettings | None:
    spec = country.patients_of(site)
    return spec.twin.settings() if spec is not None and spec.course == "twins" else None


def admitted_patients(
    world: WorldScenario,
    country: CountryWorld,
    streams: RandomStreams,
    spec: Any,
    variant: Variant,
    inputs: Any,
) -> tuple[AdmittedPatients | None, ...]:
    """Per hospital: how its patients are matched and their twins' growth (None: no spec).

    The cohort (``cohort_size`` members) is generated once per hospital; with ``course:
    twins`` and ``twin.calibrate``, each band's factor makes the twins of the members the
    band is matched to die at the disease's hospital fatality of the band
    (:mod:`~healthtwin.coupling.twin_calibration`; one death curve per twin settings).
    """
    age_groups = inputs.geography.age_groups
    target = hospital_fatality(parameters_for(spec, variant), len(age_groups))
    edges = age_band_edges(age_groups)
    curves: dict[Any, TwinDeathCurve] = {}
    out: list[AdmittedPatients | None] = []
    for site in country.hospitals:
        patients = country.patients_of(site)
        if patients is None:
            out.append(None)
            continue
        ages = multiplier = None
        if patients.cohort_size > 0:
            cohort = generate_cohort(
                patients.cohort_spec(),
                patients.cohort_size,
                seed=world_seed(streams, f"world/{country.name}/cohort/{site.name}"),
            )
            ages = np.asarray(cohort.columns["age_years"], dtype=float)
            multiplier = covariate_multiplier(
                ages,
                *(cohort.columns.get(k) for k in ("diabetes", "hypertension")),
            )
        admitted = AdmittedPatients(
            partial(_ages_stream, streams, f"world/{country.name}/ages/{site.name}"),
            np.ones(len(age_groups)),
            ages,
            multiplier,
            edges,
        )
        if patients.course == "twins" and patients.twin.calibrate:
            settings = patients.twin.settings()
            if settings not in curves:
                curves[settings] = death_curve(settings)
            calibration = calibrate_age_factors(curves[settings], target, admitted.pools())
            admitted = replace(admitted, age_factor=calibration.age_factor)
        out.append(admitted)
    return tuple(out)


def _ages_stream(streams: RandomStreams, name: str, rep: int) -> np.random.Generator:
    return streams.generator(f"{name}/rep{rep}")


def twin_growth(
    country: CountryWorld,
    admitted: tuple[AdmittedPatients | None, ...],
    rep: int,
    h: int,
    by_day_band: IntArray,
) -> FloatArray | None:
    """Twin growth multipliers of hospital ``h``'s patients (None without twins)."""
    patients = admitted[h] if admitted else None
    spec = country.patients_of(country.hospitals[h])
    if patients is None or spec is None or spec.course != "twins":
        return None
    return patients.growth(*patients.match(rep, by_day_band))


def prefetch_world_twins(
    country: CountryWorld,
    streams: RandomStreams,
    admitted: tuple[AdmittedPatients | None, ...],
    ages: IntArray,
    cache: dict[tuple[int, int, int], Any],
    replicate_ids: Sequence[int] | None = None,
) -> None:
    """Integrate together the twins every hospital and replicate will ask the cache for.

    ``ages`` is ``(reps, days, A, H)``: the admissions so far, row ``i`` those of
    replicate ``replicate_ids[i]`` (default: replicate ``i``). The twins are those the
    hospital runs of :func:`~healthtwin.scenarios.run.run_world` create (same seeds,
    course streams and growth).
    """
    by_settings: dict[TwinCourseSettings, list[tuple[int, int, FloatArray]]] = {}
    for h, site in enumerate(country.hospitals):
        spec = country.patients_of(site)
        if spec is None or spec.course != "twins":
            continue
        seed = world_seed(streams, f"world/{country.name}/hospital/{site.name}")
        ids = range(ages.shape[0]) if replicate_ids is None else replicate_ids
        for i, rep in enumerate(ids):
            growth = twin_growth(country, admitted, rep, h, ages[i, :, :, h])
            if growth is None or not growth.size:
                continue
            course_rng = RandomStreams(seed).generator(f"hospital/rep{rep}/course")
            courses = by_settings.setdefault(spec.twin.settings(), [])
            courses.append((seed, replication_entropy(course_rng), growth))
    for settings, courses in by_settings.items():
        prefetch_twins(settings, courses, cache)


def triage_orders(
    site: HospitalSite,
    patients: AdmittedPatients | None,
    columns: Mapping[str, Any],
    rep: int,
    by_day_band: IntArray,
) -> TriageOrders:
    """Replicate ``rep``'s triage: each admitted patient's risk from their matched member.

    ``columns`` are the hospital cohort's columns (:data:`ICU_COLUMNS` at least) and
    ``by_day_band`` ``(days, A)`` the admissions; the patients are matched as their twins
    are (:meth:`~healthtwin.scenarios.ages.AdmittedPatients.match`).
    """
    if site.prognosis is None or site.triage_threshold is None or patients is None:
        raise SolverError(
            f"hospital {site.name!r} has no prognosis model, triage threshold or cohort to "
            "triage with; share the model back with share_back: triage first"
        )
    _, members = patients.match(rep, by_day_band)
    if members is None:
        raise SolverError(f"hospital {site.name!r}: triage needs a cohort (cohort_size > 0)")
    x = icu_features(*(np.asarray(columns[k], dtype=np.float64)[members] for k in ICU_COLUMNS))
    return TriageOrders(site.prognosis.predict(x), site.triage_threshold)


def triage_columns(
    country: CountryWorld,
    streams: RandomStreams,
    admitted: tuple[AdmittedPatients | None, ...],
) -> tuple[Mapping[str, Any] | None, ...]:
    """Per hospital, its cohort's columns when it triages by its model (None otherwise)."""
    return tuple(
        _triage_columns(country, streams, site, admitted[h] if admitted else None)
        for h, site in enumerate(country.hospitals)
    )


def hospital_triage(
    country: CountryWorld,
    admitted: tuple[AdmittedPatients | None, ...],
    columns: tuple[Mapping[str, Any] | None, ...],
    rep: int,
    h: int,
    by_day_band: IntArray,
) -> TriageOrders | None:
    """Hospital ``h``'s triage orders in replicate ``rep`` (None: it does not triage).

    ``columns`` is :func:`triage_columns`; ``by_day_band`` ``(days, A)`` the admissions.
    """
    mine = columns[h]
    if mine is None:
        return None
    return triage_orders(country.hospitals[h], admitted[h], mine, rep, by_day_band)


def _triage_columns(
    country: CountryWorld,
    streams: RandomStreams,
    site: HospitalSite,
    patients: AdmittedPatients | None,
) -> Mapping[str, Any] | None:
    spec = country.patients_of(site)
    if (
        site.prognosis is None
        or site.triage_threshold is None
        or spec is None
        or patients is None
        or patients.member_ages is None
    ):
        return None
    cohort = generate_cohort(
        spec.cohort_spec(),
        spec.cohort_size,
        seed=world_seed(streams, f"world/{country.name}/cohort/{site.name}"),
    )
    return cohort.columns


def patients_summary(
    country: CountryWorld,
    streams: RandomStreams,
    admitted: tuple[AdmittedPatients | None, ...],
    pairs: list[list[tuple[HospitalRun, PatientStays]]],
    admitted_ages: IntArray,
    age_groups: tuple[str, ...],
) -> tuple[dict[str, Any] | None, ...]:
    """Per hospital: its admitted patients' summary (None without a ``patients`` section).

    With a cohort, each admitted patient is matched to a member of the same age band
    (:mod:`~healthtwin.scenarios.ages`; ``admitted_ages`` is ``(reps, days, A, H)``), or to
    member ``p mod size`` when the age groups have no numeric bands. ``by_age_band``
    gives each band's patients, the deaths their routes end in (with twins, the twins'
    prognosis, also after the run's end), the share whose route reached the ICU, their
    mean stay in the unit they entered (hours), those triaged straight to the ICU (None
    without triage) and the twins' growth factor; ``icu_admissions_per_replicate`` counts
    the patients whose route reached the ICU in each replicate.
    """
    edges = age_band_edges(age_groups)
    out: list[dict[str, Any] | None] = []
    for h, site in enumerate(country.hospitals):
        spec = country.patients_of(site)
        patients = admitted[h] if admitted else None
        if spec is None or patients is None:
            out.append(None)
            continue
        summary: dict[str, Any] = dict(summarise_stays([row[h][1] for row in pairs], spec.course))
        matched = [patients.match(rep, admitted_ages[rep, :, :, h]) for rep in range(len(pairs))]
        bands = np.concatenate([b for b, _ in matched])
        stays = [row[h][1] for row in pairs]
        died = np.concatenate([s.died for s in stays])
        icu = np.concatenate([s.visited_icu for s in stays])
        los = np.concatenate([s.entry_los_hours for s in stays])
        triaged = np.concatenate([s.triaged for s in stays])
        summary["icu_admissions_per_replicate"] = [int(s.visited_icu.sum()) for s in stays]
        summary["by_age_band"] = {
            label: {
                "patients": int((bands == b).sum()),
                "deaths": int(died[bands == b].sum()) if died.size == bands.size else None,
                "icu_share": _share(icu, bands == b),
                "mean_entry_los_hours": _share(los, bands == b),
                "triaged": int(triaged[bands == b].sum()) if triaged.size == bands.size else None,
                "twin_growth_factor": float(patients.age_factor[b]),
            }
            for b, label in enumerate(age_groups)
        }
        if patients.member_ages is not None:
            cohort = generate_cohort(
                spec.cohort_spec(),
                spec.cohort_size,
                seed=world_seed(streams, f"world/{country.name}/cohort/{site.name}"),
            )
            member = np.concatenate([m for _, m in matched if m is not None])
            summary["admitted_cohort"] = {
                k: float(cohort.columns[k][member].mean()) if member.size else None
                for k in ("age_years", "female", "hypertension", "diabetes")
            }
            if edges is not None:
                own = np.searchsorted(edges, patients.member_ages[member], side="right") - 1
                share: float | None = float((own == bands).mean()) if bands.size else None
            else:
                share = None
            summary["admitted_cohort"]["age_band_matched_share"] = share
            if site.prognosis is not None:
                stays = [row[h][1] for row in pairs]
                summary["prognosis_check"] = prognosis_check(
                    site, cohort.columns, [m for _, m in matched], stays
                )
                if site.triage_threshold is not None and spec.course == "twins":
                    summary["triage"] = _triage_summary(site, stays)
        out.append(summary)
    return tuple(out)


def _share(values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> float | None:
    """Mean of ``values[mask]`` (None when empty or not one value per patient)."""
    if values.size != mask.size or not mask.any():
        return None
    return float(np.asarray(values[mask], dtype=float).mean())


def prognosis_check(
    site: HospitalSite,
    columns: Mapping[str, Any],
    members: list[IntArray | None],
    stays: list[PatientStays],
) -> dict[str, Any]:
    """The hospital's prognosis model on its own admitted patients, checked against them.

    Each admitted patient's ICU risk comes from the features of the cohort member they
    were matched to. The outcome it is checked against (``outcome``) is the twin's ICU
    need as if the patient were not triaged (:attr:`PatientStays.needed_icu
    <healthtwin.scenarios.hospital_runs.PatientStays>`: the twin deteriorates, the label
    the model is trained on); without twins, whether the stay reached the ICU. Both are
    free of the model's own action: with ``share_back: triage`` the patients above the
    threshold are admitted to the ICU, so whether a stay *reached* the ICU partly repeats
    the model's own prediction and checking against it flatters the model.

    Returns
    -------
    dict
        Pooled over replicates: ``patients``; ``mean_predicted_icu`` against
        ``outcome_share`` (calibration in the large), ``brier`` and ``auroc``
        (discrimination) against ``outcome``; ``needed_icu_share`` (None without twins);
        the same against the observed route, ``observed_icu_share``,
        ``brier_observed_route`` and ``auroc_observed_route``, with
        ``observed_route_includes_triage`` saying whether triage made part of it; and
        ``untriaged``: these figures on the patients triage left alone (all of them
        without triage; their risks stop at the threshold).

    Examples
    --------
    Four patients, risk rising with age; triage sends the two oldest to the ICU, but the
    twins of the second and the fourth are the ones that need it:

    >>> from types import SimpleNamespace
    >>> from healthtwin.scenarios.federated import PrognosisModel
    >>> model = PrognosisModel(version="urn:x", intercept=-2.0, coefficients=(1, 0, 0, 0, 0))
    >>> columns = {"age_years": np.array([30.0, 50.0, 70.0, 90.0]), "female": np.zeros(4),
    ...            "bmi_kg_m2": np.full(4, 26.0), "diabetes": np.zeros(4),
    ...            "hypertension": np.zeros(4)}
    >>> sent = np.array([False, False, True, True])
    >>> stays = PatientStays(np.full(4, 24.0), sent, np.zeros(4, bool), np.zeros(0, int),
    ...                      np.zeros(0, bool), 0, triaged=sent,
    ...                      needed_icu=np.array([False, True, False, True]))
    >>> check = prognosis_check(SimpleNamespace(prognosis=model), columns, [np.arange(4)],
    ...                         [stays])
    >>> check["outcome"], check["auroc"], check["auroc_observed_route"]
    ('twin_icu_need', 0.75, 1.0)
    >>> check["observed_route_includes_triage"], check["untriaged"]["patients"]
    (True, 2)
    """
    assert site.prognosis is not None
    risk: list[FloatArray] = []
    route: list[npt.NDArray[np.bool_]] = []
    triaged: list[npt.NDArray[np.bool_]] = []
    need: list[npt.NDArray[np.bool_] | None] = []
    for chosen, stay in zip(members, stays, strict=True):
        n = stay.visited_icu.size
        if chosen is None or chosen.size != n:
            continue
        x = icu_features(*(np.asarray(columns[k])[chosen] for k in ICU_COLUMNS))
        risk.append(site.prognosis.predict(x))
        route.append(np.asarray(stay.visited_icu, dtype=bool))
        need.append(np.asarray(stay.needed_icu, dtype=bool) if stay.needed_icu.size == n else None)
        triaged.append(stay.triaged if stay.triaged.size == n else np.zeros(n, dtype=bool))
    p = np.concatenate(risk) if risk else np.zeros(0)
    observed = np.concatenate(route) if route else np.zeros(0, dtype=bool)
    known = [a for a in need if a is not None]
    needed = np.concatenate(known) if need and len(known) == len(need) else None
    outcome = observed if needed is None else needed
    acted = np.concatenate(triaged).astype(bool) if triaged else np.zeros(0, dtype=bool)
    left = ~acted
    untriaged = _check_scores(p[left], outcome[left], observed[left])
    return {
        "version": site.prognosis.version,
        "outcome": "observed_route" if needed is None else "twin_icu_need",
        **_check_scores(p, outcome, observed),
        "needed_icu_share": _mean(needed) if needed is not None else None,
        "observed_route_includes_triage": bool(acted.any()),
        "untriaged": untriaged,
    }


def _check_scores(
    p: FloatArray, outcome: npt.NDArray[np.bool_], observed: npt.NDArray[np.bool_]
) -> dict[str, Any]:
    """Calibration in the large, Brier and AUROC of risks ``p`` against both outcomes."""
    return {
        "patients": int(p.size),
        "mean_predicted_icu": _mean(p),
        "outcome_share": _mean(outcome),
        "brier": _mean((p - outcome) ** 2),
        "auroc": auroc(p, outcome),
        "observed_icu_share": _mean(observed),
        "brier_observed_route": _mean((p - observed) ** 2),
        "auroc_observed_route": auroc(p, observed),
    }


def _mean(values: npt.NDArray[Any]) -> float | None:
    return float(np.mean(values)) if values.size else None


def _triage_summary(site: HospitalSite, stays: list[PatientStays]) -> dict[str, Any]:
    """Patients triaged straight to the ICU, pooled over replicates."""
    if any(s.triaged.size != s.died.size for s in stays) and site.icu_unit is not None:
        raise SolverError(
            f"hospital {site.name!r} triages by its prognosis model, but its runs were not "
            "given the triage orders; pass each run its hospital_triage(...)"
        )
    triaged = np.concatenate([s.triaged for s in stays]) if stays else np.zeros(0, bool)
    icu = np.concatenate([s.visited_icu for s in stays]) if stays else np.zeros(0, bool)
    died = np.concatenate([s.died for s in stays]) if stays else np.zeros(0, bool)
    return {
        "threshold": site.triage_threshold,
        "patients": int(triaged.size),
        "triaged": int(triaged.sum()),
        "triaged_share": float(triaged.mean()) if triaged.size else None,
        "triaged_reached_icu": int((triaged & icu).sum()) if icu.size == triaged.size else None,
        "triaged_deaths": int((triaged & died).sum()) if died.size == triaged.size else None,
    }


#: Cohort columns of the prognosis model's features, in the order of ``icu_features``.
ICU_COLUMNS = ("age_years", "female", "bmi_kg_m2", "diabetes", "hypertension")


def auroc(score: FloatArray, label: npt.NDArray[np.bool_]) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties halved); None without both classes.

    Examples
    --------
    >>> auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
    0.75
    """
    positives, negatives = int(label.sum()), int((~label).sum())
    if positives == 0 or negatives == 0:
        return None
    ranks = stats.rankdata(score)
    return float((ranks[label].sum() - positives * (positives + 1) / 2) / (positives * negatives))
