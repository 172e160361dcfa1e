"""Real clinical data sets that ship inside installed packages, with their provenance.

Every entry of :data:`DATASETS` is read offline from a package of the ``ml`` extra
(scikit-learn, scikit-survival, lifelines); nothing is downloaded and no data are copied
into healthtwin. Each entry names the package it comes from, the package's licence and,
separately, the licence of the data themselves ("unstated" where neither the package nor
the original source states one), and the publication to cite.

Features come back as a :class:`pandas.DataFrame` whose categorical columns have the
``category`` dtype with string levels and whose other columns are ``float64``; survival
targets are an event indicator and a time array, regression targets a ``y`` array.
Three columns are removed on purpose: ``chapter`` of ``flchain`` (the cause of death, only
recorded for those who died, so it leaks the outcome), ``inst`` of ``lung`` (the enrolling
institution's code, not a patient attribute) and ``txgrp`` of ``aids`` (it repeats ``tx``,
the indinavir arm, except for three patients in two stavudine arms, which makes a Cox
design matrix singular).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.errors import InvalidParameterError, UnknownModelError
from healthtwin.prognosis._extras import require_ml

_PURPOSE = "healthtwin.prognosis.datasets"
try:
    import pandas as pd
except ImportError:
    require_ml("pandas", _PURPOSE)  # raises MissingDependencyError naming the extra
    raise
require_ml("sksurv.datasets", _PURPOSE)

__all__ = ["DATASETS", "Dataset", "DatasetInfo", "load_dataset"]

Kind = Literal["survival", "regression"]
#: What a loader returns: features, then time (or y), then the event indicator (or None).
_Raw = tuple["pd.DataFrame", FloatArray, BoolArray | None]

_SKSURV = "scikit-survival (GPL-3.0-or-later)"
_LIFELINES = "lifelines (MIT)"
_SKLEARN = "scikit-learn (BSD-3-Clause)"
_UNSTATED = "the data themselves: unstated"
_HOSMER = (
    "Hosmer DW, Lemeshow S, May S. Applied Survival Analysis: Regression Modeling of "
    "Time-to-Event Data, 2nd ed. Wiley (2008)"
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """One loaded data set: features, target and provenance.

    Attributes
    ----------
    name, kind : str
        Registry name; ``"survival"`` or ``"regression"``.
    features : pandas.DataFrame
        ``(n, d)`` features, categorical columns as ``category`` dtype.
    categorical : tuple of str
        Names of the categorical columns.
    time, event : ndarray or None
        ``(n,)`` follow-up time (in ``time_unit``) and event indicator, for survival data.
    y : ndarray or None
        ``(n,)`` outcome, for regression data.
    time_unit, description, source, licence, citation : str
        Provenance, copied from the registry entry.
    """

    name: str
    kind: Kind
    features: pd.DataFrame
    categorical: tuple[str, ...]
    time: FloatArray | None
    event: BoolArray | None
    y: FloatArray | None
    time_unit: str
    description: str
    source: str
    licence: str
    citation: str

    @property
    def n_patients(self) -> int:
        """Number of rows."""
        return int(self.features.shape[0])

    def survival_target(self) -> tuple[FloatArray, BoolArray]:
        """``(time, event)`` of a survival data set.

        Raises
        ------
        InvalidParameterError
            If the data set is a regression data set.
        """
        if self.time is None or self.event is None:
            raise InvalidParameterError(
                f"data set {self.name!r} is a {self.kind} data set without survival times; "
                "choose one whose kind is 'survival' (see DATASETS)"
            )
        return self.time, self.event


@dataclass(frozen=True)
class DatasetInfo:
    """Registry entry: what a data set is, where it comes from, how to load it."""

    name: str
    kind: Kind
    n_patients: int
    n_events: int | None
    time_unit: str
    description: str
    source: str
    licence: str
    citation: str
    loader: Callable[[], _Raw]


def _tidy(features: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Categorical columns with string levels, every other column as float64."""
    out = pd.DataFrame(index=pd.RangeIndex(features.shape[0]))
    categorical: list[str] = []
    for column in features.columns:
        values = features[column].reset_index(drop=True)
        if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
            levels = values.astype("category").cat.categories
            out[column] = pd.Categorical(
                values.astype(object).map(lambda v: v if pd.isna(v) else str(v)),
                categories=[str(level) for level in levels],
            )
            categorical.append(str(column))
        else:
            out[column] = values.astype(np.float64)
    return out, tuple(categorical)


def _sksurv(function: str, drop: tuple[str, ...] = (), **kwargs: str) -> Callable[[], _Raw]:
    def load() -> _Raw:
        module = require_ml("sksurv.datasets", _PURPOSE)
        features, target = getattr(module, function)(**kwargs)
        event_field, time_field = target.dtype.names
        return (
            features.drop(columns=list(drop)),
            np.asarray(target[time_field], dtype=np.float64),
            np.asarray(target[event_field], dtype=np.bool_),
        )

    return load


def _lifelines(
    function: str,
    time: str,
    event: str,
    drop: tuple[str, ...] = (),
    categorical: tuple[str, ...] = (),
) -> Callable[[], _Raw]:
    def load() -> _Raw:
        frame = getattr(require_ml("lifelines.datasets", _PURPOSE), function)()
        features = frame.drop(columns=[time, event, *drop])
        for column in categorical:
            features[column] = features[column].astype("Int64").astype(str).astype("category")
        return (
            features,
            frame[time].to_numpy(dtype=np.float64),
            frame[event].to_numpy(dtype=np.float64) == 1.0,
        )

    return load


def _diabetes() -> _Raw:
    bunch = require_ml("sklearn.datasets", _PURPOSE).load_diabetes(as_frame=True, scaled=False)
    features = bunch.data.copy()
    features["sex"] = features["sex"].astype(int).astype(str).astype("category")
    return features, bunch.target.to_numpy(dtype=np.float64), None


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "diabetes",
            "regression",
            442,
            None,
            "",
            "Disease progression one year after baseline (a quantitative score) from age, "
            "sex, BMI, mean blood pressure and six serum measurements; raw, unscaled values.",
            f"{_SKLEARN}: sklearn.datasets.load_diabetes(scaled=False); originally from "
            "https://www4.stat.ncsu.edu/~boos/var.select/diabetes.html",
            f"package: {_SKLEARN}; {_UNSTATED}",
            "Efron B, Hastie T, Johnstone I, Tibshirani R. Least angle regression. "
            "Ann Stat 32(2):407-499 (2004)",
            _diabetes,
        ),
        DatasetInfo(
            "whas500",
            "survival",
            500,
            215,
            "days",
            "Worcester Heart Attack Study: death after hospital admission for acute "
            "myocardial infarction; 14 clinical features.",
            f"{_SKSURV}: sksurv.datasets.load_whas500; data of Hosmer, Lemeshow & May, from "
            "the UMass Amherst statistical data archive",
            f"package: {_SKSURV}; {_UNSTATED}",
            _HOSMER,
            _sksurv("load_whas500"),
        ),
        DatasetInfo(
            "gbsg2",
            "survival",
            686,
            299,
            "days",
            "German Breast Cancer Study Group 2: recurrence-free survival of node-positive "
            "breast cancer patients; 8 prognostic factors.",
            f"{_SKSURV}: sksurv.datasets.load_gbsg2",
            f"package: {_SKSURV}; {_UNSTATED}",
            "Schumacher M, Bastert G, Bojar H, et al. Randomized 2 x 2 trial evaluating "
            "hormonal treatment and the duration of chemotherapy in node-positive breast "
            "cancer patients. J Clin Oncol 12:2086-2093 (1994)",
            _sksurv("load_gbsg2"),
        ),
        DatasetInfo(
            "veterans",
            "survival",
            137,
            128,
            "days",
            "Veterans' Administration lung cancer trial: death after standard or test "
            "chemotherapy; 6 features.",
            f"{_SKSURV}: sksurv.datasets.load_veterans_lung_cancer",
            f"package: {_SKSURV}; {_UNSTATED}",
            "Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data, "
            "2nd ed. Wiley (2002)",
            _sksurv("load_veterans_lung_cancer"),
        ),
        DatasetInfo(
            "aids",
            "survival",
            1151,
            96,
            "days",
            "AIDS Clinical Trials Group study 320 (indinavir added to two nucleoside "
            "analogues): time to an AIDS-defining event or death; 10 features ('txgrp', "
            "which repeats 'tx', is removed).",
            f"{_SKSURV}: sksurv.datasets.load_aids(endpoint='aids'); data of Hosmer, "
            "Lemeshow & May",
            f"package: {_SKSURV}; {_UNSTATED}",
            "Hammer SM, Squires KE, Hughes MD, et al. A controlled trial of two nucleoside "
            "analogues plus indinavir in persons with HIV infection and CD4 cell counts of "
            f"200 per cubic millimeter or less. N Engl J Med 337:725-733 (1997); {_HOSMER}",
            _sksurv("load_aids", drop=("txgrp",), endpoint="aids"),
        ),
        DatasetInfo(
            "flchain",
            "survival",
            7874,
            2169,
            "days",
            "Serum free light chain assay of Olmsted County residents: death; 8 features "
            "('chapter', the cause of death, is removed because it leaks the outcome).",
            f"{_SKSURV}: sksurv.datasets.load_flchain",
            f"package: {_SKSURV}; {_UNSTATED}",
            "Dispenzieri A, Katzmann JA, Kyle RA, et al. Use of nonclonal serum "
            "immunoglobulin free light chains to predict overall survival in the general "
            "population. Mayo Clin Proc 87(6) (2012), doi:10.1016/j.mayocp.2012.03.009",
            _sksurv("load_flchain", drop=("chapter",)),
        ),
        DatasetInfo(
            "breast_cancer",
            "survival",
            198,
            51,
            "days",
            "TRANSBIG node-negative breast cancer: time to distant metastasis from 76 gene "
            "expression levels, age, tumour size, grade and oestrogen receptor status.",
            f"{_SKSURV}: sksurv.datasets.load_breast_cancer; NCBI GEO series GSE7390",
            f"package: {_SKSURV}; {_UNSTATED}",
            "Desmedt C, Piette F, Loi S, et al. Strong time dependence of the 76-gene "
            "prognostic signature for node-negative breast cancer patients in the TRANSBIG "
            "multicenter independent validation series. Clin Cancer Res 13:3207-3214 (2007)",
            _sksurv("load_breast_cancer"),
        ),
        DatasetInfo(
            "lung",
            "survival",
            228,
            165,
            "days",
            "North Central Cancer Treatment Group advanced lung cancer: death, with "
            "performance scores, calories and weight loss (has missing values; "
            "'inst', the institution code, is removed).",
            f"{_LIFELINES}: lifelines.datasets.load_lung (the R survival package's 'lung')",
            f"package: {_LIFELINES}; {_UNSTATED}",
            "Loprinzi CL, Laurie JA, Wieand HS, et al. Prospective evaluation of prognostic "
            "variables from patient-completed questionnaires. J Clin Oncol 12:601-607 (1994)",
            _lifelines("load_lung", "time", "status", drop=("inst",), categorical=("sex",)),
        ),
        DatasetInfo(
            "rossi",
            "survival",
            432,
            114,
            "weeks",
            "Not clinical: re-arrest of released prisoners, half given financial aid. Kept "
            "because lifelines documents its Cox fit on it, a reference for ours.",
            f"{_LIFELINES}: lifelines.datasets.load_rossi",
            f"package: {_LIFELINES}; {_UNSTATED}",
            "Rossi PH, Berk RA, Lenihan KJ. Money, Work, and Crime: Some Experimental "
            "Results. Academic Press (1980)",
            _lifelines("load_rossi", "week", "arrest"),
        ),
    )
}


def load_dataset(name: str) -> Dataset:
    """Load a registered data set.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.

    Returns
    -------
    Dataset
        Features, target and provenance.

    Raises
    ------
    UnknownModelError
        If ``name`` is not registered; the message lists the valid names.

    Examples
    --------
    >>> data = load_dataset("veterans")
    >>> data.features.shape, int(data.event.sum()), data.time_unit
    ((137, 6), 128, 'days')
    >>> data.categorical
    ('Celltype', 'Prior_therapy', 'Treatment')
    >>> load_dataset("whas")
    Traceback (most recent call last):
    ...
    healthtwin.errors.UnknownModelError: unknown data set 'whas'; choose one of ...
    """
    if name not in DATASETS:
        raise UnknownModelError(
            f"unknown data set {name!r}; choose one of {', '.join(sorted(DATASETS))}"
        )
    info = DATASETS[name]
    raw_features, values, event = info.loader()
    features, categorical = _tidy(raw_features)
    survival = info.kind == "survival"
    return Dataset(
        name=info.name,
        kind=info.kind,
        features=features,
        categorical=categorical,
        time=values if survival else None,
        event=event if survival else None,
        y=None if survival else values,
        time_unit=info.time_unit,
        description=info.description,
        source=info.source,
        licence=info.licence,
        citation=info.citation,
    )
