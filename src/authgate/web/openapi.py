"""OpenAPI 3.1 document generated from the route table (only enabled features).

The document is meant to be exact, so that a schema-driven fuzzer (the test
suite runs schemathesis against it) finds the server and the document in
agreement:

* request bodies declare the constraints the server checks (``required``,
  ``minLength``/``maxLength``, ``format``, ``pattern``, no other properties);
* every status an operation can answer is listed, with the error codes it
  may carry: the route's own (:attr:`Route.errors`) plus the generic ones
  (a body route: 400/413/415; a signed-in route: 401 and, for unsafe methods,
  403 ``CSRF_FAILED``; any route that reads the store: 503);
* browser answers too: the 303 redirect of a form post with ``?next=``, and
  the ``text/html`` confirm page of an emailed link;
* a 401 carries ``WWW-Authenticate``, a 429 and a 503 ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from authgate import __version__
from authgate.errors import AuthError, ErrorCode
from authgate.flows.validation import profile_fields, signup_fields
from authgate.models import app_fields

if TYPE_CHECKING:
    from authgate.web.api import AuthAPI, Route
    from authgate.web.guard import Rule

__all__ = ["SECURITY_SCHEMES", "build_openapi", "document_guard", "inline_refs"]

#: The schemes a guarded view may accept, by name in ``components.securitySchemes``.
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearerAuth": {"type": "http", "scheme": "bearer"},
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "basicAuth": {"type": "http", "scheme": "basic"},
}

_REF = "#/components/schemas/"
_HEADERS: dict[int, dict[str, Any]] = {
    303: {"Location": {"description": "Where the browser goes next", "required": True,
                       "schema": {"type": "string"}}},
    401: {"WWW-Authenticate": {"description": 'Bearer realm="authgate"', "required": True,
                               "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait", "required": True,
                          "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
    503: {"Retry-After": {"description": "Seconds to wait", "required": True,
                          "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
}  # fmt: skip


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def _status_of(code: str) -> int:
    for cls in _error_classes():
        if cls.default_code.value == code:
            return cls.default_status
    return 400


def _error_classes() -> list[type[AuthError]]:
    found: list[type[AuthError]] = []
    stack: list[type[AuthError]] = [AuthError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


#: The one error shape of SPEC §2.
_ERROR: dict[str, Any] = _object(
    {
        "error": _object(
            {
                "code": {"type": "string", "enum": [c.value for c in ErrorCode]},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "VALIDATION_ERROR: failing field -> reason",
                },
                "retry_after": {"type": "integer"},
                "challenge": {
                    "type": "string",
                    "description": "TWO_FACTOR_REQUIRED: for /two-factor/verify",
                },
                "methods": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "TWO_FACTOR_REQUIRED: the factors that complete it",
                },
                "setup_required": {
                    "type": "boolean",
                    "description": "TWO_FACTOR_REQUIRED: "
                    "the account must set up a second factor first",
                },
            },
            ["code", "message"],
        )
    },
    ["error"],
)


def _schemas(api: AuthAPI) -> dict[str, Any]:
    user_props: dict[str, Any] = {
        "id": {"type": "string"},
        "email": {"type": "string", "format": "email"},
        "username": {"type": ["string", "null"]},
        "is_active": {"type": "boolean"},
        "email_confirmed": {"type": "boolean"},
        "roles": {"type": "array", "items": {"type": "string"}},
    }
    for name in app_fields(api.auth.User):
        user_props[name] = {"description": "Application field"}
    instant = {"type": "string", "format": "date-time"}
    user = {"$ref": _REF + "User"}
    settings = api.auth.settings
    result: dict[str, Any] = {
        "user": user,
        "token": {
            "type": ["string", "null"],
            "description": "Access token (JWT) with jwt_access_tokens, else the session "
            "token; null when email confirmation comes first",
        },
    }
    if settings.jwt_enabled:
        result["refresh_token"] = {"type": "string", "description": "Present with a token"}
        result["expires_in"] = {"type": "integer", "description": "Seconds the token is valid"}
        result["token_type"] = {"type": "string", "const": "Bearer"}
        if settings.auth101_compat:
            result["access_token"] = {"type": "string", "description": "auth101's name of token"}
    nullable_instant = {"type": ["string", "null"], "format": "date-time"}
    api_key = _object(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "prefix": {"type": "string"},
            "scopes": {"type": "array", "items": {"type": "string"}},
            "allowed_ips": {"type": "array", "items": {"type": "string"}},
            "created_at": instant,
            "expires_at": nullable_instant,
            "last_used_at": nullable_instant,
            "last_used_ip": {"type": ["string", "null"]},
        },
        ["id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at"],
    )
    return {
        "User": _object(user_props, ["id", "email", "username", "is_active", "email_confirmed",
                                     "roles"]),
        "AuthResult": _object(result, ["user", "token"]),
        "JWKS": _object({"keys": {"type": "array", "items": {"type": "object"}}}, ["keys"]),
        "ApiKey": api_key,
        "ApiKeyCreated": _object(
            {"api_key": {"$ref": _REF + "ApiKey"},
             "key": {"type": "string", "description": "The key itself, shown this once"}},
            ["api_key", "key"],
        ),
        "ApiKeyList": _object(
            {"api_keys": {"type": "array", "items": {"$ref": _REF + "ApiKey"}}}, ["api_keys"]
        ),
        "PasskeyOptions": {
            "type": "object",
            "description": "WebAuthn options (PublicKeyCredentialCreationOptions or "
            "RequestOptions as JSON, binary values in base64url) and the ceremony's state",
            "properties": {"challenge": {"type": "string"}, "state": {"type": "string"}},
            "required": ["challenge", "state"],
        },
        "Passkey": _object(
            {"id": {"type": "string"}, "name": {"type": "string"}, "created_at": instant,
             "last_used_at": {"type": ["string", "null"], "format": "date-time"},
             "backed_up": {"type": "boolean"}},
            ["id", "name", "created_at", "last_used_at"],
        ),
        "PasskeyResult": _object({"passkey": {"$ref": _REF + "Passkey"}}, ["passkey"]),
        "PasskeyList": _object(
            {"passkeys": {"type": "array", "items": {"$ref": _REF + "Passkey"}}}, ["passkeys"]
        ),
        "UserResult": _object({"user": user}, ["user"]),
        "SessionResult": _object(
            {
                "user": user,
                "session": _object(
                    {
                        "id": {"type": "string"},
                        "expires_at": {**instant, "description": "The hard end (UTC)"},
                        "idle_expires_at": {
                            "type": ["string", "null"], "format": "date-time",
                            "description": "The end unless the session is used before (UTC); "
                            "null when it does not idle-expire",
                        },
                    },
                    ["id", "expires_at", "idle_expires_at"],
                ),
                "two_factor_setup_required": {
                    "type": "boolean", "description": "Present (true) when the account must "
                    "set up a second factor; the pages send it to the set-up"},
                "two_factor_setup_by": {
                    **nullable_instant, "description": "When the grace period ends"},
            },
            ["user", "session"],
        ),
        "TotpSetup": _object(
            {"secret": {"type": "string", "description": "Base32, for typing into the app"},
             "uri": {"type": "string", "description": "The otpauth:// URI the QR code holds"},
             "qr_svg": {"type": "string", "description": "The QR code as inline SVG markup"}},
            ["secret", "uri", "qr_svg"],
        ),
        "RecoveryCodes": _object(
            {"recovery_codes": {"type": "array", "items": {"type": "string"},
                                "description": "Ten codes, shown this once"},
             **{name: {**schema, "description": "With a challenge: the sign-in it completes"}
                for name, schema in result.items() if name == "token"},
             "user": user},
            ["recovery_codes"],
        ),
        "TwoFactorStatus": _object(
            {"enabled": {"type": "boolean"}, "totp": {"type": "boolean"},
             "email": {"type": "boolean",
                       "description": "Emailed codes are the user's own second factor"},
             "methods": {"type": "array", "items": {"type": "string"}},
             "recovery_codes_left": {"type": "integer"},
             "setup_required": {"type": "boolean"}, "setup_by": nullable_instant,
             "trusted_devices": {"type": "boolean"}},
            ["enabled", "totp", "email", "methods", "recovery_codes_left", "setup_required"],
        ),
        "Success": _object({"success": {"type": "boolean", "const": True}}, ["success"]),
        "Session": _object(
            {"id": {"type": "string"}, "created_at": instant, "last_seen_at": instant,
             "expires_at": instant, "ip": {"type": ["string", "null"]},
             "user_agent": {"type": ["string", "null"]}, "current": {"type": "boolean"}},
            ["id", "created_at", "last_seen_at", "expires_at", "ip", "user_agent", "current"],
        ),
        "SessionList": _object(
            {"sessions": {"type": "array", "items": {"$ref": _REF + "Session"}}}, ["sessions"]
        ),
        "OpenAPI": {"type": "object"},
        "Html": {"type": "string", "description": "An HTML page"},
        "EmailList": _object(
            {"emails": {"type": "array", "items": _object(
                {"id": {"type": "string"}, "email": {"type": "string"},
                 "confirmed": {"type": "boolean"}, "primary": {"type": "boolean"}},
                ["id", "email", "confirmed", "primary"],
            )}},
            ["emails"],
        ),
        "SecurityEventList": _object(
            {"events": {"type": "array", "items": _object(
                {"kind": {"type": "string"}, "at": instant,
                 "ip": {"type": ["string", "null"]}, "user_agent": {"type": ["string", "null"]},
                 "outcome": {"type": "string", "enum": ["success", "failure"]}},
                ["kind", "at", "ip", "user_agent", "outcome"],
            )}},
            ["events"],
        ),
        "Error": _ERROR,
    }  # fmt: skip


def _field(api: AuthAPI, spec: dict[str, Any]) -> dict[str, Any]:
    """A body field's schema with the limits that depend on settings filled in."""
    schema = dict(spec)
    kind = schema.pop("x-authgate-password", None)
    if kind is not None:
        settings = api.auth.settings
        schema["maxLength"] = settings.password_max_length
        if kind == "new":
            schema["minLength"] = settings.password_min_length
            schema["description"] = (
                f"The new password: {settings.password_min_length} to "
                f"{settings.password_max_length} characters (after NFKC normalisation)"
            )
    return schema


def _body_schema(api: AuthAPI, route: Route) -> dict[str, Any]:
    fields = dict(route.fields)
    if route.name == "reauthenticate" and not api.auth.settings.passkeys:
        # Without passkeys the password is the only credential a session can prove again.
        fields = {"password": (fields["password"][0], True)}
    if route.open_body:  # the app columns allowed (at sign-up, or on the profile)
        if not api.auth.settings.usernames:
            fields.pop("username", None)
        allowed = profile_fields if route.name == "updateUser" else signup_fields
        for name in allowed(api.auth.settings, api.auth.User):
            fields[name] = ({"type": ["string", "integer", "number", "boolean", "null"],
                             "description": "Application field"}, False)  # fmt: skip
    required = [name for name, (_, req) in fields.items() if req]
    if route.open_body and api.auth.settings.usernames and "username" in fields:
        required.append("username")
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: _field(api, spec) for name, (spec, _) in fields.items()},
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _error_response(codes: list[str], status: int, *, inline: bool = False) -> dict[str, Any]:
    """A documented error status; ``inline``: the error schema written out (no components)."""
    code_schema = {"type": "string", "enum": sorted(set(codes))}
    error = _ERROR if inline else {"$ref": _REF + "Error"}
    response: dict[str, Any] = {
        "description": " or ".join(sorted(set(codes))),
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [
                        error,
                        {"properties": {"error": {"properties": {"code": code_schema}}}},
                    ]
                }
            }
        },
    }
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return response


def _error_codes(route: Route) -> list[str]:
    """Every error code ``route`` can answer (its own and the generic ones)."""
    codes = list(route.errors)
    takes_body = bool(route.fields or route.open_body or route.form)
    if takes_body:
        codes += ["VALIDATION_ERROR", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"]
    if route.form:
        codes.append("CSRF_FAILED")  # the confirm page's form without its nonce
    if route.auth:
        codes += ["UNAUTHORIZED", "INVALID_TOKEN", "USER_NOT_FOUND"]
        if route.method not in ("GET", "HEAD"):
            codes.append("CSRF_FAILED")
    if route.name != "openapi":
        codes.append("SERVICE_UNAVAILABLE")
    return codes


def _operation(api: AuthAPI, route: Route) -> dict[str, Any]:
    ok: dict[str, Any] = {
        "description": "Success",
        "content": {"application/json": {"schema": {"$ref": _REF + route.response}}},
    }
    if route.response == "Html":
        ok = {
            "description": "The confirm page (nothing is used by showing it)",
            "content": {"text/html": {"schema": {"$ref": _REF + "Html"}}},
        }
    elif route.method == "GET" and "token" in route.query:
        ok["description"] = (
            "JSON when the client asks for it (Accept: application/json); "
            "otherwise the confirm page, which uses nothing"
        )
        ok["content"]["text/html"] = {"schema": {"$ref": _REF + "Html"}}
    op: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": ["authgate"],
        "responses": {"200": ok},
    }
    parameters = [  # a link page opens without its token too (its form then fails)
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in route.query
    ]
    if route.redirects:
        parameters.append({
            "name": "next", "in": "query", "required": False, "schema": {"type": "string"},
            "description": "Browsers (Accept: text/html) are redirected here on success "
            "(a path on this site; anything else goes to the default page)",
        })  # fmt: skip
        op["responses"]["303"] = {
            "description": "A browser form post with ?next= goes there",
            "headers": _HEADERS[303],
        }
    if parameters:
        op["parameters"] = parameters
    if route.fields or route.open_body:
        schema = _body_schema(api, route)
        content: dict[str, Any] = {"application/json": {"schema": schema}}
        if route.form:
            form_schema = {
                **schema,
                "properties": {**schema["properties"], "nonce": {"type": "string"}},
                "required": [*schema.get("required", ()), "nonce"],
            }
            content["application/x-www-form-urlencoded"] = {"schema": form_schema}
        op["requestBody"] = {"required": True, "content": content}
    by_status: dict[int, list[str]] = {}
    for code in _error_codes(route):
        if code == "TWO_FACTOR_REQUIRED" and not api.auth.settings.two_factor:
            continue  # a sign-in answers it only with two_factor on
        by_status.setdefault(_status_of(code), []).append(code)
    for status, codes in sorted(by_status.items()):
        op["responses"][str(status)] = _error_response(codes, status)
    if route.auth:
        op["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
    return op


def document_guard(operation: dict[str, Any], rules: list[Rule | None], method: str) -> set[str]:
    """Add to an app's own operation what authgate's guards on it may answer.

    Args:
        operation: the operation object (changed in place).
        rules: the rules of the guards the view depends on; ``None`` stands for
            an optional user (any credential, or none).
        method: the operation's HTTP method.

    Returns:
        The names of the :data:`SECURITY_SCHEMES` the operation now refers to.
    """
    required = [rule for rule in rules if rule is not None]
    mechanisms = {m for rule in required for m in rule.mechanisms} or {"token", "api_key"}
    schemes = (("bearerAuth", {"token", "api_key"}), ("apiKeyAuth", {"api_key"}),
               ("basicAuth", {"basic"}))  # fmt: skip
    names = [name for name, accepted in schemes if accepted & mechanisms]
    requirements = operation.setdefault("security", [])
    for name in names:
        if {name: []} not in requirements:
            requirements.append({name: []})
    if not names:  # a cookie-only view: no scheme a client could be given
        operation.pop("security")
    if not required:  # an optional user: no credential is fine too
        if names and {} not in requirements:
            requirements.append({})
        return set(names)
    codes = ["UNAUTHORIZED", "INVALID_TOKEN", "USER_NOT_FOUND"]
    if "basic" in mechanisms:
        codes += ["INVALID_CREDENTIALS", "RATE_LIMITED"]
    if "api_key" in mechanisms:
        codes += ["RATE_LIMITED", "ACCOUNT_DISABLED"]
    if any(rule.predicate is not None or rule.scopes for rule in required):
        codes.append("FORBIDDEN")
    if "session" in mechanisms and method.upper() not in ("GET", "HEAD", "OPTIONS"):
        codes.append("CSRF_FAILED")
    codes.append("SERVICE_UNAVAILABLE")
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(_status_of(code), []).append(code)
    responses = operation.setdefault("responses", {})
    for status, status_codes in by_status.items():
        responses.setdefault(str(status), _error_response(status_codes, status, inline=True))
    return set(names)


def inline_refs(node: Any, schemas: Mapping[str, Any]) -> Any:
    """``node`` with every ``#/components/schemas/...`` reference replaced by its schema."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            return inline_refs(schemas[ref[len(_REF) :]], schemas)
        return {key: inline_refs(value, schemas) for key, value in node.items()}
    if isinstance(node, list):
        return [inline_refs(value, schemas) for value in node]
    return node


def build_openapi(api: AuthAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 description of ``api``'s enabled routes, with the prefix."""
    paths: dict[str, dict[str, Any]] = {}
    for route in api.routes:
        if not api.enabled(route):
            continue
        paths.setdefault(api.prefix + route.path, {})[route.method.lower()] = _operation(api, route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "authgate", "version": __version__,
                 "description": "Authentication and account management JSON API. Every error "
                 "is {\"error\": {\"code\", \"message\"}}; unknown paths under the prefix are "
                 "404 NOT_FOUND, other methods 405 METHOD_NOT_ALLOWED (with Allow), unexpected "
                 "failures 500 INTERNAL_ERROR with a reference."},
        "paths": paths,
        "components": {
            "schemas": _schemas(api),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "cookieAuth": {"type": "apiKey", "in": "cookie",
                               "name": api.credentials.cookie_name},
            },
        },
    }  # fmt: skip
