"""The OMOP CDM 5.4 tables, taken from the ``omop-cdm`` package, and where they live.

``omop-cdm`` (The Hyve, Apache-2.0) declares the 37 CDM 5.4 tables as SQLAlchemy models
with placeholder schema names (``cdm_schema``, ``vocabulary_schema``) meant to be replaced
through ``schema_translate_map``. healthtwin uses its column definitions as they are, but
builds the tables without foreign keys: OHDSI's own DDL creates the tables first and adds
the constraints in a separate script after the vocabulary is loaded, and the vocabulary
tables reference one another in cycles that a database checking constraints row by row
cannot load. ``create_omop_tables(..., foreign_keys=True)`` creates the package's tables
unchanged for a database that already holds a full vocabulary.

One table is ours: ``healthtwin_source_record`` keeps, per CDM row, the id and the
code system of the record it came from (OMOP rows have integer ids and keep only codes),
so that :func:`~healthtwin.interop.omop.import_omop` restores records exactly. Other OMOP
tools ignore it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from types import ModuleType

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
)
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from healthtwin.errors import InvalidInputError, MissingDependencyError, StoreError

__all__ = [
    "CDM_TABLES",
    "SOURCE_RECORD",
    "cdm_table",
    "create_omop_tables",
    "omop_engine",
]

OMOP_EXTRA = "pip install 'healthtwin[omop]'"
#: The CDM tables healthtwin writes and reads, in an order that respects their references.
CDM_TABLES = (
    "location",
    "care_site",
    "person",
    "observation_period",
    "visit_occurrence",
    "condition_occurrence",
    "drug_exposure",
    "measurement",
)
#: Our lineage table (see the module docstring).
SOURCE_RECORD = "healthtwin_source_record"
_CLASS_BY_TABLE = {
    "location": "Location",
    "care_site": "CareSite",
    "person": "Person",
    "observation_period": "ObservationPeriod",
    "visit_occurrence": "VisitOccurrence",
    "condition_occurrence": "ConditionOccurrence",
    "drug_exposure": "DrugExposure",
    "measurement": "Measurement",
    # Read on import (concepts outside the shipped subset); never written by healthtwin.
    "concept": "Concept",
}


def _omop_cdm() -> tuple[ModuleType, ModuleType]:
    """The ``omop_cdm.regular.cdm54`` and ``omop_cdm.constants`` modules."""
    try:
        return (
            importlib.import_module("omop_cdm.regular.cdm54"),
            importlib.import_module("omop_cdm.constants"),
        )
    except ImportError as err:
        raise MissingDependencyError(
            f"the OMOP CDM tables come from the omop-cdm package, which is not installed: "
            f"{OMOP_EXTRA}"
        ) from err


@cache
def _tables() -> tuple[MetaData, Mapping[str, Table]]:
    """Foreign-key-free copies of the CDM tables we use, plus the lineage table."""
    cdm, constants = _omop_cdm()
    metadata = MetaData()
    copies: dict[str, Table] = {}
    for name, class_name in _CLASS_BY_TABLE.items():
        source: Table = getattr(cdm, class_name).__table__
        columns = [
            Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in source.columns
        ]
        schema = constants.VOCAB_SCHEMA if name == "concept" else constants.CDM_SCHEMA
        copies[name] = Table(name, metadata, *columns, schema=schema)
    copies[SOURCE_RECORD] = Table(
        SOURCE_RECORD,
        metadata,
        Column("cdm_table", String(50), primary_key=True),
        Column("cdm_id", BigInteger, primary_key=True, autoincrement=False),
        Column("record_id", Text, nullable=False),
        Column("code_system", Text),
        Column("code", Text),
        Column("panel_system", Text),
        Column("panel_code", Text),
        Column("route_system", Text),
        schema=constants.CDM_SCHEMA,
    )
    return metadata, copies


def cdm_table(name: str) -> Table:
    """The table ``name``: one of :data:`CDM_TABLES`, ``concept`` or :data:`SOURCE_RECORD`.

    Raises
    ------
    InvalidInputError
        If ``name`` is not one of them (the message lists them).

    Examples
    --------
    >>> [c.name for c in cdm_table("observation_period").columns][:3]
    ['observation_period_id', 'person_id', 'observation_period_start_date']
    """
    tables = _tables()[1]
    if name not in tables:
        raise InvalidInputError(f"unknown OMOP table {name!r}; healthtwin uses {', '.join(tables)}")
    return tables[name]


def omop_engine(engine_or_url: Engine | str, schema: str | None = None) -> Engine:
    """An engine on which the CDM tables live in ``schema`` (None: the default schema).

    Raises
    ------
    InvalidInputError
        If ``engine_or_url`` is neither an engine nor a database URL SQLAlchemy can open.

    Examples
    --------
    >>> omop_engine("sqlite://").dialect.name
    'sqlite'
    """
    constants = _omop_cdm()[1]
    if isinstance(engine_or_url, Engine):
        engine = engine_or_url
    else:
        try:
            engine = create_engine(engine_or_url)
        except (ArgumentError, NoSuchModuleError, ImportError) as err:
            raise InvalidInputError(
                f"cannot open the OMOP database {engine_or_url!r}: {err}; give a SQLAlchemy "
                "URL such as 'sqlite:///omop.sqlite' or 'postgresql+psycopg://host/db'"
            ) from err
    translate = {constants.CDM_SCHEMA: schema, constants.VOCAB_SCHEMA: schema}
    return engine.execution_options(schema_translate_map=translate)


def create_omop_tables(
    engine_or_url: Engine | str, *, schema: str | None = None, foreign_keys: bool = False
) -> Engine:
    """Create the CDM 5.4 tables (existing ones are kept) and return the engine to use.

    Parameters
    ----------
    engine_or_url
        A SQLAlchemy engine or URL.
    schema
        The database schema holding the CDM (None: the connection's default schema).
    foreign_keys
        False (default): the tables healthtwin writes, without foreign keys, plus the
        lineage table. True: all 37 tables of ``omop-cdm`` with their foreign keys, for a
        database into which a full vocabulary will be loaded.

    Raises
    ------
    StoreError
        If the database refuses the DDL.

    Examples
    --------
    >>> from sqlalchemy import inspect
    >>> engine = create_omop_tables("sqlite://")
    >>> "measurement" in inspect(engine).get_table_names()
    True
    """
    engine = omop_engine(engine_or_url, schema)
    metadata = _tables()[0]
    try:
        with engine.begin() as connection:
            if foreign_keys:
                _omop_cdm()[0].Base.metadata.create_all(connection)
                metadata.tables[_qualified(SOURCE_RECORD)].create(connection, checkfirst=True)
            else:
                metadata.create_all(connection)
    except SQLAlchemyError as err:
        raise StoreError(
            f"could not create the OMOP CDM tables in {engine.url!r} (schema {schema!r}): "
            f"{err}; check that the schema exists and the user may create tables"
        ) from err
    return engine


def _qualified(name: str) -> str:
    return f"{_omop_cdm()[1].CDM_SCHEMA}.{name}"
