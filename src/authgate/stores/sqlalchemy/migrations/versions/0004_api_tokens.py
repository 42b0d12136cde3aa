"""Tokens for APIs: ``authgate_refresh_tokens`` and ``authgate_api_keys``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-20
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def timestamp() -> Any:
    """A UTC timestamp (stored naive), with microseconds on MySQL/MariaDB too (see 0001)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    """Create the refresh-token and API-key tables and their indexes."""
    op.create_table(
        "authgate_refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(36),
            sa.ForeignKey("authgate_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("expires_at", timestamp(), nullable=False),
        sa.Column("used_at", timestamp(), nullable=True),
        sa.Index("ix_authgate_refresh_tokens_session_id", "session_id"),
        sa.Index("ix_authgate_refresh_tokens_expires_at", "expires_at"),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "authgate_api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("authgate_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=True),
        sa.Column("allowed_ips", sa.Text(), nullable=True),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("expires_at", timestamp(), nullable=True),
        sa.Column("last_used_at", timestamp(), nullable=True),
        sa.Column("last_used_ip", sa.String(64), nullable=True),
        sa.UniqueConstraint("key_hash", name="uq_authgate_api_keys_key_hash"),
        sa.Index("ix_authgate_api_keys_user_id", "user_id"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    """Drop both tables (every refresh token and API key with them)."""
    op.drop_table("authgate_api_keys")
    op.drop_table("authgate_refresh_tokens")
