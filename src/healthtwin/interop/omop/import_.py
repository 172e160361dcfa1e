"""Read patients' records back from an OMOP CDM 5.4 database or CSV folder."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from sqlalchemy import Connection, Engine, Float, Numeric, inspect, select, type_coerce
from sqlalchemy.exc import SQLAlchemyError

from healthtwin.errors import InvalidInputError, StoreError
from healthtwin.interop.omop.csvfiles import read_table
from healthtwin.interop.omop.reader import Row, records_from_rows
from healthtwin.interop.omop.tables import CDM_TABLES, SOURCE_RECORD, cdm_table, omop_engine
from healthtwin.interop.omop.vocabulary import Concept, OmopVocabulary, load_vocabulary
from healthtwin.interop.records import PatientData

__all__ = ["import_omop", "import_omop_csv"]

_READ = (*CDM_TABLES, SOURCE_RECORD)
_CONCEPT_COLUMNS = (
    "concept_id",
    "concept_name",
    "domain_id",
    "vocabulary_id",
    "concept_class_id",
    "standard_concept",
    "concept_code",
)


def import_omop(
    engine_or_url: Engine | str,
    *,
    schema: str | None = None,
    vocabulary: OmopVocabulary | None = None,
) -> list[PatientData]:
    """Read every person of an OMOP CDM 5.4 database back into records.

    Concepts outside ``vocabulary`` (default: the shipped subset) are looked up in the
    database's own ``concept`` table when it has one.

    Returns
    -------
    list[PatientData]
        One per ``person`` row in order of ``person_id``; records in order of their row id.

    Raises
    ------
    StoreError
        If the database cannot be read or has no ``person`` table.
    ResourceValidationError
        If a row points at a person or visit that is not there.

    Examples
    --------
    >>> from datetime import date
    >>> from healthtwin.interop.omop import export_omop
    >>> from healthtwin.interop.records import PatientData, PatientRecord
    >>> from sqlalchemy import create_engine
    >>> engine = create_engine("sqlite://")
    >>> patient = PatientRecord(id="p1", birth_date=date(1970, 5, 17), gender="female")
    >>> _ = export_omop([PatientData(patient=patient)], engine)
    >>> import_omop(engine)[0].patient == patient
    True
    """
    engine = omop_engine(engine_or_url, schema)
    try:
        with engine.connect() as connection:
            present = set(inspect(connection).get_table_names(schema=schema))
            if "person" not in present:
                raise StoreError(
                    f"{engine.url!r} (schema {schema!r}) has no OMOP person table; it is not "
                    "an OMOP CDM: write one with export_omop or create_omop_tables"
                )
            tables = {t: _rows(connection, t) for t in _READ if t in present}
            known = vocabulary or load_vocabulary()
            if "concept" in present:
                known = known.with_concepts(_concepts(connection, tables, known, schema))
    except SQLAlchemyError as err:
        raise StoreError(
            f"reading the OMOP database {engine.url!r} failed ({err}); check the URL and schema"
        ) from err
    finally:
        if not isinstance(engine_or_url, Engine):
            engine.dispose()  # an engine we opened from a URL: close its connections
    return records_from_rows(tables, known)


def import_omop_csv(
    folder: str | Path, *, vocabulary: OmopVocabulary | None = None
) -> list[PatientData]:
    """Read records back from OMOP CSV files as :func:`export_omop_csv` writes them.

    Raises
    ------
    InvalidInputError
        If ``folder`` has no ``person.csv`` or a file does not parse.
    ResourceValidationError
        If a row points at a person or visit that is not there.

    Examples
    --------
    >>> import tempfile
    >>> from datetime import date
    >>> from healthtwin.interop.omop import export_omop_csv
    >>> from healthtwin.interop.records import PatientData, PatientRecord
    >>> patient = PatientRecord(id="p1", birth_date=date(1970, 5, 17), gender="male")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = export_omop_csv([PatientData(patient=patient)], folder)
    ...     back = import_omop_csv(folder)
    >>> back[0].patient == patient
    True
    """
    source = Path(folder)
    tables: dict[str, Sequence[Row]] = {}
    for table in _READ:
        rows = read_table(source, table)
        if rows is not None:
            tables[table] = rows
    if "person" not in tables:
        raise InvalidInputError(
            f"{source} has no person.csv; give the folder export_omop_csv wrote (one CSV "
            "per OMOP table)"
        )
    return records_from_rows(tables, vocabulary or load_vocabulary())


def _rows(connection: Connection, table: str) -> list[Row]:
    source = cdm_table(table)
    # NUMERIC read as float: SQLite hands decimals back rounded to 10 places otherwise.
    columns = [
        type_coerce(c, Float).label(c.name) if isinstance(c.type, Numeric) else c
        for c in source.columns
    ]
    return [dict(r._mapping) for r in connection.execute(select(*columns))]


def _concepts(
    connection: Connection,
    tables: Mapping[str, Iterable[Row]],
    vocabulary: OmopVocabulary,
    schema: str | None,
) -> list[Concept]:
    """The database's concepts for ids the rows use and ``vocabulary`` lacks."""
    wanted = {
        int(value)
        for rows in tables.values()
        for row in rows
        for name, value in row.items()
        if name.endswith("concept_id") and isinstance(value, int)
    } - set(vocabulary.concepts)
    if not wanted:
        return []
    concept = inspect(connection).get_columns("concept", schema=schema)
    if not set(_CONCEPT_COLUMNS) <= {c["name"] for c in concept}:
        return []
    table = cdm_table("concept")
    statement = select(*(table.c[n] for n in _CONCEPT_COLUMNS)).where(
        table.c.concept_id.in_(sorted(wanted))
    )
    return [
        Concept(
            concept_id=int(r.concept_id),
            name=str(r.concept_name),
            domain=str(r.domain_id),
            vocabulary=str(r.vocabulary_id),
            code=str(r.concept_code),
            concept_class=r.concept_class_id,
            standard=r.standard_concept,
        )
        for r in connection.execute(statement)
    ]
