"""Second factors: ``authgate_two_factor`` and ``authgate_recovery_codes``.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def timestamp() -> Any:
    """A UTC timestamp (stored naive), with microseconds on MySQL/MariaDB too (see 0001)."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    """Create the second-factor and recovery-code tables."""
    op.create_table(
        "authgate_two_factor",
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("authgate_users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("totp_secret", sa.Text(), nullable=True),
        sa.Column("totp_pending_secret", sa.Text(), nullable=True),
        sa.Column("totp_enabled_at", timestamp(), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=False),
        sa.Column("email_code_hash", sa.String(64), nullable=True),
        sa.Column("email_code_challenge", sa.String(64), nullable=True),
        sa.Column("email_code_expires_at", timestamp(), nullable=True),
        sa.Column("email_enabled_at", timestamp(), nullable=True),
        sa.Column("grace_started_at", timestamp(), nullable=True),
        sa.Column("trust_epoch", sa.String(32), nullable=False),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "authgate_recovery_codes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("authgate_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("used_at", timestamp(), nullable=True),
        sa.UniqueConstraint("user_id", "code_hash", name="uq_authgate_recovery_codes_user_code"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    """Drop both tables (every second factor with them)."""
    op.drop_table("authgate_recovery_codes")
    op.drop_table("authgate_two_factor")
