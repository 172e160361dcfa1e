"""Comorbidities that act: each known id multiplies some responder parameters.

The table is the package data file ``education/data/comorbidities.yaml``: for every
comorbidity id a description, its references and, per responder kind, the factors it
applies. A factor multiplies a responder parameter whose name ends in ``_factor`` (its
neutral value, and every responder's default, is 1), after the case's own parameters:

=========================  ============  =================================  ==========
comorbidity                responder     parameter                          factor
=========================  ============  =================================  ==========
chronic_kidney_disease     glucose       ``insulin_clearance_factor``       0.6
heart_failure              sepsis        ``cardiac_reserve_factor``         0.6
beta_blocker               sepsis        ``hr_response_factor``             0.4
obesity                    glucose       ``insulin_sensitivity_factor``     0.8
=========================  ============  =================================  ==========

Directions follow the cited sources (Rabkin et al., Diabetologia 27:351, 1984 and Rave et
al., Diabetes Care 24:886, 2001 for the slower renal clearance of insulin; the 2021 ESC
heart-failure guidelines, McDonagh et al., Eur Heart J 42:3599, for the lower cardiac
reserve; ATLS 10th edition, 2018, for the tachycardia beta-blockers blunt; Kahn et al.,
Nature 444:840, 2006, for the insulin resistance of obesity); the sizes are teaching
calibrations. Other known ids (``hypertension``, ``type_1_diabetes``...) change no
parameter; an unknown id is refused with the list of known ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

import yaml

from healthtwin.education.responders import canonical_kind
from healthtwin.errors import InvalidInputError, UnknownModelError

__all__ = [
    "Comorbidity",
    "apply_comorbidities",
    "check_comorbidities",
    "comorbidity_ids",
    "load_comorbidities",
]

# libyaml when available: the pure-Python parser costs about 0.1 s per file.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Comorbidity:
    """One comorbidity and what it changes.

    Attributes
    ----------
    id : str
        The id a case lists under ``patient.comorbidities``.
    description : str
        What it is and what it does to the physiology (for authors, not learners).
    modifiers : Mapping[str, Mapping[str, float]]
        Responder kind -> parameter -> multiplicative factor.
    references : tuple of str
        The sources of each modifier's direction.
    """

    id: str
    description: str
    modifiers: Mapping[str, Mapping[str, float]]
    references: tuple[str, ...]


def load_comorbidities() -> Mapping[str, Comorbidity]:
    """The comorbidity table shipped with the package, by id.

    Raises
    ------
    InvalidInputError
        If the table is malformed (a factor that is not positive, or a parameter whose
        name does not end in ``_factor``).

    Examples
    --------
    >>> table = load_comorbidities()
    >>> dict(table["chronic_kidney_disease"].modifiers["glucose"])
    {'insulin_clearance_factor': 0.6}
    """
    path = resources.files("healthtwin.education") / "data" / "comorbidities.yaml"
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    table: dict[str, Comorbidity] = {}
    for key, row in raw["comorbidities"].items():
        modifiers: dict[str, Mapping[str, float]] = {}
        for kind, factors in (row.get("modifiers") or {}).items():
            for name, factor in factors.items():
                if not name.endswith("_factor") or not float(factor) > 0:
                    raise InvalidInputError(
                        f"comorbidities.yaml: {key}.{kind}.{name}={factor!r}; modifiers must "
                        "be positive factors on parameters named '<...>_factor'"
                    )
            modifiers[str(kind)] = MappingProxyType({str(n): float(f) for n, f in factors.items()})
        table[str(key)] = Comorbidity(
            id=str(key),
            description=str(row["description"]).strip(),
            modifiers=MappingProxyType(modifiers),
            references=tuple(str(r) for r in row.get("references") or ()),
        )
    return MappingProxyType(table)


def comorbidity_ids() -> tuple[str, ...]:
    """The known comorbidity ids, sorted.

    Examples
    --------
    >>> "heart_failure" in comorbidity_ids()
    True
    """
    return tuple(sorted(load_comorbidities()))


def check_comorbidities(ids: Iterable[str]) -> None:
    """Refuse unknown comorbidity ids.

    Raises
    ------
    UnknownModelError
        Naming the unknown ids and listing the known ones.

    Examples
    --------
    >>> check_comorbidities(["obesity"])
    >>> check_comorbidities(["gout"])
    Traceback (most recent call last):
    ...
    healthtwin.errors.UnknownModelError: unknown comorbidity id(s) ['gout']; known ids: ...
    """
    known = comorbidity_ids()
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UnknownModelError(
            f"unknown comorbidity id(s) {unknown}; known ids: {', '.join(known)} "
            "(add one to education/data/comorbidities.yaml with its modifiers and sources)"
        )


def apply_comorbidities(
    kind: str, comorbidities: Iterable[str], parameters: Mapping[str, float]
) -> dict[str, float]:
    """The responder parameters with every comorbidity's factors applied.

    Parameters
    ----------
    kind
        The responder kind (``"glucose"``, ``"sepsis"``...; an alias such as
        ``"circulation"`` counts as its kind): only its modifiers apply.
    comorbidities
        Comorbidity ids (each must be known).
    parameters
        The patient's parameters; a factor missing from them starts at its neutral 1.

    Returns
    -------
    dict
        A new mapping; factors of several comorbidities on one parameter multiply.

    Raises
    ------
    UnknownModelError
        If an id is unknown (the known ones are listed).

    Examples
    --------
    >>> apply_comorbidities("glucose", ["chronic_kidney_disease", "obesity"],
    ...                     {"weight_kg": 90.0, "insulin_sensitivity_factor": 0.5})
    {'weight_kg': 90.0, 'insulin_sensitivity_factor': 0.4, 'insulin_clearance_factor': 0.6}
    """
    ids = list(comorbidities)
    check_comorbidities(ids)
    table = load_comorbidities()
    out = {k: float(v) for k, v in parameters.items()}
    canonical = canonical_kind(kind)
    for cid in ids:
        for name, factor in table[cid].modifiers.get(canonical, {}).items():
            out[name] = out.get(name, 1.0) * factor
    return out
