"""What the HTTP contract suite does not cover for FastAPI.

Covered here: the routes in FastAPI's own OpenAPI document, valid OpenAPI
documents, the dependencies' seams (missing setup, bad arguments, caching,
threads), the 401 body and the login redirect, body limits, and a real uvicorn
server whose event loop stays responsive while passwords are being hashed.
"""

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import Depends, FastAPI
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from authgate import Auth
from authgate.fastapi import (
    CurrentUser,
    current_user,
    optional_user,
    require_anonymous,
    require_any_role,
    require_auth,
    require_permissions,
    require_roles,
    setup_for_fastapi,
)
from authgate.web.api import AuthAPI
from authgate.web.guard import Guard
from authgate.web.http import MAX_BODY_BYTES
from tests.web.apps.fastapi_app import create_app

ROOT = Path(__file__).resolve().parents[2]
SECRET = "fastapi-integration-test-secret-0123456789"
EMAIL, PASSWORD = "alice@example.com", "correct horse battery"


def make_auth(**settings: Any) -> Auth:
    """Cheap hashing: these tests are about translation, not argon2."""
    return Auth(
        SECRET, argon2_memory_cost=1024, argon2_time_cost=1, cookie_secure=False, **settings
    )


@pytest.fixture
def auth() -> Auth:
    return make_auth()


@pytest.fixture
def app(auth: Auth) -> FastAPI:
    return create_app(auth)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def sign_up(client: TestClient, email: str = EMAIL, prefix: str = "/auth") -> str:
    response = client.post(f"{prefix}/sign-up/email", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- OpenAPI ------------------------------------------------------------------------
def test_every_enabled_route_is_in_fastapis_openapi(app: FastAPI, client: TestClient) -> None:
    ours = client.get("/auth/openapi.json").json()
    theirs = app.openapi()
    assert ours["paths"], "authgate's document lists the enabled routes"
    for path, operations in ours["paths"].items():
        for method, operation in operations.items():
            listed = theirs["paths"][path][method]
            assert listed["operationId"] == operation["operationId"]
            assert listed["summary"] == operation["summary"]
            assert listed["tags"] == ["authgate"]
            assert listed.get("requestBody") == operation.get("requestBody")
            assert listed.get("parameters") == operation.get("parameters")
            assert set(operation["responses"]) <= set(listed["responses"])

    sign_in = theirs["paths"]["/auth/sign-in/email"]["post"]
    schema = sign_in["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["email", "password"]
    assert set(schema["properties"]) == {"email", "password", "remember"}
    assert schema["additionalProperties"] is False
    error = sign_in["responses"]["401"]["content"]["application/json"]["schema"]
    assert error["allOf"][0]["properties"]["error"]["required"] == ["code", "message"]
    assert error["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"] == [
        "INVALID_CREDENTIALS"
    ]
    assert sign_in["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True
    user = sign_in["responses"]["200"]["content"]["application/json"]["schema"]
    assert user["properties"]["user"]["properties"]["email"] == {
        "type": "string",
        "format": "email",
    }

    session = theirs["paths"]["/auth/session"]["get"]
    assert {"bearerAuth": []} in session["security"]
    assert {"cookieAuth": []} in session["security"]
    assert "security" not in sign_in
    assert "$ref" not in str(sign_in), "authgate's schemas are inlined"


def test_the_app_s_protected_routes_document_the_bearer_scheme(app: FastAPI) -> None:
    @app.get("/doc-me")
    def doc_me(user: CurrentUser) -> dict[str, Any]:
        return {"email": user.email}

    @app.get("/doc-admin", dependencies=[Depends(require_roles("admin"))])
    def doc_admin() -> dict[str, Any]:
        return {}

    @app.get("/doc-maybe")
    def maybe(user: Annotated[Any, Depends(optional_user)]) -> dict[str, Any]:
        return {}

    def nested(user: CurrentUser) -> str:
        return str(user.email)

    @app.get("/doc-nested")
    def uses_nested(email: Annotated[str, Depends(nested)]) -> dict[str, Any]:
        return {}

    @app.get("/doc-cookie-only", dependencies=[Depends(require_auth("session"))])
    def cookie_only() -> dict[str, Any]:
        return {}

    @app.get("/doc-open")
    def open_route() -> dict[str, Any]:
        return {}

    document = app.openapi()
    validate(document)
    paths = document["paths"]
    schemes = [{"bearerAuth": []}, {"apiKeyAuth": []}]  # tokens, and API keys (X-API-Key)
    for path in ["/doc-me", "/doc-admin", "/doc-nested"]:
        assert paths[path]["get"]["security"] == schemes, path
        assert paths[path]["get"]["responses"]["401"]["headers"]["WWW-Authenticate"], path
    assert paths["/doc-maybe"]["get"]["security"] == [*schemes, {}]  # optional
    assert "401" not in paths["/doc-maybe"]["get"]["responses"]
    assert "FORBIDDEN" in paths["/doc-admin"]["get"]["responses"]["403"]["description"]
    # An API key's owner may be deactivated (403), but no role is asked of the user.
    assert paths["/doc-me"]["get"]["responses"]["403"]["description"] == "ACCOUNT_DISABLED"
    assert "security" not in paths["/doc-cookie-only"]["get"]
    assert "401" in paths["/doc-cookie-only"]["get"]["responses"]
    assert "security" not in paths["/doc-open"]["get"]
    assert "401" not in paths["/doc-open"]["get"]["responses"]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert document["components"]["securitySchemes"]["apiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }


def test_switched_off_features_are_served_but_not_listed() -> None:
    app = create_app(make_auth())
    off = TestClient(app)
    assert "/auth/sign-in/username" not in app.openapi()["paths"]
    assert "/auth/sign-in/username" not in off.get("/auth/openapi.json").json()["paths"]
    response = off.post("/auth/sign-in/username", json={"username": "al", "password": PASSWORD})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "FEATURE_DISABLED")

    app = create_app(make_auth(usernames=True))
    on = TestClient(app)
    assert "/auth/sign-in/username" in app.openapi()["paths"]
    assert "/auth/sign-in/username" in on.get("/auth/openapi.json").json()["paths"]


def test_both_openapi_documents_are_valid(app: FastAPI, client: TestClient) -> None:
    ours = client.get("/auth/openapi.json").json()
    assert ours["openapi"].startswith("3.1")
    validate(ours)
    validate(app.openapi())


def test_custom_prefix() -> None:
    client = TestClient(create_app(make_auth(), prefix="/api/auth"))
    token = sign_up(client, prefix="/api/auth")
    assert client.get("/api/auth/session", headers=bearer(token)).json()["user"]["email"] == EMAIL
    assert client.get("/auth/session", headers=bearer(token)).status_code == 404
    paths = client.get("/api/auth/openapi.json").json()["paths"]
    assert paths and all(path.startswith("/api/auth/") for path in paths)


# -- translation --------------------------------------------------------------------
def test_sign_in_keeps_every_set_cookie(client: TestClient) -> None:
    sign_up(client)
    response = client.post("/auth/sign-in/email", json={"email": EMAIL, "password": PASSWORD})
    cookies = response.headers.get_list("set-cookie")
    assert [c.split("=")[0] for c in cookies] == ["authgate_session", "authgate_csrf"]
    assert response.headers["x-csrf-token"]
    assert response.headers["cache-control"] == "no-store"


def test_wrong_method_is_authgates_json_405(client: TestClient) -> None:
    response = client.get("/auth/sign-in/email")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["allow"] == "OPTIONS, POST"


def chunks(size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        yield b" " * 4096
        sent += 4096


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_body_over_the_limit_is_refused(client: TestClient, chunked: bool) -> None:
    size = MAX_BODY_BYTES + 8192
    content: Any = chunks(size) if chunked else b" " * size
    response = client.post(
        "/auth/sign-in/email", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


# -- dependencies -------------------------------------------------------------------
def test_current_user_401_is_the_spec_error(client: TestClient) -> None:
    response = client.get("/protected")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert list(body) == ["error"]
    assert body["error"]["code"] == "UNAUTHORIZED"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]

    bad = client.get("/protected", headers=bearer("not-a-token"))
    assert (bad.status_code, bad.json()["error"]["code"]) == (401, "INVALID_TOKEN")
    assert client.get("/optional", headers=bearer("not-a-token")).json() == {"email": None}


def test_page_requests_are_redirected_to_login_with_a_safe_next(client: TestClient) -> None:
    html = {"Accept": "text/html,application/xhtml+xml", "Host": "evil.example"}
    response = client.get("/protected?tab=security", headers=html)
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/login?next=" + quote(
        "/protected?tab=security", safe=""
    )

    # Signed in but lacking the role: a page gets the JSON 403, not a login loop.
    token = sign_up(client)
    forbidden = client.get("/admin", headers={**html, **bearer(token)})
    assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (403, "FORBIDDEN")
    # Signed in on an anonymous-only page: back to the app.
    anon = client.get("/anon", headers={**html, **bearer(token)})
    assert (anon.status_code, anon.headers["location"]) == (303, "/")


def test_role_arguments_keep_their_all_and_any_meaning(auth: Auth, client: TestClient) -> None:
    token = sign_up(client)
    user = auth.users.get_user(EMAIL)

    def grant(name: str, **kwargs: Any) -> None:
        auth.users.add_role_to_user(user, auth.users.find_or_create_role(name, **kwargs))

    assert client.get("/starving", headers=bearer(token)).status_code == 403
    grant("starving")
    assert client.get("/starving", headers=bearer(token)).status_code == 403
    grant("programmer")
    assert client.get("/starving", headers=bearer(token)).status_code == 200
    assert client.get("/accepted", headers=bearer(token)).status_code == 403
    grant("author")
    assert client.get("/accepted", headers=bearer(token)).status_code == 200
    assert client.get("/perm", headers=bearer(token)).status_code == 403
    grant("editor", permissions=["post.edit"])
    assert client.get("/perm", headers=bearer(token)).json() == {"email": EMAIL}


@pytest.mark.parametrize(
    "dependency",
    [current_user, optional_user, require_roles("admin"), require_anonymous, require_auth()],
    ids=["CurrentUser", "OptionalUser", "require_roles", "require_anonymous", "require_auth"],
)
def test_dependencies_without_setup_say_which_call_is_missing(
    dependency: Callable[..., Any],
) -> None:
    app = FastAPI()

    @app.get("/", dependencies=[Depends(dependency)])
    def view() -> None:
        return None

    with pytest.raises(RuntimeError, match=r"call setup_for_fastapi\(auth, app\) first"):
        TestClient(app).get("/")


def test_one_authentication_per_request_store_work_off_the_event_loop(
    auth: Auth, app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int]] = []

    def spy(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            seen.append((name, threading.get_ident()))
            return method(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(Guard, "check", spy("check", Guard.check))
    monkeypatch.setattr(AuthAPI, "dispatch", spy("dispatch", AuthAPI.dispatch))
    monkeypatch.setattr(auth.store, "get_session", spy("store", auth.store.get_session))

    async def loop_thread() -> int:
        return threading.get_ident()

    def email(user: CurrentUser) -> str:
        return str(user.email)

    # Same rule, same callable: FastAPI's per-request cache applies across uses.
    assert require_roles("a", ["b", "c"]) is require_roles("a", ["b", "c"])
    assert require_auth("token") is require_auth("token")

    @app.get("/twice")
    def twice(
        user: CurrentUser,
        again: Annotated[str, Depends(email)],
        loop: Annotated[int, Depends(loop_thread)],
    ) -> dict[str, Any]:
        return {"same": user.email == again, "loop": loop}

    token = sign_up(client)
    assert [name for name, _ in seen] == ["dispatch"]
    seen.clear()
    # Not cached yet: the check on the event loop gives way to the same check in a
    # worker thread, which asks the store.
    response = client.get("/twice", headers=bearer(token)).json()
    loop = response["loop"]
    assert response["same"] is True
    assert [name for name, _ in seen] == ["check", "check", "store"], "resolved once per request"
    assert seen[0][1] == loop and seen[1][1] != loop and seen[2][1] != loop
    # Cached: answered on the event loop, no store work at all.
    seen.clear()
    response = client.get("/twice", headers=bearer(token)).json()
    assert response == {"same": True, "loop": loop}
    assert seen == [("check", loop)]
    # Store work never runs on the event loop: a revoked session is looked up in a worker.
    auth.sign_out(token)
    seen.clear()
    assert client.get("/twice", headers=bearer(token)).status_code == 401
    assert [name for name, _ in seen] == ["check", "check", "store"]
    assert all(thread != loop for name, thread in seen if name == "store")

    seen.clear()
    client.get("/auth/session", headers=bearer(sign_up(client, "bob@example.com")))
    dispatch_thread = next(thread for name, thread in seen if name == "dispatch")
    assert dispatch_thread != loop, "the API ran in a worker thread"


def test_bad_arguments_fail_at_definition(auth: Auth) -> None:
    with pytest.raises(TypeError, match="at least one"):
        require_roles()
    with pytest.raises(TypeError, match="at least one"):
        require_any_role("editor", [])
    with pytest.raises(TypeError, match="at least one"):
        require_permissions()
    with pytest.raises(ValueError, match=r"'jwt'.*'session'"):
        require_auth("jwt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must start with '/'"):
        setup_for_fastapi(auth, FastAPI(), prefix="auth")
    app = FastAPI()
    assert setup_for_fastapi(auth, app) is auth
    with pytest.raises(RuntimeError, match="already"):
        setup_for_fastapi(auth, app)


def test_import_without_fastapi_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['fastapi'] = None\n"
        "sys.modules['starlette'] = None\n"
        "import authgate.fastapi\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert 'pip install "authgate[fastapi]"' in result.stderr


# -- a real server: hashing never blocks the event loop ------------------------------
SERVER = """
import socket, sys
import uvicorn
from authgate import Auth
from tests.web.apps.fastapi_app import create_app

# Production argon2 parameters (no cost overrides).
app = create_app(Auth(sys.argv[1], database_url=sys.argv[2], cookie_secure=False))
# IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only then (proto 0 would let Nagle's
# algorithm and delayed ACKs add 40 ms to every keep-alive response).
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(sockets=[sock])
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A uvicorn server in a subprocess (its own GIL), stopped by the test."""
    command = [sys.executable, "-c", SERVER, SECRET, f"sqlite:///{tmp_path / 'auth.db'}"]
    # cwd: `python -c` puts the working directory first on sys.path, so `tests` imports.
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            base = f"http://127.0.0.1:{int(process.stdout.readline())}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/public", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
                time.sleep(0.05)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@dataclass
class Round:
    alone: float  # one sign-in with nothing else running (calibration)
    fastest: float  # the quickest of the concurrent sign-ins
    worst: float  # the slowest /public while they ran
    probes: int  # /public requests made while they ran

    def __str__(self) -> str:
        return (
            f"sign-in alone {self.alone * 1000:.1f} ms, concurrent sign-ins >= "
            f"{self.fastest * 1000:.1f} ms; /public worst {self.worst * 1000:.1f} ms "
            f"over {self.probes} probes"
        )


async def measure(base: str, sign_ins: int = 4) -> Round:
    """Probe ``/public`` every ~10 ms while ``sign_ins`` sign-ins run at once."""
    credentials = {"email": EMAIL, "password": PASSWORD}

    async def sign_in(client: httpx.AsyncClient) -> float:
        start = time.perf_counter()
        response = await client.post("/auth/sign-in/email", json=credentials)
        assert response.status_code == 200, response.text
        return time.perf_counter() - start

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await client.post("/auth/sign-up/email", json=credentials)
        alone = min([await sign_in(client) for _ in range(3)])

        spans: list[tuple[float, float]] = []
        done = asyncio.Event()

        async def probe() -> None:
            while not done.is_set():
                start = time.perf_counter()
                assert (await client.get("/public")).status_code == 200
                spans.append((start, time.perf_counter()))
                await asyncio.sleep(0.01)

        prober = asyncio.create_task(probe())
        await asyncio.sleep(0.05)
        begin = time.perf_counter()
        durations = await asyncio.gather(*(sign_in(client) for _ in range(sign_ins)))
        end = time.perf_counter()
        done.set()
        await prober
    during = [stop - start for start, stop in spans if stop > begin and start < end]
    return Round(alone, min(durations), max(during, default=0.0), len(during))


@pytest.mark.slow
def test_hashing_never_blocks_the_event_loop(server: str) -> None:
    """While 4 sign-ins hash (production argon2), /public answers far faster than a sign-in.

    Had hashing run on the event loop, a probe arriving during the burst would
    wait for the hashes queued before it (about 4 x one sign-in). The bar is
    half the quickest of the concurrent sign-ins: on a 2-core machine 4 hashes
    run at once at half speed, and accepting the burst itself can delay one
    probe by ~10-15 ms, which is half of an uncontended sign-in (~30 ms).
    A loaded machine can add a scheduler hiccup, so up to three rounds are
    tried; blocking fails all of them.
    """
    rounds = []
    for _ in range(3):
        result = asyncio.run(measure(server))
        rounds.append(result)
        print(result)
        if result.probes >= 3 and result.worst < 0.5 * result.fastest:
            return
    pytest.fail("/public was held up by hashing: " + "; ".join(map(str, rounds)))
