"""authgate's initial schema: users, roles, their links, sessions, used tokens, emails.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def canonical(length: int) -> Any:
    """A canonical identifier column: binary collation on MySQL/MariaDB.

    Their default collations are case- and accent-insensitive, so ``jose@``
    and ``josé@`` would collide there only; the canonical form is computed
    in Python, so a byte-wise comparison is right.
    """
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )


def timestamp() -> Any:
    """A UTC timestamp (stored naive), with microseconds on MySQL/MariaDB too.

    Their plain ``DATETIME`` drops fractions of a second (MySQL 8 even rounds),
    which would reorder sessions and users created within one second and
    break compare-and-swap on timestamps.
    """
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def user_fk(name: str, **options: Any) -> sa.Column[Any]:
    """A column referencing ``authgate_users.id``, deleted with the user."""
    return sa.Column(
        name,
        sa.String(36),
        sa.ForeignKey("authgate_users.id", ondelete="CASCADE"),
        nullable=False,
        **options,
    )


def upgrade() -> None:
    """Create the six tables of authgate's default models."""
    op.create_table(
        "authgate_roles",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("permissions", sa.Text(), nullable=True),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.UniqueConstraint("name", name="uq_authgate_roles_name"),
        mysql_charset="utf8mb4",  # whatever the database's default is
    )
    op.create_table(
        "authgate_users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("email_canonical", canonical(255), nullable=False),
        sa.Column("username", sa.String(150), nullable=True),
        sa.Column("username_canonical", canonical(150), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("email_confirmed_at", timestamp(), nullable=True),
        sa.Column("security_stamp", sa.String(64), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("password_changed_at", timestamp(), nullable=True),
        sa.Column("last_sign_in_at", timestamp(), nullable=True),
        sa.Column("current_sign_in_at", timestamp(), nullable=True),
        sa.Column("last_sign_in_ip", sa.String(64), nullable=True),
        sa.Column("current_sign_in_ip", sa.String(64), nullable=True),
        sa.Column("sign_in_count", sa.Integer(), nullable=False),
        sa.UniqueConstraint("email_canonical", name="uq_authgate_users_email_canonical"),
        sa.UniqueConstraint("username_canonical", name="uq_authgate_users_username_canonical"),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "authgate_user_roles",
        user_fk("user_id", primary_key=True),
        sa.Column(
            "role_id",
            sa.String(36),
            sa.ForeignKey("authgate_roles.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Index("ix_authgate_user_roles_role_id", "role_id"),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "authgate_sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        user_fk("user_id"),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("last_seen_at", timestamp(), nullable=False),
        sa.Column("expires_at", timestamp(), nullable=False),
        sa.Column("authenticated_at", timestamp(), nullable=False),
        sa.Column("security_stamp", sa.String(64), nullable=False),
        sa.Column("remember", sa.Boolean(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_authgate_sessions_token_hash"),
        sa.Index("ix_authgate_sessions_user_id", "user_id"),
        sa.Index("ix_authgate_sessions_expires_at", "expires_at"),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "authgate_used_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("used_at", timestamp(), nullable=False),
        sa.Column("expires_at", timestamp(), nullable=False),
        sa.Index("ix_authgate_used_tokens_expires_at", "expires_at"),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "authgate_user_emails",
        sa.Column("id", sa.String(36), primary_key=True),
        user_fk("user_id"),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("email_canonical", canonical(255), nullable=False),
        sa.Column("confirmed_at", timestamp(), nullable=True),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.UniqueConstraint("email_canonical", name="uq_authgate_user_emails_email_canonical"),
        sa.Index("ix_authgate_user_emails_user_id", "user_id"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    """Drop authgate's tables (and every account in them)."""
    for table in (
        "authgate_user_emails",
        "authgate_used_tokens",
        "authgate_sessions",
        "authgate_user_roles",
        "authgate_users",
        "authgate_roles",
    ):
        op.drop_table(table)
