"""OpenAPI 3.1 document generated from the route table (only enabled features)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authgate import __version__
from authgate.errors import AuthError, ErrorCode
from authgate.models import app_fields

if TYPE_CHECKING:
    from authgate.web.api import AuthAPI, Route

__all__ = ["build_openapi"]


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
    return {
        "User": {
            "type": "object",
            "properties": user_props,
            "required": ["id", "email", "username", "is_active", "email_confirmed", "roles"],
        },
        "AuthResult": {
            "type": "object",
            "properties": {
                "user": {"$ref": "#/components/schemas/User"},
                "token": {
                    "type": ["string", "null"],
                    "description": "Session token; null when email confirmation comes first",
                },
            },
            "required": ["user", "token"],
        },
        "UserResult": {
            "type": "object",
            "properties": {"user": {"$ref": "#/components/schemas/User"}},
            "required": ["user"],
        },
        "Success": {
            "type": "object",
            "properties": {"success": {"type": "boolean", "const": True}},
            "required": ["success"],
        },
        "Session": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "last_seen_at": {"type": "string", "format": "date-time"},
                "expires_at": {"type": "string", "format": "date-time"},
                "ip": {"type": ["string", "null"]},
                "user_agent": {"type": ["string", "null"]},
                "current": {"type": "boolean"},
            },
            "required": [
                "id",
                "created_at",
                "last_seen_at",
                "expires_at",
                "ip",
                "user_agent",
                "current",
            ],
        },
        "SessionList": {
            "type": "object",
            "properties": {
                "sessions": {"type": "array", "items": {"$ref": "#/components/schemas/Session"}}
            },
            "required": ["sessions"],
        },
        "OpenAPI": {"type": "object"},
        "SecurityEventList": {
            "type": "object",
            "properties": {
                "events": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "kind": {"type": "string"},
                            "at": {"type": "string", "format": "date-time"},
                            "ip": {"type": ["string", "null"]},
                            "user_agent": {"type": ["string", "null"]},
                            "outcome": {"type": "string", "enum": ["success", "failure"]},
                        },
                        "required": ["kind", "at", "ip", "user_agent", "outcome"],
                    },
                }
            },
            "required": ["events"],
        },
        "EmailList": {
            "type": "object",
            "properties": {
                "emails": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "email": {"type": "string"},
                            "confirmed": {"type": "boolean"},
                            "primary": {"type": "boolean"},
                        },
                        "required": ["id", "email", "confirmed", "primary"],
                    },
                }
            },
            "required": ["emails"],
        },
        "Error": {
            "type": "object",
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string", "enum": [c.value for c in ErrorCode]},
                        "message": {"type": "string"},
                        "fields": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "description": "VALIDATION_ERROR: failing field -> reason",
                        },
                        "retry_after": {"type": "integer"},
                    },
                    "required": ["code", "message"],
                }
            },
            "required": ["error"],
        },
    }


def _operation(api: AuthAPI, route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": ["authgate"],
        "responses": {
            "200": {
                "description": "Success",
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{route.response}"}
                    }
                },
            }
        },
    }
    if route.query:
        op["parameters"] = [
            {
                "name": name,
                "in": "query",
                "required": name not in route.optional_query,
                "schema": {"type": "string"},
            }
            for name in route.query
        ]
    if route.response == "Html":
        op["responses"]["200"] = {
            "description": "An HTML page (browsers only)",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    if route.fields or route.open_body:
        required = [name for name, (_, req) in route.fields.items() if req]
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {name: spec for name, (spec, _) in route.fields.items()},
            "additionalProperties": route.open_body,
        }
        if required:
            schema["required"] = required
        content: dict[str, Any] = {"application/json": {"schema": schema}}
        if route.form:
            form_schema = {
                **schema,
                "properties": {**schema["properties"], "nonce": {"type": "string"}},
            }
            content["application/x-www-form-urlencoded"] = {"schema": form_schema}
        op["requestBody"] = {"required": True, "content": content}
    by_status: dict[int, list[str]] = {}
    for code in route.errors:
        by_status.setdefault(_status_of(code), []).append(code)
    for status, codes in sorted(by_status.items()):
        op["responses"][str(status)] = {
            "description": " or ".join(codes),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    if route.auth:
        op["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
    return op


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
                 "description": "Authentication and account management JSON API."},
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
