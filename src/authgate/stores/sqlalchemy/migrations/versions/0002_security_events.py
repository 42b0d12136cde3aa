"""The audit trail: ``authgate_security_events``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def timestamp() -> Any:
    """A UTC timestamp (stored naive), with microseconds on MySQL/MariaDB too (see 0001)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    """Create the security events table and its two indexes."""
    op.create_table(
        "authgate_security_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("at", timestamp(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(16), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Index("ix_authgate_security_events_user_id_at", "user_id", "at"),
        sa.Index("ix_authgate_security_events_at", "at"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    """Drop the audit trail (and every event in it)."""
    op.drop_table("authgate_security_events")
