"""Passkeys: ``authgate_passkeys`` (WebAuthn credentials of users).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def timestamp() -> Any:
    """A UTC timestamp (stored naive), with microseconds on MySQL/MariaDB too (see 0001)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def raw_bytes() -> Any:
    """A credential id or public key: VARBINARY(1023) on MySQL/MariaDB, else a blob type."""
    return sa.LargeBinary().with_variant(mysql.VARBINARY(1023), "mysql", "mariadb")


def upgrade() -> None:
    """Create the passkey table and its indexes."""
    op.create_table(
        "authgate_passkeys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("authgate_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("credential_hash", sa.String(64), nullable=False),
        sa.Column("credential_id", raw_bytes(), nullable=False),
        sa.Column("public_key", raw_bytes(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.String(255), nullable=True),
        sa.Column("aaguid", sa.String(36), nullable=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("last_used_at", timestamp(), nullable=True),
        sa.UniqueConstraint("credential_hash", name="uq_authgate_passkeys_credential_hash"),
        sa.Index("ix_authgate_passkeys_user_id", "user_id"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    """Drop the passkey table (every passkey with it)."""
    op.drop_table("authgate_passkeys")
