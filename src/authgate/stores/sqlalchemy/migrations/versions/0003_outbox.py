"""The notice outbox: ``authgate_outbox``.

Security notices ("your password was changed", "your account was deleted")
are written here, rendered, in the same transaction as the change they
report, and deleted once a mailer accepted them (``authgate.outbox``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def timestamp() -> Any:
    """A UTC timestamp (stored naive), with microseconds on MySQL/MariaDB too (see 0001)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def long_text() -> Any:
    """A message body: ``TEXT`` stops at 64 KiB on MySQL/MariaDB, ``MEDIUMTEXT`` does not."""
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    """Create the outbox and its index on the next attempt's time."""
    op.create_table(
        "authgate_outbox",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("sender", sa.String(320), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", long_text(), nullable=False),
        sa.Column("body_html", long_text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("next_attempt_at", timestamp(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Index("ix_authgate_outbox_next_attempt_at", "next_attempt_at"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    """Drop the outbox (notices not sent yet are lost)."""
    op.drop_table("authgate_outbox")
