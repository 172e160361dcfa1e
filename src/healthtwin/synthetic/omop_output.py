"""Synthetic patients as OMOP CDM 5.4 tables, marked as synthetic.

Rows are written by :func:`healthtwin.interop.omop.export_omop_csv` (or
:func:`~healthtwin.interop.omop.export_omop` for a database). OMOP rows have no metadata
of their own, so the mark is carried twice: every ``person_source_value`` holds the
synthetic patient id (``synthetic-00042``), and a ``cdm_source.csv`` file (the CDM 5.4
table that describes a whole data set) says in ``source_description`` that the data are
synthetic and how they were made. A deceased patient's death is in ``death.csv`` (CDM 5.4
``death`` table: ``person_id``, ``death_date``, ``death_datetime``, ``death_type_concept_id``
32817 "EHR").
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from healthtwin.errors import InvalidInputError
from healthtwin.interop.omop import OmopExportReport, export_omop_csv
from healthtwin.synthetic.longitudinal import SyntheticPatient

__all__ = ["CDM_SOURCE_COLUMNS", "DEATH_COLUMNS", "write_synthetic_omop"]

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
#: OMOP concept of CDM version 5.4 and of the EHR record type.
_CDM_54 = 756265
_TYPE_EHR = 32817


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
    unmarked = [p.data.patient.id for p in patients if "synthetic" not in p.data.patient.id]
    if unmarked:
        raise InvalidInputError(
            f"patient id(s) {unmarked[:3]} do not say they are synthetic; generate them with "
            "an id_prefix containing 'synthetic'"
        )
    target = Path(folder)
    report = export_omop_csv([p.data for p in patients], target)
    today = date.today().isoformat()
    source = {
        "cdm_source_name": "healthtwin synthetic patients",
        "cdm_source_abbreviation": "healthtwin-synthetic",
        "cdm_holder": "healthtwin",
        "source_description": (
            "SYNTHETIC DATA: simulated patients (healthtwin.synthetic.longitudinal), not "
            "records of real people. " + description
        ).strip(),
        "cdm_etl_reference": "healthtwin.synthetic.omop_output",
        "source_release_date": today,
        "cdm_release_date": today,
        "cdm_version": "5.4",
        "cdm_version_concept_id": str(_CDM_54),
        "vocabulary_version": "healthtwin subset",
    }
    _write(target / "cdm_source.csv", CDM_SOURCE_COLUMNS, [source])
    deaths = []
    for p in patients:
        if p.deceased is not None:
            person_id = report.person_ids[p.data.patient.id]
            deaths.append(
                {
                    "person_id": str(person_id),
                    "death_date": p.deceased.date().isoformat(),
                    "death_datetime": p.deceased.replace(tzinfo=None).isoformat(sep=" "),
                    "death_type_concept_id": str(_TYPE_EHR),
                }
            )
    _write(target / "death.csv", DEATH_COLUMNS, deaths)
    return report


def _write(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
