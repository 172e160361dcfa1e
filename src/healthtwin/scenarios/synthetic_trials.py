"""In-silico trials on a virtual cohort file: two insulin therapies, common random numbers.

:func:`load_arm` reads a treatment arm from YAML (an :class:`ArmSpec`: a name and the
factors of :class:`~healthtwin.synthetic.trial.InsulinTherapy` on each twin's own basal
rate and meal boluses). :func:`run_cohort_trial` reads a cohort written by
``healthtwin synth cohort`` (its table and the twins' parameters beside it,
:func:`~healthtwin.synthetic.cohort.read_cohort`), runs both arms on its members with
diabetes (the others have no insulin to change) with the same meals and sensor noise
(:func:`~healthtwin.synthetic.trial.run_trial`), and :func:`write_trial` writes the effect
of B - A on each outcome, with its interval, as JSON and CSV, and each patient's outcomes.

.. code-block:: yaml

    name: intensified
    basal_factor: 1.0
    bolus_factor: 1.3
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from healthtwin.errors import InvalidInputError
from healthtwin.synthetic.cohort import read_cohort
from healthtwin.synthetic.trial import InsulinTherapy, TrialResult, run_trial

__all__ = ["ArmSpec", "CohortTrial", "load_arm", "run_cohort_trial", "write_trial"]


class ArmSpec(BaseModel):
    """One arm: its name and the insulin factors applied to each twin's usual therapy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    basal_factor: float = Field(default=1.0, ge=0)
    bolus_factor: float = Field(default=1.0, ge=0)

    def therapy(self) -> InsulinTherapy:
        """The arm as a treatment for :func:`~healthtwin.synthetic.trial.run_trial`."""
        return InsulinTherapy(basal_factor=self.basal_factor, bolus_factor=self.bolus_factor)


def load_arm(path: Path) -> ArmSpec:
    """Read an arm from YAML.

    Raises
    ------
    InvalidInputError
        A missing file, YAML that does not parse, or fields that break :class:`ArmSpec`.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "arm.yaml"
    >>> _ = path.write_text("name: more bolus\\nbolus_factor: 1.3\\n")
    >>> load_arm(path).therapy()
    InsulinTherapy(basal_factor=1.0, bolus_factor=1.3)
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InvalidInputError(f"cannot read the arm {path}: {err}") from err
    except yaml.YAMLError as err:
        raise InvalidInputError(f"the arm {path} is not valid YAML: {err}") from err
    try:
        return ArmSpec.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in err.errors()
        )
        raise InvalidInputError(
            f"the arm {path} is invalid: {problems} (give name, basal_factor, bolus_factor)"
        ) from err


@dataclass(frozen=True)
class CohortTrial:
    """A trial run on a cohort file.

    Attributes
    ----------
    arm_a, arm_b
        The arms (the effect is B - A).
    member_rows, twins
        Cohort rows and twin names of the patients in the trial, each ``(k,)``.
    result
        Per-patient outcomes and effects.
    days, seed, level
        Simulated days, root seed and the intervals' coverage.
    """

    arm_a: ArmSpec
    arm_b: ArmSpec
    member_rows: tuple[int, ...]
    twins: tuple[str, ...]
    result: TrialResult
    days: int
    seed: int
    level: float


def run_cohort_trial(
    cohort: Path,
    arm_a: ArmSpec,
    arm_b: ArmSpec,
    *,
    days: int = 2,
    seed: int = 0,
    level: float = 0.95,
) -> CohortTrial:
    """Run both arms on the cohort's members with diabetes; estimate B - A.

    Raises
    ------
    InvalidInputError
        No cohort file or twins beside it, or fewer than two members with a twin.
    """
    found = read_cohort(cohort)
    rows = tuple(i for i, t in enumerate(found.twins) if t is not None)
    if len(rows) < 2:
        raise InvalidInputError(
            f"{cohort} has {len(rows)} member(s) with diabetes (a twin); a trial needs at "
            "least 2: generate a cohort with diabetes (inclusion diabetes: true)"
        )
    patients = [found.twins[i] for i in rows]
    result = run_trial(
        [p for p in patients if p is not None],
        arm_a.therapy(),
        arm_b.therapy(),
        days=days,
        seed=seed,
        level=level,
    )
    names = tuple(p.name for p in patients if p is not None)
    return CohortTrial(arm_a, arm_b, rows, names, result, days, seed, level)


def write_trial(trial: CohortTrial, out: Path) -> tuple[Path, Path, Path]:
    """Write ``trial.json`` (arms, effects with intervals), ``effects.csv`` and
    ``outcomes.csv`` (each patient's outcomes per arm) into the folder ``out``.

    Returns
    -------
    tuple of Path
        The JSON, the effects CSV and the outcomes CSV.
    """
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    effects = [asdict(e) for e in trial.result.effects]
    document = {
        "arm_a": trial.arm_a.model_dump(),
        "arm_b": trial.arm_b.model_dump(),
        "effect": "B - A, paired (common random numbers), Student-t interval",
        "patients": len(trial.member_rows),
        "days": trial.days,
        "seed": trial.seed,
        "level": trial.level,
        "effects": effects,
    }
    summary = out / "trial.json"
    summary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    table = out / "effects.csv"
    pd.DataFrame(effects).to_csv(table, index=False)
    per_patient = pd.DataFrame({"member_row": trial.member_rows, "twin": trial.twins})
    for arm, values in trial.result.outcomes.items():
        for outcome, column in values.items():
            per_patient[f"{outcome}_{arm}"] = np.asarray(column)
    outcomes = out / "outcomes.csv"
    per_patient.to_csv(outcomes, index=False)
    return summary, table, outcomes
