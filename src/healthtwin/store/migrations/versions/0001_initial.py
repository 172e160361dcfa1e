"""Initial schema: resources and their history, observations, twin states, audit log.

Revision ID: 0001
Revises:
Create Date: 2025-11-28

The audit tables are append-only: triggers refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL), so that not even SQL run outside healthtwin's API rewrites the log silently.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_AUDIT_TABLES = ("audit_events", "audit_event_resources")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _key() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    _resources()
    _observations()
    _twin_states()
    _audit()


def downgrade() -> None:
    for table in ("audit_event_resources", "audit_events", "twin_states", "observations"):
        op.drop_table(table)
    op.drop_table("resource_history")
    op.drop_table("resources")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS healthtwin_refuse_change()")


def _resources() -> None:
    op.create_table(
        "resources",
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", _time(), nullable=False),
        sa.Column("body", _json(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "id", name="pk_resources"),
    )
    op.create_index(
        "ix_resources_type_last_updated", "resources", ["resource_type", "last_updated"]
    )
    op.create_table(
        "resource_history",
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", _time(), nullable=False),
        sa.Column("body", _json(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "id", "version_id", name="pk_resource_history"),
    )


def _observations() -> None:
    op.create_table(
        "observations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("code_system", sa.String(255), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("code_display", sa.String(255), nullable=True),
        sa.Column("effective", _time(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(64), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("encounter_id", sa.String(64), nullable=True),
        sa.Column("components", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_observations"),
    )
    op.create_index(
        "ix_observations_patient_code_effective",
        "observations",
        ["patient_id", "code", "effective"],
    )


def _twin_states() -> None:
    op.create_table(
        "twin_states",
        sa.Column("row_id", _key(), autoincrement=True, nullable=False),
        sa.Column("twin_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("valid_time", _time(), nullable=False),
        sa.Column("recorded_time", _time(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        sa.PrimaryKeyConstraint("row_id", name="pk_twin_states"),
    )
    op.create_index(
        "ix_twin_states_twin_valid_recorded",
        "twin_states",
        ["twin_id", "valid_time", "recorded_time"],
    )


def _audit() -> None:
    op.create_table(
        "audit_events",
        sa.Column("row_id", _key(), autoincrement=True, nullable=False),
        sa.Column("time", _time(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(255), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("resource_refs", _json(), nullable=False),
        sa.Column("details", _json(), nullable=False),
        sa.PrimaryKeyConstraint("row_id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_time", "audit_events", ["time"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"])
    op.create_table(
        "audit_event_resources",
        sa.Column("event_id", _key(), nullable=False),
        sa.Column("reference", sa.String(160), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["audit_events.row_id"],
            name="fk_audit_event_resources_event_id_audit_events",
        ),
        sa.PrimaryKeyConstraint("event_id", "reference", name="pk_audit_event_resources"),
    )
    op.create_index("ix_audit_event_resources_reference", "audit_event_resources", ["reference"])
    if op.get_bind().dialect.name == "postgresql":
        _refuse_changes_postgresql()
    else:
        _refuse_changes_sqlite()


def _refuse_changes_sqlite() -> None:
    for table in _AUDIT_TABLES:
        for change in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_refuse_{change.lower()} BEFORE {change} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def _refuse_changes_postgresql() -> None:
    op.execute(
        "CREATE FUNCTION healthtwin_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only'; END $$"
    )
    for table in _AUDIT_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_refuse_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION healthtwin_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION healthtwin_refuse_change()"
        )
