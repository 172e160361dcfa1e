"""A virtual cohort's specification, read from YAML and validated.

.. code-block:: yaml

    name: t1d-adults
    inclusion: {age_years: [18, 75], sex: any, diabetes: true}
    age_pyramid: {edges: [18, 40, 65, 75], weights: [0.4, 0.4, 0.2]}
    targets:
      female_fraction: 0.45
      age_years: {mean: 42, sd: 14}
      bmi_kg_m2: {mean: 26.5, sd: 4.5}
      hba1c_percent: {mean: 8.0, sd: 1.3}
      prevalence: {hypertension: 0.25}
    physiology: {basal_glucose_mg_dl: 120, cv: {Vmx: 0.3, kp3: 0.25}}

Targets are the published summary statistics the cohort must reproduce; ``age_pyramid``
(plain numbers, e.g. a region's population pyramid) shapes the sampled ages before
matching.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from healthtwin.errors import InvalidInputError

__all__ = [
    "AgePyramid",
    "CohortSpec",
    "Inclusion",
    "MeanSd",
    "PhysiologyPriors",
    "Targets",
    "load_cohort_spec",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MeanSd(_Frozen):
    """A target distribution summarised by its mean and standard deviation."""

    mean: float
    sd: float = Field(gt=0)


class Inclusion(_Frozen):
    """Who may enter the cohort."""

    age_years: tuple[float, float] = (18.0, 90.0)
    sex: Literal["any", "female", "male"] = "any"
    diabetes: bool | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Inclusion:
        lo, hi = self.age_years
        if not 0 <= lo < hi <= 120:
            raise ValueError(f"inclusion.age_years must be 0 <= low < high <= 120, got {lo, hi}")
        return self


class AgePyramid(_Frozen):
    """Age bin edges (years) and the share of people in each bin."""

    edges: tuple[float, ...]
    weights: tuple[float, ...]

    @model_validator(mode="after")
    def _shape(self) -> AgePyramid:
        if len(self.edges) != len(self.weights) + 1 or any(
            b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)
        ):
            raise ValueError("age_pyramid needs increasing edges and one weight per bin")
        if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise ValueError("age_pyramid weights must be non-negative with a positive sum")
        return self


class Targets(_Frozen):
    """Summary statistics the matched cohort must reproduce."""

    female_fraction: float | None = Field(default=None, ge=0, le=1)
    age_years: MeanSd | None = None
    bmi_kg_m2: MeanSd | None = None
    hba1c_percent: MeanSd | None = None
    prevalence: dict[Literal["hypertension", "diabetes"], float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _probabilities(self) -> Targets:
        bad = {k: v for k, v in self.prevalence.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"prevalences must be in [0, 1], got {bad}")
        return self


class PhysiologyPriors(_Frozen):
    """Priors of the virtual patients' physiology (see ``VirtualPopulation``)."""

    basal_glucose_mg_dl: float = Field(default=120.0, gt=40, lt=400)
    basal_cv: float = Field(default=0.1, ge=0, lt=1)
    cv: dict[str, float] | None = None


class CohortSpec(_Frozen):
    """A virtual cohort: inclusion criteria, targets, age pyramid and physiology priors."""

    name: str
    inclusion: Inclusion = Inclusion()
    targets: Targets = Targets()
    age_pyramid: AgePyramid | None = None
    physiology: PhysiologyPriors = PhysiologyPriors()
    diabetes_prevalence: float = Field(default=0.3, ge=0, le=1)


def load_cohort_spec(path: str | Path) -> CohortSpec:
    """Read and validate a YAML cohort specification.

    Raises
    ------
    InvalidInputError
        If the file is missing, is not YAML, or breaks the schema (each problem named).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
    ...     _ = fh.write("name: demo\\ntargets: {female_fraction: 0.4}\\n")
    >>> load_cohort_spec(fh.name).targets.female_fraction
    0.4
    """
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as err:
        raise InvalidInputError(f"cannot read cohort spec {file}: {err}") from err
    except yaml.YAMLError as err:
        raise InvalidInputError(f"cohort spec {file} is not valid YAML: {err}") from err
    try:
        return CohortSpec.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in err.errors()
        )
        raise InvalidInputError(f"cohort spec {file} is invalid: {problems}") from err
