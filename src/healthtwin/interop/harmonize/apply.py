"""Harmonise one source: its export, read with its mapping, as patient records plus a report.

This is the function the CLI's ``healthtwin data import export.csv --mapping site.yaml``
calls: ``harmonize("export.csv", "site.yaml")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from healthtwin.errors import InvalidInputError, NotFoundError
from healthtwin.interop.harmonize.accumulate import PatientsBuilder
from healthtwin.interop.harmonize.loading import load_mapping
from healthtwin.interop.harmonize.mapping_spec import MappingSpec
from healthtwin.interop.harmonize.quality import Problem, QualityRecorder, QualityReport
from healthtwin.interop.harmonize.rows import RowMapper
from healthtwin.interop.harmonize.table import TableLike, check_columns, read_table
from healthtwin.interop.records import PatientData

__all__ = ["HarmonizedSource", "harmonize"]


@dataclass(frozen=True)
class HarmonizedSource:
    """The patients one source maps to, and the quality report of the mapping."""

    source: str
    patients: tuple[PatientData, ...]
    quality: QualityReport

    def patient(self, patient_id: str) -> PatientData:
        """One patient's data by id.

        Raises
        ------
        NotFoundError
            If the source has no such patient (the message lists the ids).
        """
        for data in self.patients:
            if data.patient.id == patient_id:
                return data
        ids = [p.patient.id for p in self.patients]
        raise NotFoundError(f"source {self.source} has no patient {patient_id!r}; ids: {ids}")


def harmonize(
    table_or_path: TableLike | None, mapping: MappingSpec | str | Path
) -> HarmonizedSource:
    """Map a source export to patient records, reporting every row that is not clean.

    Parameters
    ----------
    table_or_path
        A CSV file, a sequence of row dicts or a pandas DataFrame; ``None`` reads the
        mapping's ``data`` file.
    mapping
        A :class:`MappingSpec`, or the path of its YAML file.

    Returns
    -------
    HarmonizedSource
        ``patients`` sorted by id, each with observations in time order (values in the
        standard unit of their vital, times in UTC); ``quality`` accounts for every row.

    Raises
    ------
    InvalidInputError
        If the mapping is invalid, the table cannot be read, or it lacks a mapped column.
        Problems inside rows are never raised: they are reported in ``quality``.

    Examples
    --------
    >>> spec = MappingSpec.model_validate({
    ...     "source": "demo", "layout": "wide", "timezone": "America/New_York",
    ...     "columns": {"id": "Patient.id",
    ...                 "when": {"element": "Observation.effectiveDateTime",
    ...                          "date_format": "%m/%d/%Y %H:%M"},
    ...                 "temp": {"element": "Observation.valueQuantity.value",
    ...                          "vital": "body_temperature", "unit": "[degF]"}}})
    >>> rows = [{"id": "p1", "when": "03/12/2024 10:00", "temp": "98.6"},
    ...         {"id": "p1", "when": "03/12/2024 11:00", "temp": "986"}]
    >>> result = harmonize(rows, spec)
    >>> obs = result.patients[0].observations[0]
    >>> obs.effective.isoformat(), round(obs.value, 9), obs.unit
    ('2024-03-12T14:00:00+00:00', 37.0, 'Cel')
    >>> result.quality.count("mapped"), result.quality.rows_with("implausible")
    (1, (2,))
    """
    spec = mapping if isinstance(mapping, MappingSpec) else load_mapping(mapping)
    if table_or_path is None:
        if spec.data is None:
            raise InvalidInputError(
                f"no table given and mapping {spec.source!r} names no 'data' file; pass the "
                "export or add 'data: export.csv' to the mapping"
            )
        table_or_path = spec.data
    table = read_table(table_or_path, spec.csv)
    check_columns(table, spec.columns)
    ignored = tuple(c for c in table.columns if c not in spec.columns)
    elements = {name: column.element for name, column in spec.columns.items()}
    recorder = QualityRecorder(spec.source, elements, ignored)
    patients = PatientsBuilder()
    mapper = RowMapper(spec, patients)
    first_seen: dict[tuple[str, ...], int] = {}
    for row in table.rows:
        if row.cells is None:
            message = f"expected {len(table.columns)} fields separated by {spec.csv.delimiter!r}"
            recorder.add_row(
                "rejected", {}, (Problem(row.number, None, "malformed_row", row.raw, message),)
            )
            continue
        if all(value is None for value in row.cells.values()):
            recorder.add_row("empty", {})
            continue
        key = tuple(repr(value) for value in row.cells.values())
        earlier = first_seen.setdefault(key, row.number)
        if earlier != row.number:
            message = f"the same cells as row {earlier}; counted once"
            problem = Problem(row.number, None, "duplicate_row", row.raw, message)
            recorder.add_row("duplicate", {}, (problem,))
            continue
        result = mapper.map(row.number, row.cells)
        recorder.add_row(result.status, result.outcomes)
    built = patients.build()
    counts = {
        "patients": len(built),
        "observations": sum(len(p.observations) for p in built),
        "conditions": sum(len(p.conditions) for p in built),
        "medications": sum(len(p.medications) for p in built),
    }
    return HarmonizedSource(spec.source, built, recorder.report(counts))
