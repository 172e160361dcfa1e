"""Audit hash chain, signed checkpoints, human oversight and kill switches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Adds to ``audit_events`` the patient, the query text and the chain columns ``prev_hash``
and ``hash`` (see :mod:`healthtwin.governance.audit_chain`), and seals the events already
stored, in row order, renumbering nothing: events of a 0001 database get their hashes here,
with the append-only triggers lifted for that one update and restored at once. New tables:
``audit_checkpoints``, ``recommendations``, ``recommendation_decisions`` and
``model_switches``, all append-only like the log.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from healthtwin.governance.audit_chain import GENESIS_HASH, AuditEntry, seal
from healthtwin.store.schema import UTCDateTime

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_NEW_APPEND_ONLY = ("audit_checkpoints", "recommendations", "model_switches")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _key() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("patient", sa.String(160), nullable=True))
    op.add_column("audit_events", sa.Column("query_text", sa.Text(), nullable=True))
    op.add_column("audit_events", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("audit_events", sa.Column("hash", sa.String(64), nullable=True))
    op.create_index("ix_audit_events_patient", "audit_events", ["patient"])
    _seal_existing_events()
    _create_tables()
    for table in _NEW_APPEND_ONLY:
        _refuse_changes(table)
    _refuse_changes("recommendation_decisions")


def downgrade() -> None:
    for table in ("recommendation_decisions", "recommendations", "model_switches"):
        op.drop_table(table)
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_audit_events_patient", "audit_events")

    def drop_columns() -> None:
        for column in ("hash", "prev_hash", "query_text", "patient"):
            op.drop_column("audit_events", column)

    _with_triggers_lifted(drop_columns)


def _create_tables() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("row_id", _key(), autoincrement=True, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("time", _time(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("row_id", name="pk_audit_checkpoints"),
    )
    op.create_index("ix_audit_checkpoints_sequence", "audit_checkpoints", ["sequence"])
    op.create_table(
        "recommendations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("patient", sa.String(160), nullable=True),
        sa.Column("value", _json(), nullable=False),
        sa.Column("proposed_by", sa.String(255), nullable=False),
        sa.Column("proposed_time", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recommendations"),
    )
    op.create_index("ix_recommendations_patient", "recommendations", ["patient"])
    op.create_table(
        "recommendation_decisions",
        sa.Column("recommendation_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(255), nullable=False),
        sa.Column("decided_time", _time(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("override_value", _json(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name="fk_recommendation_decisions_recommendation_id_recommendations",
        ),
        sa.PrimaryKeyConstraint("recommendation_id", name="pk_recommendation_decisions"),
    )
    op.create_table(
        "model_switches",
        sa.Column("row_id", _key(), autoincrement=True, nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("time", _time(), nullable=False),
        sa.PrimaryKeyConstraint("row_id", name="pk_model_switches"),
    )
    op.create_index("ix_model_switches_model_version", "model_switches", ["model", "version"])


def _events_table() -> sa.TableClause:
    return sa.table(
        "audit_events",
        sa.column("row_id", _key()),
        sa.column("time", UTCDateTime()),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("purpose", sa.String()),
        sa.column("outcome", sa.String()),
        sa.column("resource_refs", _json()),
        sa.column("details", _json()),
        sa.column("prev_hash", sa.String()),
        sa.column("hash", sa.String()),
    )


def _seal_existing_events() -> None:
    """Hash the events of a 0001 database in place, in row order (row id = sequence)."""
    events = _events_table()
    rows = op.get_bind().execute(sa.select(events).order_by(events.c.row_id)).mappings().all()
    if not rows:
        return
    sealed, prev = [], GENESIS_HASH
    for row in rows:
        entry = seal(
            AuditEntry(
                sequence=row["row_id"],
                time=row["time"],
                actor=row["actor"],
                action=row["action"],
                purpose=row["purpose"],
                outcome=row["outcome"],
                resource_refs=tuple(row["resource_refs"]),
                details=dict(row["details"]),
            ),
            prev,
        )
        prev = str(entry.hash)
        sealed.append({"key": row["row_id"], "prev": entry.prev_hash, "hash": entry.hash})

    def update() -> None:
        op.get_bind().execute(
            events.update()
            .where(events.c.row_id == sa.bindparam("key"))
            .values(prev_hash=sa.bindparam("prev"), hash=sa.bindparam("hash")),
            sealed,
        )

    _with_triggers_lifted(update)


def _with_triggers_lifted(step: Any) -> None:
    """Run ``step`` with audit_events' UPDATE/DELETE triggers dropped, then restore them."""
    if _postgresql():
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_refuse_change")
        step()
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_refuse_change")
        return
    for change in ("update", "delete"):
        op.execute(f"DROP TRIGGER audit_events_refuse_{change}")
    step()
    for change in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_events_refuse_{change.lower()} BEFORE {change} ON "
            "audit_events BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )


def _refuse_changes(table: str) -> None:
    if _postgresql():
        # healthtwin_refuse_change() was created by revision 0001.
        op.execute(
            f"CREATE TRIGGER {table}_refuse_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION healthtwin_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION healthtwin_refuse_change()"
        )
        return
    for change in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_refuse_{change.lower()} BEFORE {change} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )
