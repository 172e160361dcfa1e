"""Synthetic patients as OMOP CDM 5.4 tables, marked as synthetic.

Rows are written by :func:`healthtwin.interop.omop.export_omop_csv` (or
:func:`~healthtwin.interop.omop.export_omop` for a database). OMOP rows have no metadata
of their own, so the mark is carried twice: every ``person_source_value`` holds the
synthetic patient id (``synthetic-00042``), and a ``cdm_source.csv`` file (the CDM 5.4
table that describes a whole data set) says in ``source_description`` that the data are
synthetic and how they were made. A deceased patient's death is in ``death.csv`` (CDM 5.4
``death`` table: ``person_id``, ``death_date``, ``death_datetime``, ``death_type_concept_id``).

No row claims to come from an EHR. The interop layer writes Type Concept 32817 "EHR"
(32838 "EHR prescription", 32818 "EHR administration" for drugs); here every
``*_type_concept_id`` is replaced by a local concept instead: OMOP has no standard Type
Concept for simulated data, and the OHDSI convention for custom concepts (Themis working
group, "Custom concepts", OMOP CDM documentation, 2023) reserves ``concept_id`` values above
2,000,000,000 for concepts defined locally, with ``standard_concept`` NULL:

==============  =============================================================
concept_id      meaning (domain "Type Concept", vocabulary "healthtwin")
==============  =============================================================
2000000001      Synthetic record (simulated by healthtwin; replaces 32817 EHR)
2000000002      Synthetic prescription (replaces 32838 EHR prescription)
2000000003      Synthetic administration (replaces 32818 EHR administration)
==============  =============================================================

The table is repeated in ``cdm_source.source_description``. The event rows' own
``visit_source_value``, ``condition_source_value``, ``drug_source_value`` and
``measurement_source_value`` start with ``synthetic-`` (cut to the CDM's 50 characters);
modifiers (units, routes, values) keep their plain text. Network studies should exclude
the local concepts, which is the point: these rows are not observations of anyone.

A large run is written chunk by chunk with :class:`SyntheticOmopWriter`: each
:meth:`~SyntheticOmopWriter.add` appends a chunk's rows to the CSV files, ids continuing
where the last chunk stopped, so memory holds one chunk. Writing all patients at once or
in chunks gives the same files, byte for byte; :func:`write_synthetic_omop` is one chunk.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from types import TracebackType

from healthtwin.errors import InvalidInputError, ValidationIssue
from healthtwin.interop.omop import (
    CDM_TABLES,
    SOURCE_RECORD,
    OmopExportReport,
    load_vocabulary,
)
from healthtwin.interop.omop.csvfiles import write_table
from healthtwin.interop.omop.rows import RowBuilder
from healthtwin.interop.omop.selection import select_patients
from healthtwin.interop.omop.vocabulary import (
    SYNTHETIC_ADMINISTRATION_TYPE,
    SYNTHETIC_PRESCRIPTION_TYPE,
    SYNTHETIC_RECORD_TYPE,
    SYNTHETIC_SOURCE_PREFIX,
    TYPE_EHR,
    TYPE_EHR_ADMINISTRATION,
    TYPE_EHR_PRESCRIPTION,
)
from healthtwin.synthetic.longitudinal import SyntheticPatient

__all__ = [
    "CDM_SOURCE_COLUMNS",
    "DEATH_COLUMNS",
    "SYNTHETIC_ADMINISTRATION_TYPE",
    "SYNTHETIC_PRESCRIPTION_TYPE",
    "SYNTHETIC_RECORD_TYPE",
    "SYNTHETIC_SOURCE_PREFIX",
    "SyntheticOmopWriter",
    "write_synthetic_omop",
]

CDM_SOURCE_COLUMNS = (
    "cdm_source_name",
    "cdm_source_abbreviation",
    "cdm_holder",
    "source_description",
    "source_documentation_reference",
    "cdm_etl_reference",
    "source_release_date",
    "cdm_release_date",
    "cdm_version",
    "cdm_version_concept_id",
    "vocabulary_version",
)
DEATH_COLUMNS = (
    "person_id",
    "death_date",
    "death_datetime",
    "death_type_concept_id",
    "cause_concept_id",
    "cause_source_value",
    "cause_source_concept_id",
)
#: OMOP concept of CDM version 5.4.
_CDM_54 = 756265
#: The interop layer's EHR Type Concepts and the local concept that replaces each.
_TYPE_FOR = {
    TYPE_EHR: SYNTHETIC_RECORD_TYPE,
    TYPE_EHR_PRESCRIPTION: SYNTHETIC_PRESCRIPTION_TYPE,
    TYPE_EHR_ADMINISTRATION: SYNTHETIC_ADMINISTRATION_TYPE,
}
_MARKED_SOURCE_VALUES = (
    "visit_source_value",
    "condition_source_value",
    "drug_source_value",
    "measurement_source_value",
)
_SOURCE_VALUE_LENGTH = 50
_WRITTEN = (*CDM_TABLES, SOURCE_RECORD)


class SyntheticOmopWriter:
    """OMOP CSV tables written chunk by chunk (see the module notes).

    Opening writes every table's header, ``cdm_source.csv`` and an empty ``death.csv``
    (replacing files of an earlier export); :meth:`add` appends each chunk's rows;
    :meth:`report` sums what was written.

    Parameters
    ----------
    folder
        Output folder (created if needed).
    description
        Appended to ``cdm_source.source_description``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from healthtwin.synthetic.longitudinal import LongitudinalConfig, generate_patients
    >>> from healthtwin.synthetic.demographics import sample_demographics
    >>> demo = sample_demographics(3, np.random.default_rng(0), diabetes_prevalence=0.0)
    >>> pats = generate_patients(demo, config=LongitudinalConfig(follow_up_days=30))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with SyntheticOmopWriter(folder) as writer:
    ...         writer.add(pats[:2])
    ...         writer.add(pats[2:])
    ...     rows = (Path(folder) / "person.csv").read_text().splitlines()
    >>> len(rows), writer.report().person_ids["synthetic-00002"]
    (4, 3)
    """

    def __init__(self, folder: str | Path, *, description: str = "") -> None:
        self.folder = Path(folder)
        self._builder = RowBuilder(load_vocabulary())
        self._rows: dict[str, int] = {}
        self._skipped: list[ValidationIssue] = []
        self.folder.mkdir(parents=True, exist_ok=True)
        for table in _WRITTEN:
            write_table(self.folder, table, [])
        _write(self.folder / "cdm_source.csv", CDM_SOURCE_COLUMNS, [_source(description)])
        _write(self.folder / "death.csv", DEATH_COLUMNS, [])

    def __enter__(self) -> SyntheticOmopWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None

    def add(self, patients: Sequence[SyntheticPatient]) -> None:
        """Append the rows of ``patients`` (checked first; nothing of the chunk is written
        if a record breaks an OMOP rule).

        Raises
        ------
        InvalidInputError
            If a patient id does not say it is synthetic, or was written before.
        ResourceValidationError
            If a record breaks an OMOP rule.
        """
        _check_ids(patients, self._builder.person_ids)
        selection = select_patients([p.data for p in patients], strict=True)
        self._skipped += selection.skipped
        for data in selection.patients:
            self._builder.add_patient(data)
        rows, self._builder.rows = self._builder.rows, {}
        rows = {table: [_mark(row) for row in table_rows] for table, table_rows in rows.items()}
        with tempfile.TemporaryDirectory(dir=self.folder, prefix=".chunk-") as scratch:
            for table in _WRITTEN:
                if rows.get(table):
                    # The interop layer formats the rows; only its header line is dropped.
                    _append_body(write_table(Path(scratch), table, rows[table]), self.folder)
                    self._rows[table] = self._rows.get(table, 0) + len(rows[table])
        _append(self.folder / "death.csv", DEATH_COLUMNS, _deaths(patients, self._builder))

    def report(self) -> OmopExportReport:
        """Rows written per table, unmapped codes, skipped records and person ids so far."""
        return OmopExportReport(
            rows=dict(self._rows),
            unmapped=self._builder.unmapped(),
            skipped=tuple(self._skipped),
            person_ids=dict(self._builder.person_ids),
        )


def _check_ids(patients: Sequence[SyntheticPatient], written: dict[str, int]) -> None:
    unmarked = [p.data.patient.id for p in patients if "synthetic" not in p.data.patient.id]
    if unmarked:
        raise InvalidInputError(
            f"patient id(s) {unmarked[:3]} do not say they are synthetic; generate them with "
            "an id_prefix containing 'synthetic'"
        )
    again = [p.data.patient.id for p in patients if p.data.patient.id in written]
    if again:
        raise InvalidInputError(
            f"patient id(s) {again[:3]} were written by an earlier chunk; give each chunk "
            "its own ids (generate_patients(..., start_index=...))"
        )


def _source(description: str) -> dict[str, str]:
    today = date.today().isoformat()
    return {
        "cdm_source_name": "healthtwin synthetic patients",
        "cdm_source_abbreviation": "healthtwin-synthetic",
        "cdm_holder": "healthtwin",
        "source_description": (
            "SYNTHETIC DATA: simulated patients (healthtwin.synthetic.longitudinal), not "
            "records of real people. Local Type Concepts (custom concept ids > 2,000,000,000): "
            f"{SYNTHETIC_RECORD_TYPE} synthetic record, {SYNTHETIC_PRESCRIPTION_TYPE} synthetic "
            f"prescription, {SYNTHETIC_ADMINISTRATION_TYPE} synthetic administration; event "
            f"source values start with '{SYNTHETIC_SOURCE_PREFIX}'. " + description
        ).strip(),
        "cdm_etl_reference": "healthtwin.synthetic.omop_output",
        "source_release_date": today,
        "cdm_release_date": today,
        "cdm_version": "5.4",
        "cdm_version_concept_id": str(_CDM_54),
        "vocabulary_version": "healthtwin subset",
    }


def _mark(row: dict[str, object]) -> dict[str, object]:
    """``row`` with local synthetic Type Concepts and ``synthetic-`` event source values."""
    marked = dict(row)
    for column, value in row.items():
        if column.endswith("_type_concept_id") and isinstance(value, int):
            marked[column] = _TYPE_FOR.get(value, value)
    for column in _MARKED_SOURCE_VALUES:
        value = row.get(column)
        if value is not None and not str(value).startswith(SYNTHETIC_SOURCE_PREFIX):
            marked[column] = (SYNTHETIC_SOURCE_PREFIX + str(value))[:_SOURCE_VALUE_LENGTH]
    return marked


def _deaths(patients: Sequence[SyntheticPatient], builder: RowBuilder) -> list[dict[str, str]]:
    deaths = []
    for p in patients:
        if p.deceased is not None:
            deaths.append(
                {
                    "person_id": str(builder.person_ids[p.data.patient.id]),
                    "death_date": p.deceased.date().isoformat(),
                    "death_datetime": p.deceased.replace(tzinfo=None).isoformat(sep=" "),
                    "death_type_concept_id": str(SYNTHETIC_RECORD_TYPE),
                }
            )
    return deaths


def _append_body(chunk: Path, folder: Path) -> None:
    with (
        chunk.open(encoding="utf-8") as source,
        (folder / chunk.name).open("a", encoding="utf-8") as target,
    ):
        source.readline()
        shutil.copyfileobj(source, target)


def write_synthetic_omop(
    patients: Sequence[SyntheticPatient], folder: str | Path, *, description: str = ""
) -> OmopExportReport:
    """Write ``patients`` as OMOP CSV tables plus ``cdm_source.csv`` and ``death.csv``.

    Raises
    ------
    InvalidInputError
        If a patient id does not say it is synthetic (contains no ``"synthetic"``).
    ResourceValidationError
        If a record breaks an OMOP rule (nothing is written).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from healthtwin.synthetic.longitudinal import (
    ...     LongitudinalConfig, generate_patients)
    >>> from healthtwin.synthetic.demographics import sample_demographics
    >>> demo = sample_demographics(2, np.random.default_rng(0), diabetes_prevalence=0.0)
    >>> pats = generate_patients(demo, config=LongitudinalConfig(follow_up_days=30))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     report = write_synthetic_omop(pats, folder)
    ...     text = (Path(folder) / "cdm_source.csv").read_text()
    >>> report.rows["person"], "synthetic" in text
    (2, True)
    """
    _check_ids(patients, {})
    # Check everything before the writer replaces an earlier export's files.
    select_patients([p.data for p in patients], strict=True)
    with SyntheticOmopWriter(folder, description=description) as writer:
        writer.add(patients)
    return writer.report()


def _write(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerow(columns)
    _append(path, columns, rows)


def _append(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
