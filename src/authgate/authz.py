"""Framework-neutral role and permission checks, with Flask-Security's semantics.

``roles_required("starving", ["artist", "programmer"])`` means starving AND
(artist OR programmer): each string argument is required, each list argument
is satisfied by any one of its members. The same holds in every framework.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["RoleSpec", "has_all_permissions", "has_any_permission", "has_any_role", "has_roles"]

#: A role argument: a name (required) or a list of names (any one of them).
RoleSpec = str | Sequence[str]


def _names(user: Any) -> set[str]:
    return {role.name for role in user.roles}


def _flatten(specs: Iterable[RoleSpec]) -> list[str]:
    out: list[str] = []
    for spec in specs:
        out.extend([spec] if isinstance(spec, str) else spec)
    return out


def has_roles(user: Any, *roles: RoleSpec) -> bool:
    """String arguments are ALL required; a list argument needs ANY of its members."""
    held = _names(user)
    for spec in roles:
        if isinstance(spec, str):
            if spec not in held:
                return False
        elif not held.intersection(spec):
            return False
    return True


def has_any_role(user: Any, *roles: RoleSpec) -> bool:
    """Any one of the named roles (lists are flattened)."""
    return bool(_names(user).intersection(_flatten(roles)))


def _permissions(user: Any) -> set[str] | frozenset[str]:
    """The user's permissions: what an access token's user carries, else its roles' union."""
    carried = getattr(user, "permissions", None)
    if isinstance(carried, frozenset):  # a TokenUser: the token lists them, not its roles
        return carried
    granted: set[str] = set()
    for role in user.roles:
        granted |= role.get_permissions()
    return granted


def has_all_permissions(user: Any, *permissions: RoleSpec) -> bool:
    """String arguments are ALL required; a list argument needs ANY of its members."""
    held = _permissions(user)
    for spec in permissions:
        if isinstance(spec, str):
            if spec not in held:
                return False
        elif not held.intersection(spec):
            return False
    return True


def has_any_permission(user: Any, *permissions: RoleSpec) -> bool:
    """Any one of the named permissions."""
    return bool(_permissions(user).intersection(_flatten(permissions)))
