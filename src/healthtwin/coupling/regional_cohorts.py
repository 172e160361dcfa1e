"""Population -> synthetic: virtual cohorts shaped by a region's or country's demography.

A cohort specification (:class:`~healthtwin.synthetic.cohort_spec.CohortSpec`) says who is
included and which clinical targets the cohort must meet; the population layer's
:class:`~healthtwin.population.geography.Geography` says how many people of each age live
in a region (UN WPP pyramids through :func:`~healthtwin.population.demography.country_geography`,
or any geography a scenario describes). This adapter turns one into the other: the
region's people by age group, restricted to the inclusion age range (a group cut by the
range keeps the share of its width inside it, ages being uniform within a group), become
the spec's ``age_pyramid``, and the age target of the validation report becomes that
pyramid's mean and standard deviation. The spec's own age target, if any, is replaced:
the region's demography is the reference. Everything else (sex mix, BMI, HbA1c,
comorbidity prevalence, physiology priors) is kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from healthtwin.core.random import RandomStreams
from healthtwin.errors import InvalidInputError
from healthtwin.population.geography import Geography, age_group_spans
from healthtwin.synthetic.cohort import VirtualCohort, generate_cohort
from healthtwin.synthetic.cohort_spec import AgePyramid, CohortSpec, MeanSd

__all__ = ["regional_cohorts", "regional_pyramid", "regional_spec"]


def regional_pyramid(
    geography: Geography, region: str | None, age_range_years: tuple[float, float]
) -> AgePyramid:
    """People by age in ``region`` (all regions if None), cut to ``age_range_years``.

    Examples
    --------
    >>> g = Geography(regions=("a",), age_groups=("0-19", "20-59", "60+"),
    ...               population=np.array([[400.0, 400.0, 200.0]]))
    >>> p = regional_pyramid(g, "a", (18.0, 90.0))
    >>> [round(e, 1) for e in p.edges], [round(w, 1) for w in p.weights]
    ([18.0, 20.0, 60.0, 70.0], [40.0, 400.0, 200.0])
    """
    people = (
        geography.population.sum(axis=0)
        if region is None
        else geography.population[geography.index(region)]
    )
    mids, widths = age_group_spans(geography.age_groups)
    lows, highs = mids - widths / 2, mids + widths / 2
    lo, hi = age_range_years
    inside_lo, inside_hi = np.maximum(lows, lo), np.minimum(highs, hi)
    overlap = np.clip(inside_hi - inside_lo, 0.0, None) / widths
    keep = overlap > 0
    weights = people[keep] * overlap[keep]
    if not keep.any() or weights.sum() <= 0:
        where = "all regions" if region is None else f"region {region!r}"
        raise InvalidInputError(
            f"{where} has nobody aged {lo}-{hi} (age groups {geography.age_groups}); "
            "widen the cohort's inclusion.age_years or choose another region"
        )
    order = np.argsort(inside_lo[keep])
    starts, ends = inside_lo[keep][order], inside_hi[keep][order]
    edges = [float(starts[0]), *(float(e) for e in ends)]
    return AgePyramid(edges=tuple(edges), weights=tuple(float(w) for w in weights[order]))


def _moments(pyramid: AgePyramid) -> MeanSd:
    """Mean and SD of ages uniform within each bin of ``pyramid``."""
    edges = np.asarray(pyramid.edges)
    w = np.asarray(pyramid.weights) / sum(pyramid.weights)
    a, b = edges[:-1], edges[1:]
    mean = float(np.sum(w * (a + b) / 2))
    second = float(np.sum(w * (a**2 + a * b + b**2) / 3))
    return MeanSd(mean=mean, sd=float(np.sqrt(max(second - mean**2, 1e-12))))


def regional_spec(spec: CohortSpec, geography: Geography, region: str | None = None) -> CohortSpec:
    """``spec`` with the age pyramid and age target of ``region`` (all regions if None).

    Examples
    --------
    >>> g = Geography(regions=("young", "old"), age_groups=("20-39", "40-59", "60-79"),
    ...               population=np.array([[600.0, 300.0, 100.0], [100.0, 300.0, 600.0]]))
    >>> spec = CohortSpec.model_validate({"name": "adults"})
    >>> round(regional_spec(spec, g, "old").targets.age_years.mean, 1)
    60.0
    """
    pyramid = regional_pyramid(geography, region, spec.inclusion.age_years)
    targets = spec.targets.model_copy(update={"age_years": _moments(pyramid)})
    name = spec.name if region is None else f"{spec.name}-{region}"
    return spec.model_copy(update={"age_pyramid": pyramid, "targets": targets, "name": name})


def regional_cohorts(
    spec: CohortSpec,
    geography: Geography,
    n: int,
    *,
    regions: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, VirtualCohort]:
    """One matched cohort of ``n`` members per region, each shaped by its region's pyramid.

    Each region's cohort draws from its own random stream (named after the region), so
    adding a region leaves the others' cohorts unchanged.

    Raises
    ------
    InvalidInputError
        An unknown region, or a region with nobody in the inclusion age range.
    """
    chosen = list(geography.regions if regions is None else regions)
    for region in chosen:
        geography.index(region)
    streams = RandomStreams(seed)
    return {
        region: generate_cohort(
            regional_spec(spec, geography, region),
            n,
            seed=int(streams.generator(f"cohort/{region}").integers(2**31)),
        )
        for region in chosen
    }
