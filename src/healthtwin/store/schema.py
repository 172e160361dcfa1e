"""The store's tables as typed SQLAlchemy ORM classes.

The classes describe the schema; only the Alembic migrations in ``migrations/versions``
create or change it (a test checks that the two agree on SQLite and PostgreSQL). Times are
stored in UTC (:class:`UTCDateTime`); JSON documents are ``JSONB`` on PostgreSQL and JSON
text on SQLite (:data:`JSON_DOCUMENT`).

=======================  ===============================================================
table                    holds
=======================  ===============================================================
resources                the current version of every FHIR resource (JSON body)
resource_history         every version of every resource, deletions included
observations             measured values as an indexed time series
twin_states              twin states (npz bytes) by valid time and recorded time
audit_events             the append-only audit log (triggers refuse UPDATE and DELETE)
audit_event_resources    which resources each audit event touched (for look-ups)
audit_checkpoints        signed checkpoints of the audit hash chain (append-only)
recommendations          models' recommendations, proposed for human oversight (append-only)
recommendation_decisions clinicians' accept/override decisions, one per recommendation
model_switches           the kill-switch history of model versions (append-only)
=======================  ===============================================================
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ID_LENGTH",
    "JSON_DOCUMENT",
    "AuditCheckpointRow",
    "AuditEventResourceRow",
    "AuditEventRow",
    "Base",
    "ModelSwitchRow",
    "ObservationRow",
    "RecommendationDecisionRow",
    "RecommendationRow",
    "ResourceHistoryRow",
    "ResourceRow",
    "TwinStateRow",
    "UTCDateTime",
]

#: Longest logical id FHIR allows (``[A-Za-z0-9\-\.]{1,64}``); also used for patient ids.
ID_LENGTH = 64

#: A JSON document column: JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSON_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")

#: An auto-incrementing 64-bit key (SQLite's rowid alias must be spelled INTEGER).
ROW_KEY = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL keeps ``timestamp with time zone``; SQLite has no time zones, so the value is
    stored as naive UTC text (fixed width, so text order is time order) and read back with
    ``tzinfo=UTC``. Naive datetimes are refused: a time without a zone is ambiguous.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the store's tables (constraint names match the migrations)."""

    metadata = MetaData(
        naming_convention={
            "pk": "pk_%(table_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "ix": "ix_%(table_name)s_%(column_0_name)s",
        }
    )


class ResourceRow(Base):
    """The current version of one FHIR resource (``deleted`` marks a deletion)."""

    __tablename__ = "resources"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_resources_type_last_updated", "resource_type", "last_updated"),)


class ResourceHistoryRow(Base):
    """One version of one resource; a deletion is a version with ``body`` NULL."""

    __tablename__ = "resource_history"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON_DOCUMENT)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class ObservationRow(Base):
    """One observation as a time-series row (``id`` is the Observation's logical id)."""

    __tablename__ = "observations"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    code_system: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(64))
    code_display: Mapped[str | None] = mapped_column(String(255))
    effective: Mapped[datetime] = mapped_column(UTCDateTime())
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(64))
    encounter_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    components: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON_DOCUMENT)

    __table_args__ = (
        Index("ix_observations_patient_code_effective", "patient_id", "code", "effective"),
    )


class TwinStateRow(Base):
    """A twin's state valid at ``valid_time``, as recorded at ``recorded_time`` (bitemporal)."""

    __tablename__ = "twin_states"

    row_id: Mapped[int] = mapped_column(ROW_KEY, primary_key=True, autoincrement=True)
    twin_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    model: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64))
    valid_time: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_time: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[bytes] = mapped_column(LargeBinary)
    state_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON_DOCUMENT)

    __table_args__ = (
        Index("ix_twin_states_twin_valid_recorded", "twin_id", "valid_time", "recorded_time"),
    )


class AuditEventRow(Base):
    """One audit event: who did what, to which resources, for which purpose, with what result."""

    __tablename__ = "audit_events"

    row_id: Mapped[int] = mapped_column(ROW_KEY, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(32))
    resource_refs: Mapped[list[str]] = mapped_column(JSON_DOCUMENT)
    details: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT)
    # The hash chain (migration 0002); NULL only in a row a migration failed to seal.
    patient: Mapped[str | None] = mapped_column(String(160), index=True)
    query_text: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class AuditEventResourceRow(Base):
    """A resource reference (``"Patient/p1"``) one audit event touched."""

    __tablename__ = "audit_event_resources"

    event_id: Mapped[int] = mapped_column(
        ROW_KEY, ForeignKey("audit_events.row_id"), primary_key=True
    )
    reference: Mapped[str] = mapped_column(String(160), primary_key=True, index=True)


class AuditCheckpointRow(Base):
    """A signed checkpoint: the audit chain's ``hash`` at event ``sequence``."""

    __tablename__ = "audit_checkpoints"

    row_id: Mapped[int] = mapped_column(ROW_KEY, primary_key=True, autoincrement=True)
    sequence: Mapped[int] = mapped_column(BigInteger, index=True)
    hash: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class RecommendationRow(Base):
    """A model's recommendation as proposed (its decision, if any, is a separate row)."""

    __tablename__ = "recommendations"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(64))
    patient: Mapped[str | None] = mapped_column(String(160), index=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON_DOCUMENT)
    proposed_by: Mapped[str] = mapped_column(String(255))
    proposed_time: Mapped[datetime] = mapped_column(UTCDateTime())


class RecommendationDecisionRow(Base):
    """A clinician's decision on a recommendation (the primary key allows only one)."""

    __tablename__ = "recommendation_decisions"

    recommendation_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("recommendations.id"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(255))
    decided_time: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    override_value: Mapped[dict[str, Any] | None] = mapped_column(JSON_DOCUMENT)


class ModelSwitchRow(Base):
    """One change of a model version's kill switch (``version`` ``"*"``: every version)."""

    __tablename__ = "model_switches"

    row_id: Mapped[int] = mapped_column(ROW_KEY, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(255))
    time: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_model_switches_model_version", "model", "version"),)
