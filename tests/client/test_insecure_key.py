"""The client never sends an API key in clear text across a network, and explains a 401.

A key goes over plain ``http://`` only to a loopback host (``127.0.0.0/8``, ``::1``,
``localhost``); anywhere else the client refuses before any request, unless
``ASYNCART_ALLOW_INSECURE_KEY=1``. ``asyncart login`` refuses such a URL too and stores
nothing. A 401 becomes an ``AuthError`` saying which key was refused and what to do.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

import asyncart
from asyncart import aio
from asyncart.client.answers import ProjectList
from asyncart.client.credentials import clear_text_host, credentials_path, store_key
from asyncart.client.transport import HttpTransport
from asyncart.config import Settings
from tests.support.cli import run_cli
from tests.support.loopback import serve_on_loopback

KEY = "acart_" + "k3y" * 14 + "Q"  # the shape of a real key; no server ever sees it
BODY = KEY.removeprefix("acart_")
FAR = "http://10.255.255.1:9"  # not loopback, and nothing answers there


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.1:8765", None),
        ("http://127.9.9.9:8765/", None),
        ("http://localhost:8765", None),
        ("http://LOCALHOST", None),
        ("http://[::1]:8765", None),
        ("https://10.1.2.3:8765", None),
        ("https://models.example.com", None),
        ("http://10.255.255.1:9", "10.255.255.1"),
        ("http://0.0.0.0:8765", "0.0.0.0"),
        ("http://models.example.com:8765", "models.example.com"),
        ("http://localhost.example.com", "localhost.example.com"),
        ("http://[2001:db8::1]:80", "2001:db8::1"),
    ],
)
def test_which_urls_carry_a_key_in_clear_text(url: str, host: str | None) -> None:
    assert clear_text_host(url) == host


def test_the_override_is_read_from_the_environment() -> None:
    assert not Settings.from_env({}).allow_insecure_key
    assert Settings.from_env({"ASYNCART_ALLOW_INSECURE_KEY": "1"}).allow_insecure_key
    assert not Settings.from_env({"ASYNCART_ALLOW_INSECURE_KEY": "0"}).allow_insecure_key
    with pytest.raises(asyncart.ConfigError, match="ASYNCART_ALLOW_INSECURE_KEY"):
        Settings.from_env({"ASYNCART_ALLOW_INSECURE_KEY": "maybe"})
    assert KEY not in repr(Settings(url=FAR, api_key=KEY, allow_insecure_key=True))


def assert_explains_refusal(message: str) -> None:
    assert "clear text" in message and "https://" in message
    assert "ASYNCART_ALLOW_INSECURE_KEY=1" in message
    assert KEY not in message and BODY not in message


@pytest.mark.parametrize(
    "url", [FAR, "http://models.example.com:8765", "http://user:pw@10.0.0.7:8765"]
)
def test_a_key_from_the_environment_is_refused_before_any_request(url: str) -> None:
    with pytest.raises(asyncart.ConfigError) as caught:
        HttpTransport(Settings(url=url, api_key=KEY))
    assert_explains_refusal(str(caught.value))
    assert "ASYNCART_API_KEY" in str(caught.value)
    assert "pw@" not in str(caught.value)  # no password from the URL in the message either


def test_a_stored_key_is_refused_too(tmp_path: Path) -> None:
    allowed = Settings(url=FAR, config_dir=tmp_path / "cfg", allow_insecure_key=True)
    store_key(allowed, FAR, KEY)
    with pytest.raises(asyncart.ConfigError) as caught:
        HttpTransport(Settings(url=FAR, config_dir=tmp_path / "cfg"))
    assert_explains_refusal(str(caught.value))
    assert "asyncart login" in str(caught.value)
    assert HttpTransport(allowed).base_url == FAR  # the override lets it through


def test_store_key_refuses_a_clear_text_url(tmp_path: Path) -> None:
    settings = Settings(config_dir=tmp_path / "cfg")
    with pytest.raises(asyncart.ConfigError) as caught:
        store_key(settings, FAR, KEY)
    assert_explains_refusal(str(caught.value))
    assert not credentials_path(settings).exists()


@pytest.mark.parametrize(
    ("url", "key", "allow"),
    [
        ("http://127.0.0.1:9", KEY, False),
        ("http://localhost:9", KEY, False),
        ("http://[::1]:9", KEY, False),
        ("https://10.255.255.1:9", KEY, False),
        (FAR, None, False),  # no key, nothing to protect
        (FAR, KEY, True),
    ],
)
def test_what_is_allowed(url: str, key: str | None, allow: bool, tmp_path: Path) -> None:
    settings = Settings(url=url, api_key=key, allow_insecure_key=allow, config_dir=tmp_path)
    assert HttpTransport(settings).base_url == url


async def test_the_python_api_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCART_API_KEY", KEY)
    with pytest.raises(asyncart.ConfigError) as caught:
        async with aio.Api(url=FAR) as api:
            await api.projects()
    assert_explains_refusal(str(caught.value))


def test_the_cli_refuses_and_login_stores_nothing(tmp_path: Path) -> None:
    config = tmp_path / "xdg-config" / "asyncart"  # XDG_CONFIG_HOME is set by conftest
    proc = run_cli("ls", "--url", FAR, env={"ASYNCART_API_KEY": KEY})
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("asyncart: error: refusing to send the API key")
    assert len(proc.stderr.splitlines()) == 1
    assert_explains_refusal(proc.stderr)

    proc = run_cli("login", "--url", FAR, "--key-stdin", stdin=KEY + "\n")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("asyncart: error: refusing to store an API key")
    assert_explains_refusal(proc.stderr)
    assert not config.exists()

    proc = run_cli(
        "login",
        "--url",
        FAR,
        "--key-stdin",
        stdin=KEY + "\n",
        env={"ASYNCART_ALLOW_INSECURE_KEY": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert KEY not in proc.stdout + proc.stderr
    stored = json.loads((config / "credentials.json").read_text())
    assert stored == {"servers": {FAR: {"api_key": KEY}}}
    # Stored with the override, the key is still refused without it.
    proc = run_cli("ls", "--url", FAR)
    assert proc.returncode == 1 and "refusing to send the API key" in proc.stderr
    assert_explains_refusal(proc.stderr)


# -- 401 answers ---------------------------------------------------------------------------

Handler = Callable[[web.Request], web.Response]


@asynccontextmanager
async def answering(handler: Handler) -> AsyncIterator[str]:
    """A server on 127.0.0.1 answering every request with ``handler``; yields its URL."""

    async def handle(request: web.Request) -> web.Response:
        return handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    try:
        yield await serve_on_loopback(runner)
    finally:
        await runner.cleanup()


def bearer_401(request: web.Request) -> web.Response:
    """What a server with users answers a bad key: 401, a Bearer challenge, an error body."""
    has_key = "Authorization" in request.headers
    message = (
        "the API key is unknown or revoked; ask an admin for a new one"
        if has_key
        else "this server needs an API key"
    )
    return web.json_response(
        {"code": "unauthenticated", "message": message, "request_id": "r1"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="asyncart"'},
    )


async def refusal(settings: Settings, path: str = "/v1/projects") -> asyncart.AuthError:
    """The AuthError a GET of ``path`` with ``settings`` ends in; it never shows the key."""
    transport = HttpTransport(settings)
    try:
        with pytest.raises(asyncart.AuthError) as caught:
            await transport.answer("GET", path, ProjectList, what="project list")
    finally:
        await transport.close()
    assert KEY not in str(caught.value) and BODY not in str(caught.value)
    return caught.value


async def auth_error(url: str, key: str | None, tmp_path: Path) -> asyncart.AuthError:
    error = await refusal(Settings(url=url, api_key=key, config_dir=tmp_path / "cfg"))
    assert error.status == 401
    return error


async def test_a_401_without_a_key_says_how_to_set_one(tmp_path: Path) -> None:
    async with answering(bearer_401) as url:
        error = await auth_error(url, None, tmp_path)
    assert str(error).startswith(f"{url} needs an API key and none is set for it")
    assert f"asyncart login --url {url}" in str(error) and "ASYNCART_API_KEY" in str(error)


async def test_a_401_for_a_key_names_where_the_key_came_from(tmp_path: Path) -> None:
    async with answering(bearer_401) as url:
        error = await auth_error(url, KEY, tmp_path)
        assert str(error) == (
            f"{url} refused the API key in ASYNCART_API_KEY: the API key is unknown or "
            "revoked; ask an admin for a new one; put a valid key in ASYNCART_API_KEY"
        )
        store_key(Settings(config_dir=tmp_path / "cfg"), url, KEY)
        message = str(await refusal(Settings(url=url, config_dir=tmp_path / "cfg")))
    assert f"refused the API key 'asyncart login' stored in {tmp_path / 'cfg'}" in message
    assert message.endswith(f"store a valid key with 'asyncart login --url {url}'")


async def test_a_bare_401_challenge_is_explained(tmp_path: Path) -> None:
    def bare(request: web.Request) -> web.Response:
        return web.Response(
            status=401,
            text="no",
            headers={
                "WWW-Authenticate": 'Bearer realm="asyncart", error="invalid_token", '
                'error_description="the key has expired"'
            },
        )

    async with answering(bare) as url:
        error = await auth_error(url, KEY, tmp_path)
    assert str(error).startswith(
        f"{url} refused the API key in ASYNCART_API_KEY: the key has expired;"
    )


async def test_a_401_asking_for_another_scheme_says_so(tmp_path: Path) -> None:
    def basic(request: web.Request) -> web.Response:
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="proxy"'})

    async with answering(basic) as url:
        error = await auth_error(url, KEY, tmp_path)
    assert "the key is unknown, revoked or malformed" in str(error)
    assert "asks for Basic authentication, not an asyncart API key" in str(error)


async def test_a_server_echoing_the_key_does_not_get_it_into_the_error(tmp_path: Path) -> None:
    def echo(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        body = {"code": "unauthenticated", "message": f"bad header {header!r}"}
        status = 401 if request.path == "/v1/projects" else 403
        return web.json_response(body, status=status)

    async with answering(echo) as url:
        await auth_error(url, KEY, tmp_path)
        error = await refusal(Settings(url=url, api_key=KEY), "/v1/other")
    assert error.status == 403
    assert "[API key]" in str(error)
