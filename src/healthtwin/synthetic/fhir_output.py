"""Synthetic patients as FHIR R4 Bundles, every resource flagged as synthetic.

The records are written by :func:`healthtwin.interop.fhir_bundle.patients_to_bundle`; this
module adds what marks them as not real. FHIR's security-labels page lists ``HTEST``
("test health data") of the v3 ActReason code system for data that are not about real
people; we write it both as a security label (``meta.security``, where FHIR defines it)
and as a tag (``meta.tag``, which servers index and search with ``_tag``). A deceased
patient carries ``deceasedDateTime``.

At scale (thousands of patients, millions of CGM readings) a Bundle of pydantic models
does not fit: :func:`write_synthetic_ndjson` writes FHIR Bulk Data NDJSON instead
(``Patient.ndjson``, ``Observation.ndjson``..., one resource per line), appending, so it
is called chunk by chunk, from the plain dictionaries of the interop layer's ``*_json``
writers (:mod:`healthtwin.interop.fhir_records`), flagged exactly as
:func:`synthetic_bundle` flags them. A deterministic sample (the first resource of each
type in each call and every ``validate_sample``-th resource) is validated by the R4B
models and must dump back to the very same JSON; the full equality is the oracle test of
``tests/synthetic/test_bulk_output.py``. :class:`SyntheticBundleFile` streams the same
dictionaries into one collection Bundle (``bundle.json``) for small runs. Writing costs
about 24 us of CPU per resource against 1.5 ms through one validated Bundle; 10,000
patients of 30 days (1.2 million resources, 936 MB) took 88 s of CPU, simulation
included, and 320 MiB at most (the table is in :mod:`healthtwin.cli.synth`).

Gap-filled CGM values (:func:`~healthtwin.synthetic.fill_cgm_gaps`) are written by
:func:`gap_fill_observations` in the interop layer's imputed encoding
(:mod:`healthtwin.interop.fhir_imputed`): preliminary Observations whose value is the
estimate, tagged forecast (so that readers that know nothing of imputation never take
them for measurements) and :data:`IMPUTED_TAG`, with the predictive variance and band in
an extension. The Bundle reader maps them back to imputed records
(``PatientData.imputed_observations``) with the same values, flags and variances, so the
uncertainty travels with the value into later predictions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from healthtwin.errors import InvalidParameterError, ResourceValidationError, ValidationIssue
from healthtwin.interop.codes import LOINC, vital
from healthtwin.interop.fhir_bundle import full_url, patients_to_bundle
from healthtwin.interop.fhir_checks import validate_resource
from healthtwin.interop.fhir_imputed import IMPUTED_TAG as IMPUTED_CODING
from healthtwin.interop.fhir_json import build_resource, dump_resource, resource_class
from healthtwin.interop.fhir_records import (
    condition_json,
    encounter_json,
    fhir_instant,
    medication_json,
    observation_from_record,
    observation_json,
    patient_json,
)
from healthtwin.interop.records import Coding, Imputation, ObservationRecord
from healthtwin.synthetic.longitudinal import SyntheticPatient

if TYPE_CHECKING:
    from healthtwin.synthetic import CgmGapFill

__all__ = [
    "GAP_FILL_METHOD",
    "IMPUTED_TAG",
    "NDJSON_TYPES",
    "SYNTHETIC_TAG",
    "SyntheticBundleFile",
    "gap_fill_observations",
    "gap_fill_records",
    "is_flagged_synthetic",
    "synthetic_bundle",
    "synthetic_resources",
    "write_synthetic_ndjson",
]
#: Tag of a value estimated to fill a gap (healthtwin's output-kind code system).
IMPUTED_TAG: dict[str, str] = {"system": IMPUTED_CODING.system, "code": IMPUTED_CODING.code}
#: ``method`` of the imputations written for gap-filled CGM readings.
GAP_FILL_METHOD = "healthtwin-cgm-gap-smoother"

#: The coding that marks a resource as synthetic (test health data).
SYNTHETIC_TAG: dict[str, str] = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
    "code": "HTEST",
    "display": "test health data",
}


def _flag(resource: dict[str, Any]) -> None:
    meta = resource.setdefault("meta", {})
    for key in ("tag", "security"):
        codings = meta.setdefault(key, [])
        if not any(c.get("code") == SYNTHETIC_TAG["code"] for c in codings):
            codings.append(dict(SYNTHETIC_TAG))


def synthetic_bundle(
    patients: Sequence[SyntheticPatient],
    type: Literal["collection", "transaction"] = "collection",
) -> Bundle:
    """One Bundle with every record of ``patients``, each resource flagged synthetic.

    Raises
    ------
    ResourceValidationError
        If a record cannot be written as valid FHIR (every issue listed).

    Examples
    --------
    >>> import numpy as np
    >>> from healthtwin.synthetic.longitudinal import (
    ...     LongitudinalConfig, generate_patients)
    >>> from healthtwin.synthetic.demographics import sample_demographics
    >>> demo = sample_demographics(2, np.random.default_rng(0), diabetes_prevalence=0.0)
    >>> pats = generate_patients(demo, config=LongitudinalConfig(follow_up_days=30))
    >>> bundle = synthetic_bundle(pats)
    >>> all(is_flagged_synthetic(e.resource) for e in bundle.entry)
    True
    """
    plain = patients_to_bundle([p.data for p in patients], type, check=False)
    data = plain.model_dump(mode="json", by_alias=True, exclude_none=True)
    deaths = {p.data.patient.id: p.deceased for p in patients if p.deceased is not None}
    for entry in data.get("entry", []):
        resource = entry["resource"]
        _flag(resource)
        if resource["resourceType"] == "Patient" and resource["id"] in deaths:
            resource["deceasedDateTime"] = deaths[resource["id"]].isoformat()
    _flag(data)
    return validate_resource(build_resource(Bundle, data))


#: The resource types of the NDJSON files (one ``<type>.ndjson`` each).
NDJSON_TYPES = (
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationAdministration",
    "MedicationRequest",
)


def synthetic_resources(patient: SyntheticPatient) -> Iterator[dict[str, Any]]:
    """The FHIR JSON of one patient's resources, flagged, in Bundle order (not validated).

    The Patient (with ``deceasedDateTime`` when dead), then its encounters, conditions,
    observations and medications: the resources of :func:`synthetic_bundle`, as the
    validated Bundle dumps them.

    Examples
    --------
    >>> import numpy as np
    >>> from healthtwin.synthetic.longitudinal import LongitudinalConfig, generate_patients
    >>> from healthtwin.synthetic.demographics import sample_demographics
    >>> demo = sample_demographics(1, np.random.default_rng(0), diabetes_prevalence=0.0)
    >>> [pat] = generate_patients(demo, config=LongitudinalConfig(follow_up_days=30))
    >>> first = next(synthetic_resources(pat))
    >>> first["resourceType"], is_flagged_synthetic(first)
    ('Patient', True)
    """
    data = patient.data
    head = patient_json(data.patient)
    if patient.deceased is not None:
        head["deceasedDateTime"] = fhir_instant(patient.deceased)
    writers: tuple[tuple[Sequence[Any], Callable[[Any], dict[str, Any]]], ...] = (
        (data.encounters, encounter_json),
        (data.conditions, condition_json),
        (data.observations, observation_json),
        (data.medications, medication_json),
    )
    _flag(head)
    yield head
    for records, write in writers:
        for record in records:
            resource = write(record)
            _flag(resource)
            yield resource


def _checked(resource: dict[str, Any]) -> None:
    """Validate ``resource`` with the R4B model; it must dump back to the same JSON."""
    rtype = str(resource["resourceType"])
    dumped = dump_resource(build_resource(resource_class(rtype), resource))
    if dumped != resource:
        path = f"{rtype}/{resource.get('id')}"
        message = (
            f"{path}: the bulk writer's JSON differs from the validated resource's; this is "
            "a bug in healthtwin.interop.fhir_records (its *_json writers), please report it"
        )
        raise ResourceValidationError(
            message, (ValidationIssue(path=path, message=message, code="invariant"),)
        )


def write_synthetic_ndjson(
    patients: Sequence[SyntheticPatient],
    directory: str | Path,
    *,
    validate_sample: int = 1000,
) -> dict[str, int]:
    """Append ``patients`` as FHIR Bulk Data NDJSON files, one resource per line.

    Each resource goes to ``directory/<resourceType>.ndjson`` (created when missing,
    appended to otherwise, so a large run is written chunk by chunk; remove the files
    first to start afresh). Resources are the flagged dictionaries of
    :func:`synthetic_resources`, written without a model each; a deterministic sample is
    validated by the R4B models and must dump back to the same JSON.

    Parameters
    ----------
    patients
        The patients of this chunk.
    directory
        Output folder (created if needed).
    validate_sample
        Validate the first resource of each type in this call and every
        ``validate_sample``-th resource (counted in this call); 0 validates none, 1 all.

    Returns
    -------
    dict of str to int
        Lines written per resource type in this call.

    Raises
    ------
    InvalidParameterError
        If ``validate_sample`` is negative.
    ResourceValidationError
        If a sampled resource is not valid FHIR R4 or does not dump back to what was
        written (lines before it are already written).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from healthtwin.synthetic.longitudinal import LongitudinalConfig, generate_patients
    >>> from healthtwin.synthetic.demographics import sample_demographics
    >>> demo = sample_demographics(2, np.random.default_rng(0), diabetes_prevalence=0.0)
    >>> pats = generate_patients(demo, config=LongitudinalConfig(follow_up_days=30))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     counts = write_synthetic_ndjson(pats, folder)
    ...     lines = (Path(folder) / "Patient.ndjson").read_text().splitlines()
    >>> counts["Patient"], len(lines)
    (2, 2)
    """
    if validate_sample < 0:
        raise InvalidParameterError(
            f"validate_sample must be 0 (none), 1 (all) or more, got {validate_sample}"
        )
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    handles: dict[str, IO[str]] = {}
    index = 0
    try:
        for patient in patients:
            for resource in synthetic_resources(patient):
                rtype = str(resource["resourceType"])
                first = rtype not in counts
                if validate_sample and (first or index % validate_sample == 0):
                    _checked(resource)
                if rtype not in handles:
                    handles[rtype] = (target / f"{rtype}.ndjson").open("a", encoding="utf-8")
                handles[rtype].write(_line(resource))
                counts[rtype] = counts.get(rtype, 0) + 1
                index += 1
    finally:
        for handle in handles.values():
            handle.close()
    return counts


def _line(resource: dict[str, Any]) -> str:
    return json.dumps(resource, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"


class SyntheticBundleFile:
    """One collection Bundle written entry by entry: the JSON of :func:`synthetic_bundle`.

    Use as a context manager; :meth:`add` each chunk of patients. The file is closed (and
    its JSON completed) on leaving the block. Keep it for small runs: readers refuse a
    Bundle of more than 100,000 entries by default (about 500 synthetic patients).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from healthtwin.interop.fhir_json import parse_resource
    >>> from healthtwin.synthetic.longitudinal import LongitudinalConfig, generate_patients
    >>> from healthtwin.synthetic.demographics import sample_demographics
    >>> demo = sample_demographics(2, np.random.default_rng(0), diabetes_prevalence=0.0)
    >>> pats = generate_patients(demo, config=LongitudinalConfig(follow_up_days=30))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with SyntheticBundleFile(Path(folder) / "bundle.json") as bundle:
    ...         bundle.add(pats[:1])
    ...         bundle.add(pats[1:])
    ...     parsed = parse_resource((Path(folder) / "bundle.json").read_bytes())
    >>> parsed.model_dump(mode="json", by_alias=True, exclude_none=True) == (
    ...     synthetic_bundle(pats).model_dump(mode="json", by_alias=True, exclude_none=True))
    True
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.n_entries = 0
        self._handle: IO[str] | None = None
        self._meta: dict[str, Any] = {}
        _flag({"meta": self._meta})

    def __enter__(self) -> SyntheticBundleFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("w", encoding="utf-8")
        return self

    def add(self, patients: Sequence[SyntheticPatient]) -> None:
        """Append the entries of ``patients`` (their resources in Bundle order)."""
        if self._handle is None:
            raise InvalidParameterError("SyntheticBundleFile.add needs the `with` block open")
        for patient in patients:
            for resource in synthetic_resources(patient):
                url = full_url(str(resource["resourceType"]), str(resource["id"]))
                entry = json.dumps(
                    {"fullUrl": url, "resource": resource},
                    ensure_ascii=False,
                    allow_nan=False,
                    separators=(",", ":"),
                )
                if self.n_entries == 0:
                    head = {"resourceType": "Bundle", "meta": self._meta, "type": "collection"}
                    self._handle.write(json.dumps(head, separators=(",", ":"))[:-1])
                    self._handle.write(',"entry":[')
                else:
                    self._handle.write(",")
                self._handle.write(entry)
                self.n_entries += 1

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        with handle:
            if self.n_entries:
                handle.write("]}")
            else:
                head = {"resourceType": "Bundle", "meta": self._meta, "type": "collection"}
                handle.write(json.dumps(head, separators=(",", ":")))


def is_flagged_synthetic(resource: Any) -> bool:
    """Whether a resource (model or JSON dict) carries the synthetic tag in ``meta.tag``."""
    if not isinstance(resource, dict):
        resource = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
    tags = resource.get("meta", {}).get("tag", [])
    return any(
        t.get("system") == SYNTHETIC_TAG["system"] and t.get("code") == SYNTHETIC_TAG["code"]
        for t in tags
    )


def gap_fill_observations(
    patient_id: str,
    start: datetime,
    fill: CgmGapFill,
    t_min: Sequence[float],
    row: int = 0,
    *,
    model_version: str = "1",
) -> list[Observation]:
    """The filled CGM values of one twin (row ``row``) as flagged FHIR Observations.

    One preliminary Observation (LOINC 99504-3, mg/dL) per imputed reading, written from
    :func:`gap_fill_records` by the interop layer's Observation writer: tagged forecast
    and :data:`IMPUTED_TAG`, with the predictive variance and band in the
    :data:`~healthtwin.interop.fhir_imputed.IMPUTATION_URL` extension, so that
    :func:`~healthtwin.interop.fhir_bundle.bundle_to_patients` reads them back as
    imputed records with their uncertainty.

    Parameters
    ----------
    patient_id
        Logical id of the Patient.
    start
        Time of ``t_min = 0`` (timezone-aware).
    fill
        The gap fill.
    t_min
        Reading times in minutes, shape ``(T,)``.
    row
        Which twin of ``fill``.
    model_version
        Version of the smoother, written in the imputation's ``method``.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from healthtwin.synthetic import CgmGapFill
    >>> fill = CgmGapFill(np.array([[100.0, 110.0]]), np.array([[False, True]]),
    ...     np.array([[100.0, 110.0]]), np.array([[0.0, 64.0]]), np.array([[0.0, 97.0]]),
    ...     np.array([[0.0, 123.0]]), 0.9)
    >>> [obs] = gap_fill_observations("p1", datetime(2025, 1, 1, tzinfo=UTC), fill, [0, 5])
    >>> [t.code for t in obs.meta.tag], float(obs.valueQuantity.value)
    (['forecast', 'imputed'], 110.0)
    """
    records = gap_fill_records(patient_id, start, fill, t_min, row, model_version=model_version)
    return [validate_resource(observation_from_record(r)) for r in records]


def gap_fill_records(
    patient_id: str,
    start: datetime,
    fill: CgmGapFill,
    t_min: Sequence[float],
    row: int = 0,
    *,
    model_version: str = "1",
) -> list[ObservationRecord]:
    """The filled CGM values of one twin as imputed records (parameters as
    :func:`gap_fill_observations`).

    Each record's value is the smoothed mean clipped into its band; its
    :class:`~healthtwin.interop.records.Imputation` holds the predictive variance of a
    reading, the band at ``fill.level`` and the method
    ``healthtwin-cgm-gap-smoother/<model_version>``. Ids are ``<patient>-cgm-imputed-<i>``
    (``i`` the reading's index on the grid).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from healthtwin.synthetic import CgmGapFill
    >>> fill = CgmGapFill(np.array([[100.0, 110.0]]), np.array([[False, True]]),
    ...     np.array([[100.0, 110.0]]), np.array([[0.0, 64.0]]), np.array([[0.0, 97.0]]),
    ...     np.array([[0.0, 123.0]]), 0.9)
    >>> [record] = gap_fill_records("p1", datetime(2025, 1, 1, tzinfo=UTC), fill, [0, 5])
    >>> record.id, record.imputation.variance, record.imputed
    ('p1-cgm-imputed-1', 64.0, True)
    """
    spec = vital("cgm_glucose_mass")
    minutes = np.asarray(t_min, dtype=np.float64)
    out = []
    for i in np.flatnonzero(fill.imputed[row]):
        lower, upper = float(fill.lower_mg_dl[row, i]), float(fill.upper_mg_dl[row, i])
        out.append(
            ObservationRecord(
                id=f"{patient_id}-cgm-imputed-{int(i)}",
                patient_id=patient_id,
                code=Coding(system=LOINC, code=spec.code, display=spec.display),
                effective=start + timedelta(minutes=float(minutes[i])),
                value=float(np.clip(fill.mean_mg_dl[row, i], lower, upper)),
                unit=spec.unit,
                status="preliminary",
                category=spec.category,
                imputation=Imputation(
                    variance=float(fill.variance_mg_dl2[row, i]),
                    lower=lower,
                    upper=upper,
                    level=float(fill.level),
                    method=f"{GAP_FILL_METHOD}/{model_version}",
                ),
            )
        )
    return out
