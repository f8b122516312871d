"""Secret canary: a fresh API key goes down every path and must surface nowhere.

A real ``asyncart server`` (with a user) runs on 127.0.0.1; the admin CLI creates the user
and a fresh key, the canary. With it, CLI subprocesses and the Python API (sync and async)
log in, push, pull, list, verify, fail on a bad path and on a missing artifact, fail
through the fault proxy (503s, connections reset mid-pull, an injected 401), fail once the
key is revoked, and are refused on a plain-HTTP URL to a non-loopback host. Every process
runs with Python logging at DEBUG (the CLI has no ``--verbose``; a ``sitecustomize`` on
``PYTHONPATH`` turns logging on in each subprocess, the server included), and ``--json``
variants run too.

Then the canary, in five forms (the key, its URL-safe body without ``acart_``, the 32 raw
bytes, and their hex in either case), is looked for in every captured output (stdout and
stderr of every subprocess, the server's output, this process's output and log records,
exception texts) and in every file under the test's temporary directory (store with
``meta.db``, caches, pulled directories, the subprocesses' ``HOME`` and ``TMPDIR``), swept
while the server runs and after it stopped. The only place allowed to hold it is the
credentials file ``asyncart login`` writes on purpose (mode 0600); ``create-key`` prints
it once on stdout, which is its job, and that one output is checked to hold nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import shlex
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import asyncart
from asyncart import aio
from tests.support.fault_proxy import running_fault_proxy
from tests.support.live_server import live_server

FAR = "http://10.255.255.1:9"  # not loopback; the guard must fire before any connection
PACKS = "/v1/packs"

SITECUSTOMIZE = '''\
"""Test helper: DEBUG logging to stderr in every Python process of the canary test."""
import logging
import os
import sys

if os.environ.get("CANARY_LOG_LEVEL"):
    logging.basicConfig(
        level=os.environ["CANARY_LOG_LEVEL"],
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )
'''


def canary_forms(key: str) -> dict[str, bytes]:
    """The shapes the key could leak in: itself, its body, its raw bytes, their hex."""
    body = key.removeprefix("acart_")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert len(raw) == 32
    return {
        "key": key.encode(),
        "body": body.encode(),
        "raw": raw,
        "hex": raw.hex().encode(),
        "HEX": raw.hex().upper().encode(),
    }


class Evidence:
    """Everything the test captured, and how to run the CLI so that it is captured."""

    def __init__(self, tmp: Path) -> None:
        self.outputs: list[tuple[str, str]] = []
        site = tmp / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        for name in ("home", "tmp"):
            (tmp / name).mkdir()
        # Subprocesses write anything of their own (HOME, TMPDIR) under tmp, where the
        # sweep looks; ASYNCART_* (store, caches, retries) come from conftest's clean_env.
        self.env = {
            "PYTHONPATH": os.pathsep.join(
                [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "CANARY_LOG_LEVEL": "DEBUG",
            "HOME": str(tmp / "home"),
            "TMPDIR": str(tmp / "tmp"),
        }

    def add(self, label: str, text: str) -> None:
        self.outputs.append((label, text))

    def add_error(self, label: str, exc: BaseException) -> None:
        """An exception's message and repr, and its causes'."""
        seen: BaseException | None = exc
        while seen is not None:
            self.add(f"{label}: {type(seen).__name__}", f"{seen}\n{seen!r}")
            seen = seen.__cause__ or seen.__context__

    def cli(
        self,
        command: str,
        *,
        expect: int = 0,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        keep: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``asyncart COMMAND`` (shell-style words; DEBUG logging on); keep its output.

        The exit code must be ``expect``.
        """
        proc = subprocess.run(
            [sys.executable, "-m", "asyncart", *shlex.split(command)],
            capture_output=True,
            text=True,
            input=stdin,
            env={**os.environ, **self.env, **(env or {})},
            timeout=120,
        )
        if keep:
            self.add(f"{command} (stdout)", proc.stdout)
            self.add(f"{command} (stderr)", proc.stderr)
        assert proc.returncode == expect, f"{command}: exit {proc.returncode}\n{proc.stderr}"
        return proc


def sweep(root: Path, forms: dict[str, bytes], allowed: Path) -> tuple[int, int]:
    """Look for every form in every file (and file name) under ``root`` but ``allowed``.

    Returns (files read, bytes read).
    """
    files = size = 0
    hits = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            for label, form in forms.items():
                if label != "raw" and form.decode() in name:
                    hits.append(f"{label} in the name {Path(dirpath, name)}")
        for name in filenames:
            path = Path(dirpath, name)
            if path == allowed or path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            files += 1
            size += len(data)
            hits += [f"{label} in {path}" for label, form in forms.items() if form in data]
    assert hits == []
    return files, size


def test_the_api_key_surfaces_nowhere(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    ev = Evidence(tmp_path)
    root = tmp_path / "server-store"
    admin = f"server --root {shlex.quote(str(root))} admin"
    credentials = tmp_path / "xdg-config" / "asyncart" / "credentials.json"  # conftest's XDG

    # -- the canary: a user and a fresh key, made with the admin CLI -------------------------
    ev.cli(f"{admin} create-user alice --init")
    if "grant" in ev.cli(f"{admin} --help").stdout:  # per-project roles, where they exist
        ev.cli(f"{admin} grant alice '*' admin")
    created = ev.cli(f"{admin} create-key alice --label canary", keep=False)
    canary = created.stdout.strip()
    assert canary.startswith("acart_") and created.stdout == canary + "\n"
    ev.add("create-key (stderr)", created.stderr)  # printed once, on stdout only: its job
    forms = canary_forms(canary)
    with_key = {"ASYNCART_API_KEY": canary}

    data = Path("data")
    (data / "sub").mkdir(parents=True)
    (data / "weights.bin").write_bytes(os.urandom(700_000))
    (data / "sub" / "notes.txt").write_text("canary run\n" * 100)
    Path("model.bin").write_bytes(os.urandom(200_000))

    with live_server(root, extra_env=ev.env) as srv:
        url = srv.url
        ev.cli(f"{admin} list-keys")
        keys = json.loads(ev.cli(f"{admin} list-keys --json").stdout)
        (key_id,) = [k["id"] for k in keys if k["label"] == "canary"]

        # -- the CLI, with the key `asyncart login` stored ---------------------------------
        ev.cli(f"login --url {url} --key-stdin", stdin=canary + "\n")
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        assert [p.name for p in credentials.parent.iterdir()] == ["credentials.json"]
        ev.cli(f"push data --url {url} -n 'canary data' -t dataset -a prod")
        (data / "weights.bin").write_bytes(os.urandom(700_000))
        ev.cli(f"push data --url {url} -n 'canary data' -t dataset --json")
        ev.cli(f"ls --url {url}")
        ev.cli(f"ls --url {url} --json")
        ev.cli(f"ls 'canary data' --url {url}")
        ev.cli(f"ls 'canary data' --url {url} --json")
        ev.cli(f"pull 'canary data:prod' --url {url} -o pulled/cli")
        ev.cli(f"pull 'canary data:latest' --url {url} -o pulled/cli-json --json")
        ev.cli(f"pull 'canary data:latest' --url {url} -o pulled/cli")  # over v0
        ev.cli(f"verify 'canary data:latest' --url {url} -o pulled/cli")
        ev.cli(f"verify 'canary data:prod' --url {url} -o pulled/cli-json --json", expect=1)
        ev.cli(f"push no/such/file --url {url} -n x -t t", expect=1)
        ev.cli(f"push data --url {url} -n bad/name:x -t t --json", expect=1)
        ev.cli(f"pull 'no such artifact:latest' --url {url} -o pulled/missing", expect=1)
        ev.cli(f"pull 'canary data:v99' --url {url} -o pulled/missing --json", expect=1)
        ev.cli(f"delete 'canary data:v0' --url {url} --yes --delete-aliases --json")
        ev.cli("--version")

        # -- the Python API: sync with the stored key, async with ASYNCART_API_KEY ----------
        monkeypatch.setenv("ASYNCART_URL", url)
        run = asyncart.init(job_type="canary")
        art = asyncart.Artifact(type="model", name="canary model")
        art.add_file("model.bin")
        run.log_artifact(art, aliases=["best"])
        run.finish()
        api = asyncart.Api()
        got = api.artifact("canary model:best")
        pulled = Path(got.download("pulled/sdk"), "model.bin")
        assert pulled.read_bytes() == Path("model.bin").read_bytes()
        ev.add("sdk reprs", f"{run!r} {got!r} {api!r} {got.manifest!r}")
        with pytest.raises(asyncart.NotFoundError) as missing:
            api.artifact("no such artifact:latest")
        ev.add_error("sdk missing", missing.value)
        with pytest.raises((OSError, asyncart.ConfigError)) as bad_path:
            asyncart.Artifact(type="t", name="x").add_file("no/such/file")
        ev.add_error("sdk bad path", bad_path.value)
        with monkeypatch.context() as env:  # not for the subprocesses below
            env.setenv("ASYNCART_API_KEY", canary)
            asyncio.run(async_api_round(ev))

        # -- failures through the fault proxy ----------------------------------------------
        with running_fault_proxy(url) as proxy:
            proxy.answer(503, path="/v1/", times=10**6, retry_after="0")
            ev.cli(f"ls --url {proxy.url}", env=with_key, expect=1)
            assert proxy.injected["status"] >= 2
        with running_fault_proxy(url) as proxy:
            proxy.reset_response(1000, method="GET", path=PACKS, times=10**6)
            ev.cli(
                f"pull 'canary data:latest' --url {proxy.url} -o pulled/reset --no-cache",
                env=with_key,
                expect=1,
            )
            with monkeypatch.context() as env:  # `login` stored no key for the proxy's URL
                env.setenv("ASYNCART_API_KEY", canary)
                with pytest.raises(asyncart.RetriesExhausted) as broken:
                    asyncart.Api(url=proxy.url).artifact("canary model:best").download(
                        "pulled/reset-sdk", skip_cache=True  # the bytes must cross the proxy
                    )
            ev.add_error("sdk through resets", broken.value)
            assert proxy.injected["reset_response"] >= 2
        with running_fault_proxy(url) as proxy:
            proxy.reset_request(1000, method="POST", path=PACKS, times=10**6)
            Path("fresh.bin").write_bytes(os.urandom(300_000))
            ev.cli(
                f"push fresh.bin --url {proxy.url} -n 'canary fresh' -t model",
                env=with_key,
                expect=1,
            )
            assert proxy.injected["reset_request"] >= 2
        with running_fault_proxy(url) as proxy:
            proxy.answer(401, path="/v1/", times=10**6)
            proc = ev.cli(f"ls --url {proxy.url}", env=with_key, expect=1)
            assert "refused the API key in ASYNCART_API_KEY" in proc.stderr

        # -- the key revoked while the server runs -----------------------------------------
        ev.cli(f"{admin} revoke-key {key_id}")
        proc = ev.cli(f"ls --url {url}", expect=1)
        assert "refused the API key 'asyncart login' stored" in proc.stderr
        proc = ev.cli(
            f"push data --url {url} -n 'canary data' -t dataset --json", env=with_key, expect=1
        )
        assert "refused the API key in ASYNCART_API_KEY" in proc.stderr
        ev.cli(f"pull 'canary data:latest' --url {url} -o pulled/revoked", expect=1)
        with pytest.raises(asyncart.AuthError) as refused:
            asyncio.run(list_collections(url))
        ev.add_error("aio revoked", refused.value)
        ev.cli(f"{admin} list-keys --json")
        if "audit" in ev.cli(f"{admin} --help").stdout:  # the audit log, where it exists
            ev.cli(f"{admin} audit --json")

        # -- plain HTTP to a non-loopback host: refused before any connection --------------
        stored = credentials.read_bytes()
        proc = ev.cli(f"ls --url {FAR}", env=with_key, expect=1)
        assert "clear text" in proc.stderr and "ASYNCART_ALLOW_INSECURE_KEY=1" in proc.stderr
        proc = ev.cli(f"login --url {FAR} --key-stdin", stdin=canary + "\n", expect=1)
        assert "clear text" in proc.stderr
        assert credentials.read_bytes() == stored
        with monkeypatch.context() as env:
            env.setenv("ASYNCART_API_KEY", canary)
            with pytest.raises(asyncart.ConfigError, match="clear text") as far:
                asyncio.run(list_collections(FAR))
        ev.add_error("aio to a far host", far.value)

        files_running, bytes_running = sweep(tmp_path, forms, credentials)

    ev.add("server output", "".join(srv.log))
    assert "DEBUG" in "".join(srv.log)  # logging really was on in the server
    assert any("DEBUG" in text for label, text in ev.outputs if label.endswith("(stderr)"))
    captured = capfd.readouterr()
    ev.add("test stdout", captured.out)
    ev.add("test stderr", captured.err)
    assert caplog.records
    ev.add("test log", caplog.text)
    ev.add(
        "test log records",
        "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records),
    )

    leaks = [
        f"{label} in {where}"
        for where, text in ev.outputs
        for label, form in forms.items()
        if label != "raw" and form.decode() in text
    ]
    assert leaks == []
    files_after, bytes_after = sweep(tmp_path, forms, credentials)
    assert json.loads(credentials.read_text()) == {"servers": {url: {"api_key": canary}}}
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600

    chars = sum(len(text) for _, text in ev.outputs)
    with capfd.disabled():
        print(
            f"\nsecret canary: searched {len(ev.outputs)} outputs ({chars} characters) and "
            f"{files_running + files_after} files ({files_running} while the server ran, "
            f"{files_after} after it stopped; {bytes_running + bytes_after} bytes); the key "
            f"is only in {credentials.name}"
        )


async def list_collections(url: str) -> None:
    """List the collections of the default project at ``url`` with the async API."""
    async with aio.Api(url=url) as api:
        await api.artifact_collections()


async def async_api_round(ev: Evidence) -> None:
    """Push, pull and fail with the async API, the key coming from ASYNCART_API_KEY."""
    async with await aio.init(job_type="canary-async") as run:
        art = aio.Artifact(type="model", name="canary model")
        art.add_file("model.bin")
        art.add_dir("data", name="data")
        await run.log_artifact(art, aliases=["async"])
        used = await run.use_artifact("canary data:latest")
        await used.download("pulled/aio-used")
        ev.add("aio reprs", f"{run!r} {art!r} {used!r}")
    async with aio.Api() as api:
        got = await api.artifact("canary model:async")
        await got.download("pulled/aio")
        ev.add("aio listings", repr(await api.artifact_collections()))
        ev.add("aio versions", repr(await api.artifact_versions("canary model")))
        try:
            await api.artifact("canary model:v99")
        except asyncart.NotFoundError as exc:
            ev.add_error("aio missing version", exc)
        else:
            raise AssertionError("v99 should not exist")


# -- malformed requests: aiohttp's own refusals must not quote the key either ----------------

_GET = "GET /v1/projects HTTP/1.1\r\n"

#: Requests aiohttp's parser refuses, each carrying ``{auth}`` (an Authorization header
#: value) and, where it fits, ``{key}`` (the bare credential) in other places too.
MALFORMED = {
    "request-line-extra-token": "GET /v1/projects HTTP/1.1 x\r\nAuthorization: {auth}\r\n\r\n",
    "request-line-bad-version": "GET /v1/projects HTTP/9\r\nAuthorization: {auth}\r\n\r\n",
    "request-line-too-long": "GET /v1/projects?q={key}{pad} HTTP/1.1\r\n"
    "Authorization: {auth}\r\n\r\n",
    "key-in-target-bad-char": "GET /v1/projects?{key}=\x7f HTTP/1.1\r\n"
    "Authorization: {auth}\r\n\r\n",
    "header-without-colon": _GET + "Authorization: {auth}\r\nBad Header\r\n\r\n",
    "header-control-char": _GET + "Authorization: {auth}\x01\r\n\r\n",
    "header-nul": _GET + "Authorization: {auth}\x00x\r\n\r\n",
    "header-name-space": "GET /v1/projects HTTP/1.1\r\nAuthorization : {auth}\r\n\r\n",
    "header-obs-fold": "GET /v1/projects HTTP/1.1\r\nAuthorization: x\r\n {auth}\r\n\r\n",
    "authorization-too-long": _GET + "Authorization: {auth}{pad}\r\n\r\n",
    "other-header-too-long": _GET + "Authorization: {auth}\r\nX-Pad: {pad}\r\n\r\n",
    "too-many-headers": _GET + "Authorization: {auth}\r\n{many}\r\n",
    "bad-chunk-size": (
        "POST /v1/runs HTTP/1.1\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n"
        "zz\r\n{key}\r\n0\r\n\r\n"
    ),
    "bad-chunk-extension": (
        "POST /v1/runs HTTP/1.1\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n"
        "2;{key}\x01\r\n{{}}\r\n0\r\n\r\n"
    ),
    "bad-transfer-encoding": (
        "POST /v1/runs HTTP/1.1\r\nAuthorization: {auth}\r\nTransfer-Encoding: {key}\r\n\r\n"
    ),
    "length-and-chunked": (
        "POST /v1/runs HTTP/1.1\r\nAuthorization: {auth}\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "bad-content-length": (
        "POST /v1/runs HTTP/1.1\r\nAuthorization: {auth}\r\nContent-Length: {key}\r\n\r\n"
    ),
    "unicode-content-length": (
        "POST /v1/runs HTTP/1.1\r\nAuthorization: {auth}\r\nContent-Length: \xb2\r\n\r\n"
    ),
    "invalid-method": "G@T /v1/projects HTTP/1.1\r\nAuthorization: {auth}\r\n\r\n",
    "key-as-method": "{key} /v1/projects HTTP/1.1\r\nAuthorization: {auth}\r\n\r\n",
    "not-http": "\x16\x03\x01{key}\r\nAuthorization: {auth}\r\n\r\n",
}


def _exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` raw on a fresh connection; everything answered until it closes.

    (Not half-closed: aiohttp drops a request whose client ended its sending side.)
    """
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_malformed_requests_quote_no_credential(tmp_path: Path) -> None:
    ev = Evidence(tmp_path)
    root = tmp_path / "server-store"
    admin = f"server --root {shlex.quote(str(root))} admin"
    ev.cli(f"{admin} create-user alice --init")
    canary = ev.cli(f"{admin} create-key alice --label canary", keep=False).stdout.strip()
    secrets_sent = {
        "canary key": (f"Bearer {canary}", canary),
        "unknown bearer token": ("Bearer s3cr3t-b3arer-t0ken-9f8e7d", "s3cr3t-b3arer-t0ken-9f8e7d"),
        "basic credentials": (
            "Basic YWxpY2U6aHVudGVyMi1wYXNzd29yZA==",
            "YWxpY2U6aHVudGVyMi1wYXNzd29yZA==",
        ),
    }
    many = "".join(f"X-H{i}: {i}\r\n" for i in range(200))
    answers: list[tuple[str, bytes]] = []
    with live_server(root, extra_env=ev.env) as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        for case, template in MALFORMED.items():
            for label, (auth, key) in secrets_sent.items():
                raw = template.format(auth=auth, key=key, pad="a" * 9000, many=many)
                raw = raw.replace(" HTTP/1.1\r\n", " HTTP/1.1\r\nHost: localhost\r\n", 1)
                answer = _exchange(port, raw.encode("latin-1"))
                answers.append((f"{case} with {label}", answer))
        # the server still serves, and a well-formed request with the key works
        good = f"{_GET}Host: localhost\r\nAuthorization: Bearer {canary}\r\nConnection: close"
        ok = _exchange(port, f"{good}\r\n\r\n".encode())
        assert ok.startswith(b"HTTP/1.1 200"), ok[:200]
    log = "".join(srv.log)
    assert "DEBUG" in log  # logging really was on in the server
    leaks = [
        f"{label} ({what}) in {where}"
        for label, (auth, key) in secrets_sent.items()
        for what, secret in (("header value", auth), ("credential", key))
        for where, text in [("server log", log), *((c, a.decode("latin-1")) for c, a in answers)]
        if secret in text
    ]
    leaks += [
        f"key form {f} in the server log"
        for f, v in canary_forms(canary).items()
        if f != "raw" and v.decode() in log
    ]
    assert leaks == []
    refused = [(c, a) for c, a in answers if a.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400"))]
    assert len(refused) == len(answers), [(c, a[:80]) for c, a in answers if (c, a) not in refused]
    for case, answer in refused:
        body = answer.split(b"\r\n\r\n", 1)[1]
        assert json.loads(body)["code"] == "bad_request", (case, body)
