"""A patient's recorded readings replayed into a twin, from CSV files.

``healthtwin patient sync`` and ``healthtwin patient recommend`` read a patient's record as
CSV files: readings (``t_min`` and columns named after the model's outputs: CGM
``glucose_mg_dl`` or declared ``glucose_mmol_l``, laboratory plasma glucose and insulin,
drug concentrations, BIS, bedside vitals), meals, insulin, NONMEM-style dosing and fluids.
This module reads and checks them (errors name the file, line and column), builds the
:class:`~healthtwin.coupling.patient_sync.TwinRecipe` of one of three kinds of twin (a
UVA/Padova glucose twin, a PK/PD drug twin, the Smith 2004 circulation twin) and runs the
ensemble Kalman filter over the readings (:func:`prepare_sync`, then :meth:`SyncRun.run`).

A gap-filled CGM series (``synth fill-gaps`` output, :mod:`healthtwin.scenarios.imputed_readings`)
is read with its flags: estimates are assimilated with the sensor's error widened by their
variance, measurements as any reading.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from healthtwin.assimilation import ObservationSeries
from healthtwin.core import Events, Inputs, Rate
from healthtwin.core.types import BoolArray, FloatArray
from healthtwin.coupling.patient_sync import (
    CIRCULATION_ESTIMABLE,
    DEFAULT_NOISE,
    GLUCOSE_ALIASES,
    GLUCOSE_STATES,
    SyncedTwin,
    TwinRecipe,
    sync_twin,
)
from healthtwin.errors import InvalidInputError
from healthtwin.physiology.circulation import SmithCVS
from healthtwin.physiology.hovorka import MG_DL_PER_MMOL_L
from healthtwin.physiology.patients import load_patient
from healthtwin.physiology.pkpd import PKPD_MODELS, make_pkpd_model
from healthtwin.physiology.pkpd.covariates import parse_covariates
from healthtwin.physiology.pkpd.dosing import read_dosing_csv, split_at_resets
from healthtwin.physiology.uva_padova import UvaPadova

__all__ = [
    "DRUG_MODELS",
    "GLUCOSE_MG_DL_COLUMNS",
    "SyncRun",
    "fluid_inputs",
    "glucose_inputs",
    "noise_sds",
    "parameter_estimates",
    "prepare_sync",
    "read_columns",
    "read_observations",
    "tracking_warning",
    "twin_recipe",
]

#: The drug (PK/PD) models a twin can be built on.
DRUG_MODELS: tuple[str, ...] = tuple(PKPD_MODELS)
#: Reading columns in mg/dL, checked for a plausible range.
GLUCOSE_MG_DL_COLUMNS = ("glucose_mg_dl", "plasma_glucose_mg_dl")


def read_columns(
    path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, FloatArray]:
    """Numeric columns of a CSV file; errors name the file, row and column."""
    if not path.is_file():
        raise InvalidInputError(f"no file at {path}; give the path of a CSV file")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise InvalidInputError(f"{path}: missing column(s) {missing}; found {header}")
        columns: dict[str, list[float]] = {c: [] for c in (*required, *optional) if c in header}
        for row_number, row in enumerate(reader, start=2):
            for name, values in columns.items():
                text = (row.get(name) or "").strip()
                try:
                    values.append(float(text) if text else float("nan"))
                except ValueError as err:
                    raise InvalidInputError(
                        f"{path}, line {row_number}, column {name}: {text!r} is not a number"
                    ) from err
    return {k: np.asarray(v) for k, v in columns.items()}


def read_observations(path: Path, outputs: tuple[str, ...]) -> tuple[ObservationSeries, list[str]]:
    """Readings in columns named after model outputs (glucose_mmol_l is converted)."""
    if not path.is_file():
        raise InvalidInputError(f"no file at {path}; give the path of a CSV file")
    with path.open(newline="") as fh:
        header = next(csv.reader(fh), [])
    accepted = set(outputs) | ({"glucose_mmol_l"} if "glucose_mg_dl" in outputs else set())
    extra = [c for c in header if c != "t_min" and c not in accepted]
    if extra:
        raise InvalidInputError(
            f"{path}: column(s) {extra} are not outputs of the model; reading columns are "
            f"{', '.join(sorted(accepted))} (glucose in mg/dL as glucose_mg_dl, or declared "
            "mmol/L as glucose_mmol_l)"
        )
    cols = read_columns(path, ("t_min",), tuple(sorted(accepted)))
    if "glucose_mmol_l" in cols:
        if "glucose_mg_dl" in cols:
            raise InvalidInputError(f"{path}: give glucose_mg_dl or glucose_mmol_l, not both")
        cols["glucose_mg_dl"] = cols.pop("glucose_mmol_l") * MG_DL_PER_MMOL_L  # declared unit
    names = [o for o in outputs if o in cols]
    if not names:
        raise InvalidInputError(
            f"{path}: no reading column; give one or more of {', '.join(sorted(accepted))}"
        )
    for name in GLUCOSE_MG_DL_COLUMNS:
        present = cols.get(name, np.array([]))
        present = present[np.isfinite(present)]
        if present.size and (present.min() < 10 or present.max() > 1000):
            raise InvalidInputError(
                f"{path}: {name} readings {present.min():g}-{present.max():g} are not mg/dL; "
                "name the column glucose_mmol_l if they are in mmol/L"
            )
    for name in names:
        if np.any(cols[name] < 0):
            raise InvalidInputError(f"{path}: {name} has negative readings")
    values = np.stack([cols[n] for n in names], axis=1)
    return ObservationSeries(cols["t_min"], values), names


def glucose_inputs(meals: Path | None, insulin: Path | None, basal_u_per_min: float) -> Inputs:
    """Meals and insulin of a glucose twin from CSV files (default: steady basal insulin).

    Examples
    --------
    >>> plan = glucose_inputs(None, None, 0.0139)
    >>> sorted(plan.rates), sorted(plan.events)
    (['insulin_u_per_min'], [])
    """
    events: dict[str, Events] = {}
    rates: dict[str, Rate] = {}
    if meals is not None:
        m = read_columns(meals, ("t_min", "carbs_g"))
        if np.any(~np.isfinite(m["carbs_g"])) or np.any(m["carbs_g"] < 0):
            raise InvalidInputError(f"{meals}: carbs_g must be numbers >= 0")
        events["meal_g"] = Events(m["t_min"], m["carbs_g"])
    if insulin is None:
        rates["insulin_u_per_min"] = Rate.constant(basal_u_per_min, 0.0)
    else:
        ins = read_columns(insulin, ("t_min",), ("insulin_u_per_min", "bolus_u"))
        if "insulin_u_per_min" in ins:
            rates["insulin_u_per_min"] = Rate(ins["t_min"], np.nan_to_num(ins["insulin_u_per_min"]))
        else:
            rates["insulin_u_per_min"] = Rate.constant(basal_u_per_min, 0.0)
        if "bolus_u" in ins:
            events["bolus_u"] = Events(ins["t_min"], np.nan_to_num(ins["bolus_u"]))
    return Inputs(rates=rates, events=events)


def fluid_inputs(fluids: Path | None) -> Inputs:
    """Fluid boluses and infusions of a circulation twin from a CSV file (none by default).

    Examples
    --------
    >>> dict(fluid_inputs(None).events)
    {}
    """
    if fluids is None:
        return Inputs()
    cols = read_columns(fluids, ("t_min",), ("fluid_bolus_ml", "fluid_infusion_ml_per_min"))
    events, rates = {}, {}
    if "fluid_bolus_ml" in cols:
        events["fluid_bolus_ml"] = Events(cols["t_min"], np.nan_to_num(cols["fluid_bolus_ml"]))
    if "fluid_infusion_ml_per_min" in cols:
        infusion = np.nan_to_num(cols["fluid_infusion_ml_per_min"])
        rates["fluid_infusion_ml_per_min"] = Rate(cols["t_min"], infusion)
    if not events and not rates:
        raise InvalidInputError(
            f"{fluids}: give fluid_bolus_ml and/or fluid_infusion_ml_per_min columns"
        )
    return Inputs(rates=rates, events=events)


def twin_recipe(
    model: str,
    patient: str,
    meals: Path | None,
    insulin: Path | None,
    covariates: str | None,
    dosing: Path | None,
    fluids: Path | None,
) -> TwinRecipe:
    """What a sync needs to know about the twin of ``model`` built from the patient's files.

    A glucose twin corrects the glucose and insulin states and may estimate ``si`` and
    ``egp``; a drug twin corrects every compartment and may estimate its PK/PD constants
    (those of the model that are not zero); the circulation twin corrects parameters only
    (its beat-resolved states re-equilibrate within beats).

    Raises
    ------
    InvalidInputError
        For an input that does not belong to ``model``, a drug model without dosing or with
        a reset (EVID 3/4), or a model no twin is built on.

    Examples
    --------
    >>> recipe = twin_recipe("uva-padova", "adolescent#001", None, None, None, None, None)
    >>> sorted(recipe.estimable)[:2]
    ['egp', 'si']
    """
    rng = np.random.default_rng(0)
    if fluids is not None and model != "cvs-smith":
        raise InvalidInputError("--fluids applies to --model cvs-smith only")
    if model == "cvs-smith":
        if any(x is not None for x in (meals, insulin, covariates, dosing)):
            raise InvalidInputError(
                "--model cvs-smith takes --fluids; --meals, --insulin, --covariates and "
                "--dosing belong to other models"
            )
        circulation = SmithCVS()
        estimable = {n: (n, 1e-3, 1e4) for n in CIRCULATION_ESTIMABLE}
        # Parameters only: the beat-resolved states re-equilibrate within beats.
        return TwinRecipe(circulation, fluid_inputs(fluids), (), estimable)
    if model == "uva-padova":
        if covariates is not None or dosing is not None:
            raise InvalidInputError("--covariates and --dosing apply to drug models only")
        person = load_patient(patient)
        twin_model = UvaPadova([person])
        return TwinRecipe(
            twin_model,
            glucose_inputs(meals, insulin, person.basal_u_per_min),
            GLUCOSE_STATES,
            dict(GLUCOSE_ALIASES),
        )
    if model in PKPD_MODELS:
        if meals is not None or insulin is not None:
            raise InvalidInputError("--meals and --insulin apply to --model uva-padova only")
        if dosing is None:
            raise InvalidInputError(f"--model {model} needs --dosing (NONMEM-style CSV)")
        drug = make_pkpd_model(model, None if covariates is None else parse_covariates(covariates))
        parts = split_at_resets(read_dosing_csv(dosing))
        if len(parts) > 1:
            raise InvalidInputError(
                f"{dosing}: EVID 3/4 resets start a new patient state; sync one part at a time"
            )
        reference = drug.initial_state(1, rng)
        names = ("v1_l", "k10", "k12", "k21", "k13", "k31", "ka", "ke0", "ec50", "gamma")
        estimable = {}
        for name in names:
            value = float(reference.theta[0, drug.parameter_index(name)])
            if value > 0:
                estimable[name] = (name, value / 1e3, value * 1e3)
        return TwinRecipe(drug, drug.inputs_from_records(parts[0][1]), None, estimable)
    raise InvalidInputError(
        f"patient sync supports --model uva-padova, cvs-smith and {', '.join(PKPD_MODELS)}, "
        f"not {model}"
    )


def tracking_warning(report: Any, noise_sd: Sequence[float]) -> str | None:
    """A warning when the twin's ensemble is too narrow to follow its readings, else None.

    When the posterior band of an output stays narrower than twice its reading noise SD
    while the readings sit further than three noise SDs from the twin (root mean square),
    the filter's gain is near zero: the readings are "assimilated" but hardly move the
    twin (typically a glucose twin at steady basal with one estimated parameter, whose
    members all predict the same glucose until a meal).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> filtered = np.zeros((5, 1, 4)); filtered[:, 0, :3] = [149.0, 150.0, 151.0]
    >>> narrow = SimpleNamespace(observed=np.full((5, 1), 96.0), filtered=filtered,
    ...                          outputs=("glucose_mg_dl",))
    >>> tracking_warning(narrow, [8.0]).startswith("glucose_mg_dl: the twin")
    True
    """
    observed = np.asarray(report.observed, dtype=float)
    filtered = np.asarray(report.filtered, dtype=float)
    out = []
    for j, name in enumerate(report.outputs):
        seen = np.isfinite(observed[:, j])
        if seen.sum() < 3:
            continue
        miss = float(np.sqrt(np.mean((observed[seen, j] - filtered[seen, j, 1]) ** 2)))
        width = float(np.median(filtered[seen, j, 2] - filtered[seen, j, 0]))
        sd = float(noise_sd[j])
        if miss > 3.0 * sd and width < 2.0 * sd:
            out.append(
                f"{name}: the twin stays {miss:.3g} from the readings (root mean square) with "
                f"a 90 % band only {width:.3g} wide, so the readings barely move it; estimate "
                "more parameters (e.g. --estimate si,egp) or widen --prior-cv"
            )
    return "; ".join(out) or None


def noise_sds(
    text: str | None, names: list[str], sensor_sd: float, outputs: dict[str, Any]
) -> list[float]:
    """The reading noise SD of each observed output: given, CGM ``sensor_sd``, or a default.

    Parameters
    ----------
    text
        ``"output=SD,..."`` as given, or ``None``.
    names
        The observed outputs.
    sensor_sd
        CGM noise SD, mg/dL (for ``glucose_mg_dl``).
    outputs
        The model's outputs by name (their ``unit`` is named in errors).

    Raises
    ------
    InvalidInputError
        For an SD that is not positive or names no output, or an output without a default.

    Examples
    --------
    >>> noise_sds("bis=5", ["bis"], 8.0, {"bis": None})
    [5.0]
    """
    given: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        try:
            given[key.strip()] = float(value) if sep else float("nan")
        except ValueError:
            given[key.strip()] = float("nan")
    bad = [k for k, v in given.items() if k not in outputs or not v > 0]
    if bad:
        raise InvalidInputError(
            f"--noise takes output=SD pairs with SD > 0 (outputs: {', '.join(outputs)}); "
            f"cannot use {bad}"
        )
    defaults = {"glucose_mg_dl": sensor_sd, **DEFAULT_NOISE}
    sds = []
    for name in names:
        sd = given.get(name, defaults.get(name))
        if sd is None:
            raise InvalidInputError(
                f"give the reading noise of {name} as --noise {name}=SD "
                f"(in {outputs[name].unit}); it depends on the assay or monitor"
            )
        sds.append(sd)
    return sds


@dataclass(frozen=True)
class SyncRun:
    """Checked readings and the twin they go into, ready to assimilate.

    Attributes
    ----------
    recipe
        The twin's model, inputs, corrected states and estimable parameters.
    series
        The readings: times ``(n_readings,)`` in minutes and values
        ``(n_readings, n_observed)``.
    observed
        The model outputs read, one per column of ``series.values``.
    noise_sd
        Reading noise SD of each observed output, in its unit (a measured reading's; an
        imputed one's is widened in ``series.noise_sd``).
    imputed
        Which readings are estimates, ``(n_readings,)``, for a filled series; ``None``
        for readings that are all measured.
    patient_id
        The patient read from a filled series, ``None`` otherwise.
    """

    recipe: TwinRecipe
    series: ObservationSeries
    observed: tuple[str, ...]
    noise_sd: tuple[float, ...]
    imputed: BoolArray | None = None
    patient_id: str | None = None

    def run(
        self,
        estimate: Sequence[str] = (),
        *,
        members: int = 64,
        prior_cv: float = 0.3,
        horizons: Sequence[float] = (30.0, 60.0, 120.0),
        seed: int = 0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> SyncedTwin:
        """Assimilate every reading: filtered outputs, parameters and forecasts per reading.

        ``on_progress`` is called with ``(readings assimilated, readings)`` after each
        reading; the result is the same with or without it. (Readings with their own
        noise SDs, as a filled series', are assimilated in one pass and counted once at
        the end, since the per-reading pass of
        :func:`~healthtwin.coupling.patient_sync.synchronise_counted` drops those SDs.)

        Raises
        ------
        InvalidInputError
            For fewer than 8 members, a non-positive prior CV, or a parameter that this twin
            cannot estimate (the estimable ones are listed).
        """
        per_reading = self.series.noise_sd is not None
        synced = sync_twin(
            self.recipe,
            self.series,
            list(self.observed),
            list(self.noise_sd),
            estimate=list(estimate),
            members=members,
            prior_cv=prior_cv,
            horizons=list(horizons),
            seed=seed,
            on_progress=None if per_reading else on_progress,
        )
        if per_reading and on_progress is not None:
            total = int(self.series.times.size)
            on_progress(total, total)
        return synced


def prepare_sync(
    observations: Path,
    *,
    model: str = "uva-padova",
    patient: str = "adolescent#001",
    meals: Path | None = None,
    insulin: Path | None = None,
    covariates: str | None = None,
    dosing: Path | None = None,
    fluids: Path | None = None,
    noise: str | None = None,
    sensor_sd: float = 8.0,
    patient_id: str | None = None,
) -> SyncRun:
    """Read and check a patient's files and build the twin they will be replayed into.

    Parameters
    ----------
    observations
        CSV: ``t_min`` and one or more output columns; or a filled CGM series (``synth
        fill-gaps`` output, with ``imputed`` and ``variance_mg_dl2``), whose estimates are
        assimilated with ``sqrt(sensor_sd^2 + variance)``.
    model
        ``uva-padova``, ``cvs-smith`` or a drug model (:data:`DRUG_MODELS`).
    patient
        The prior patient (UVA/Padova).
    meals, insulin
        UVA/Padova: CSV ``t_min, carbs_g``; CSV ``t_min`` with ``insulin_u_per_min`` and/or
        ``bolus_u`` (default: the patient's steady basal).
    covariates, dosing
        Drug models: ``"age=53,weight_kg=77,..."`` and NONMEM-style dosing records.
    fluids
        ``cvs-smith``: CSV ``t_min`` with ``fluid_bolus_ml`` and/or
        ``fluid_infusion_ml_per_min``.
    noise
        Reading noise SDs, ``"plasma_mg_l=0.3,bis=5"`` (defaults for monitored outputs).
    sensor_sd
        CGM noise SD, mg/dL.
    patient_id
        The patient of a filled series that holds several.

    Raises
    ------
    InvalidInputError
        For a missing or malformed file, an input that does not belong to ``model``, a
        reading column that is not a model output, a reading without a noise SD, or a
        filled series that is not sound (see
        :func:`~healthtwin.scenarios.imputed_readings.read_filled_readings`).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "cgm.csv").write_text("t_min,glucose_mg_dl\\n0,140\\n5,142\\n")
    >>> run = prepare_sync(folder / "cgm.csv")
    >>> run.observed, run.noise_sd, run.series.times.tolist()
    (('glucose_mg_dl',), (8.0,), [0.0, 5.0])
    """
    recipe = twin_recipe(model, patient, meals, insulin, covariates, dosing, fluids)
    if _is_filled(observations):
        return _filled_run(observations, recipe, noise, sensor_sd, patient_id)
    if patient_id is not None:
        raise InvalidInputError(
            f"--patient-id picks a patient of a filled series (synth fill-gaps output); "
            f"{observations} is a reading file without imputed/variance_mg_dl2 columns"
        )
    series, observed = read_observations(observations, tuple(recipe.model.outputs))
    sds = noise_sds(noise, observed, sensor_sd, dict(recipe.model.outputs))
    return SyncRun(recipe, series, tuple(observed), tuple(sds))


def _is_filled(path: Path) -> bool:
    from healthtwin.scenarios.imputed_readings import is_filled_header

    if not path.is_file():
        return False  # read_observations says so
    with path.open(newline="") as fh:
        return is_filled_header(next(csv.reader(fh), []))


def _filled_run(
    path: Path, recipe: TwinRecipe, noise: str | None, sensor_sd: float, patient_id: str | None
) -> SyncRun:
    from healthtwin.scenarios.imputed_readings import read_filled_readings

    outputs = dict(recipe.model.outputs)
    if "glucose_mg_dl" not in outputs:
        raise InvalidInputError(
            f"{path} is a filled CGM series: it goes into --model uva-padova, not a twin "
            "without CGM glucose"
        )
    observed = ["glucose_mg_dl"]
    [sd] = noise_sds(noise, observed, sensor_sd, outputs)
    readings = read_filled_readings(path, sensor_sd_mg_dl=sd, patient_id=patient_id)
    return SyncRun(
        recipe, readings.series, tuple(observed), (sd,), readings.imputed, readings.patient_id
    )


def parameter_estimates(synced: SyncedTwin) -> dict[str, dict[str, float]]:
    """The last reading's 5, 50 and 95 % quantiles of each estimated parameter, and its prior.

    Returns
    -------
    dict
        ``{name: {"p5", "p50", "p95", "prior"}}`` in the parameter's own unit.
    """
    estimates: dict[str, dict[str, float]] = {}
    for j, name in enumerate(synced.estimated):
        p5, p50, p95, _ = synced.report.parameters[-1, j]
        estimates[name] = {
            "p5": float(p5),
            "p50": float(p50),
            "p95": float(p95),
            "prior": synced.nominal[j],
        }
    return estimates
