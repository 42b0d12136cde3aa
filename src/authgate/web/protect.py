"""Authcode's decorator, ``@auth.protected(...)``, for whichever framework serves the request.

The decorator lives on :class:`~authgate.Auth`, which imports no framework:
at call time it asks the integrations that registered themselves here
(``authgate.flask`` and ``authgate.bottle`` do, when imported) which one is
handling the current request, and lets that one apply the rule. The rule is
the same :class:`~authgate.web.guard.Rule` the framework decorators use, so
``@auth.protected(role="admin")`` refuses exactly what
``@roles_accepted("admin")`` refuses.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from authgate.web.guard import Rule, check_specs

if TYPE_CHECKING:
    from authgate.auth import Auth

__all__ = ["Integration", "protected", "register"]

F = TypeVar("F", bound=Callable[..., Any])

#: A test of Authcode's ``protected(*tests)``: ``test(user, *view_args, **view_kwargs)``.
Test = Callable[..., Any]


class Integration(Protocol):
    """What a framework integration offers to ``@auth.protected()``."""

    def serving(self) -> bool:
        """Whether this framework is handling a request in the current context."""

    def enforce(self, auth: Auth, rule: Rule) -> tuple[Any | None, Any]:
        """Apply ``rule`` to the current request.

        Returns:
            ``(denial, user)``: the framework response refusing the request
            (``None`` when it passes) and the signed-in user.

        Raises:
            RuntimeError: ``auth`` is not the ``Auth`` set up on the app serving it.
        """

    def forbid(self, auth: Auth) -> Any:
        """The framework's 403 ``FORBIDDEN`` response (a failed test)."""


_integrations: list[Integration] = []


def register(integration: Integration) -> None:
    """Make ``integration`` available to ``@auth.protected()`` (once per integration type)."""
    if not any(type(known) is type(integration) for known in _integrations):
        _integrations.append(integration)


def _serving() -> Integration:
    for integration in _integrations:
        if integration.serving():
            return integration
    raise RuntimeError(
        "@auth.protected() views run while Flask or Bottle handles a request: set the "
        "app up with setup_for_flask(auth, app) or setup_for_bottle(auth, app) first"
    )


def _takes_a_user(test: Test) -> bool:
    """Whether ``test`` can be called with the user (a view used bare takes nothing)."""
    try:
        signature = inspect.signature(test)
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return True
    kinds = {p.kind for p in signature.parameters.values()}
    positional = {inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD}
    return bool(kinds & (positional | {inspect.Parameter.VAR_POSITIONAL}))


def protected(
    auth: Auth,
    tests: Sequence[Test],
    *,
    role: str | None = None,
    roles: Sequence[str] | None = None,
    csrf: bool | None = None,
) -> Callable[[F], F]:
    """The decorator behind :meth:`authgate.Auth.protected` (see there).

    Raises:
        TypeError: a test that is not callable, a bad role name, or a
            ``csrf`` that is not ``None``/``True``/``False``.
    """
    for test in tests:
        if not callable(test) or not _takes_a_user(test):
            raise TypeError(
                f"protected() takes tests (callables of the user and the view's arguments), "
                f"got {test!r}; use it called, with parentheses: @auth.protected()"
            )
    if csrf is not None and not isinstance(csrf, bool):
        raise TypeError(f"protected(csrf=...) takes True, False or None, got {csrf!r}")
    if isinstance(roles, str):
        raise TypeError("protected(roles=...) takes a list of role names; use role= for one")
    names = [*(roles or ()), *(() if role is None else (role,))]
    rule = Rule(csrf=csrf)
    if names:
        rule = dataclasses.replace(
            Rule.roles_any(*check_specs("protected", tuple(names), "role")), csrf=csrf
        )
    checks = tuple(tests)

    def decorator(view: F) -> F:
        if not callable(view):
            raise TypeError(f"@auth.protected(...) decorates a view function, got {view!r}")

        def admit(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any | None:
            integration = _serving()
            denial, user = integration.enforce(auth, rule)
            if denial is not None:
                return denial
            for check in checks:
                if not check(user, *args, **kwargs):
                    return integration.forbid(auth)
            return None

        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                denial = admit(args, kwargs)
                if denial is not None:
                    return denial
                return await view(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            denial = admit(args, kwargs)
            if denial is not None:
                return denial
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator
