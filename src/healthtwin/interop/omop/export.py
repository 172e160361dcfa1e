"""Write patients' records to an OMOP CDM 5.4 database or to one CSV file per table.

Everything is checked before anything is written, and the database write is one
transaction: an export either writes all its rows or none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from sqlalchemy import Connection, Engine, func, insert, inspect, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from healthtwin.errors import ConflictError, StoreError
from healthtwin.interop.omop.csvfiles import write_table
from healthtwin.interop.omop.report import OmopExportReport
from healthtwin.interop.omop.rows import Row, RowBuilder
from healthtwin.interop.omop.selection import Selection, select_patients
from healthtwin.interop.omop.tables import (
    CDM_TABLES,
    SOURCE_RECORD,
    cdm_table,
    create_omop_tables,
    omop_engine,
)
from healthtwin.interop.omop.vocabulary import OmopVocabulary, load_vocabulary
from healthtwin.interop.records import PatientData

__all__ = ["export_omop", "export_omop_csv"]

_WRITTEN = (*CDM_TABLES, SOURCE_RECORD)
_CHUNK = 20_000


def export_omop(
    patients: Iterable[PatientData],
    engine_or_url: Engine | str,
    *,
    schema: str | None = None,
    strict: bool = True,
    create_tables: bool = True,
    vocabulary: OmopVocabulary | None = None,
) -> OmopExportReport:
    """Write ``patients`` to the OMOP CDM 5.4 tables of a database, in one transaction.

    Parameters
    ----------
    patients
        The records to write (one :class:`PatientData` per patient).
    engine_or_url
        A SQLAlchemy engine or URL (``"sqlite:///omop.sqlite"``,
        ``"postgresql+psycopg://host/db"``).
    schema
        The schema holding the CDM tables (None: the connection's default).
    strict
        True: any invalid record stops the export before anything is written. False:
        invalid records are left out and listed in ``report.skipped``.
    create_tables
        Create missing CDM tables first (:func:`create_omop_tables`, no foreign keys).
    vocabulary
        Concepts to map codes with (default: the subset shipped with healthtwin).

    Returns
    -------
    OmopExportReport
        Rows per table, codes written with concept 0, records left out.

    Raises
    ------
    ResourceValidationError
        With ``strict=True``, if any record breaks a rule (every issue listed with its path).
    ConflictError
        If a patient is already in the database (exported before), or a row id is taken.
    StoreError
        If the database fails; nothing is written.

    Examples
    --------
    >>> from datetime import date
    >>> from healthtwin.interop.records import PatientData, PatientRecord
    >>> patient = PatientRecord(id="p1", birth_date=date(1970, 5, 17), gender="female")
    >>> report = export_omop([PatientData(patient=patient)], "sqlite://")
    >>> report.rows["person"], report.person_ids["p1"]
    (1, 1)
    """
    selection = select_patients(patients, strict=strict)
    engine = omop_engine(engine_or_url, schema)
    try:
        if create_tables:
            create_omop_tables(engine, schema=schema)
        with engine.begin() as connection:
            builder = _builder_for(connection, selection, vocabulary or load_vocabulary(), schema)
            for table in _WRITTEN:
                _insert(connection, table, builder.rows.get(table, []))
    except IntegrityError as err:
        if "foreign key" in str(err.orig).lower():
            raise StoreError(
                f"a foreign key of the OMOP tables refused a row ({err.orig}); nothing was "
                "written: the tables were created with foreign keys, so the concept table "
                "must hold every concept used. Load the OMOP vocabulary first, or write to "
                "tables made by create_omop_tables(..., foreign_keys=False)"
            ) from err
        raise ConflictError(
            f"the OMOP database already holds a row with one of the ids being written "
            f"({err.orig}); nothing was written: export into a fresh database or schema"
        ) from err
    except SQLAlchemyError as err:
        raise StoreError(
            f"writing to the OMOP database failed ({err}); nothing was written: check the "
            "URL, that the CDM tables exist (create_tables=True) and that no other writer "
            "holds the database"
        ) from err
    finally:
        if not isinstance(engine_or_url, Engine):
            engine.dispose()  # an engine we opened from a URL: close its connections
    return _report(builder, selection)


def export_omop_csv(
    patients: Iterable[PatientData],
    folder: str | Path,
    *,
    strict: bool = True,
    vocabulary: OmopVocabulary | None = None,
) -> OmopExportReport:
    """Write ``patients`` as OMOP CDM 5.4 CSV files (``person.csv``, ``measurement.csv``...).

    The folder receives one file per table of :data:`CDM_TABLES`, with every CDM column in
    the CDM order, plus ``healthtwin_source_record.csv`` (lineage). Ids start at 1.

    Raises
    ------
    ResourceValidationError
        With ``strict=True``, if any record breaks a rule (nothing is written).

    Examples
    --------
    >>> import tempfile
    >>> from datetime import date
    >>> from healthtwin.interop.records import PatientData, PatientRecord
    >>> patient = PatientRecord(id="p1", birth_date=date(1970, 5, 17))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     report = export_omop_csv([PatientData(patient=patient)], folder)
    ...     header = (Path(folder) / "person.csv").read_text().splitlines()[0]
    >>> header.split(",")[:3]
    ['person_id', 'gender_concept_id', 'year_of_birth']
    """
    selection = select_patients(patients, strict=strict)
    builder = RowBuilder(vocabulary or load_vocabulary())
    for data in selection.patients:
        builder.add_patient(data)
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for table in _WRITTEN:
        write_table(target, table, builder.rows.get(table, []))
    return _report(builder, selection)


def _builder_for(
    connection: Connection,
    selection: Selection,
    vocabulary: OmopVocabulary,
    schema: str | None,
) -> RowBuilder:
    """A row builder that continues the ids and sites already in the database."""
    present = set(inspect(connection).get_table_names(schema=schema))
    lineage = cdm_table(SOURCE_RECORD)
    known: dict[str, int] = {}
    if SOURCE_RECORD in present:
        statement = select(lineage.c.record_id, lineage.c.cdm_id).where(
            lineage.c.cdm_table == "person"
        )
        known = {str(r): int(i) for r, i in connection.execute(statement)}
    clashes = sorted({d.patient.id for d in selection.patients} & set(known))
    if clashes:
        raise ConflictError(
            f"patient(s) {clashes[:5]} are already in this OMOP database (person_id "
            f"{[known[c] for c in clashes[:5]]}); export each patient once, or into a fresh "
            "database or schema"
        )
    builder = RowBuilder(vocabulary)
    for table in CDM_TABLES:
        if table in present:
            key = cdm_table(table).c[f"{table}_id"]
            builder.next_id[table] = (
                int(connection.execute(select(func.max(key))).scalar() or 0) + 1
            )
    builder.locations.update(_sites(connection, present, "location", "country_source_value"))
    builder.care_sites.update(_sites(connection, present, "care_site", "care_site_source_value"))
    for data in selection.patients:
        builder.add_patient(data)
    return builder


def _sites(connection: Connection, present: set[str], table: str, column: str) -> dict[str, int]:
    """Existing location/care-site ids by source value, so that exports share them."""
    if table not in present:
        return {}
    source = cdm_table(table)
    rows = connection.execute(select(source.c[column], source.c[f"{table}_id"]))
    return {str(value): int(key) for value, key in rows if value is not None}


def _insert(connection: Connection, table: str, rows: list[Row]) -> None:
    # Location and care-site rows reused from the database are not in ``rows``; new ones
    # share one shape per table, as executemany needs.
    for start in range(0, len(rows), _CHUNK):
        connection.execute(insert(cdm_table(table)), rows[start : start + _CHUNK])


def _report(builder: RowBuilder, selection: Selection) -> OmopExportReport:
    rows: Mapping[str, int] = {t: len(builder.rows[t]) for t in _WRITTEN if t in builder.rows}
    return OmopExportReport(
        rows=rows,
        unmapped=builder.unmapped(),
        skipped=selection.skipped,
        person_ids=dict(builder.person_ids),
    )
