"""HTTPS: ``asyncart server --certfile --keyfile`` and a client that verifies certificates.

The certificate authority and the server certificate (for 127.0.0.1) are made in the
test with ``trustme``; the server is a real subprocess on 127.0.0.1.
"""

from __future__ import annotations

import io
import random
import ssl
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import trustme

import asyncart
from asyncart import aio
from asyncart.core import protocol as P
from tests.cli.test_cli import one_error_line, run_cli
from tests.support.live_server import LiveServer, live_server
from tests.support.packs import pack_body

NAME = "tls data"


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https_server(tmp_path: Path, ca: trustme.CA) -> Iterator[LiveServer]:
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(certfile), append=True)
    cert.private_key_pem.write_to_path(str(keyfile))
    args = ["--certfile", str(certfile), "--keyfile", str(keyfile)]
    with live_server(tmp_path / "server-store", extra_args=args) as srv:
        yield srv


@pytest.fixture
def src(tmp_path: Path) -> dict[str, bytes]:
    content = {"a.bin": random.Random(3).randbytes(300_000), "b.txt": b"hello over tls\n"}
    for rel, data in content.items():
        (Path("src") / rel).parent.mkdir(parents=True, exist_ok=True)
        (Path("src") / rel).write_bytes(data)
    return content


async def test_push_and_pull_over_https_with_the_ca_bundle(
    https_server: LiveServer,
    ca: trustme.CA,
    tmp_path: Path,
    src: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert https_server.url.startswith("https://127.0.0.1:")
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("ASYNCART_CA_BUNDLE", str(bundle))
    artifact = aio.Artifact(name=NAME, type="dataset")
    artifact.add_dir("src")
    async with await aio.init(job_type="push", url=https_server.url) as run:
        await run.log_artifact(artifact)
    async with aio.Api(url=https_server.url) as api:
        pulled = await api.artifact(f"{NAME}:v0")
        out = Path(await pulled.download(tmp_path / "out"))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == src


async def test_an_untrusted_certificate_fails_at_once_with_a_clear_error(
    https_server: LiveServer, src: dict[str, bytes]
) -> None:
    # No ASYNCART_CA_BUNDLE: the test CA is in no trust store, so verification must fail,
    # on the first attempt (a certificate does not get better by retrying).
    async with aio.Api(url=https_server.url) as api:
        with pytest.raises(asyncart.CertificateError) as info:
            await api.artifact_versions(NAME)
    message = str(info.value)
    assert https_server.url in message and "ASYNCART_CA_BUNDLE" in message
    assert "certificate" in message.lower()


def test_a_missing_ca_bundle_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCART_URL", "https://127.0.0.1:1")
    monkeypatch.setenv("ASYNCART_CA_BUNDLE", "/nonexistent/ca.pem")
    from asyncart.config import Settings

    with pytest.raises(asyncart.ConfigError, match="ASYNCART_CA_BUNDLE"):
        Settings.from_env()


def test_http_and_https_mixed_up_fail_at_once_naming_the_scheme_to_use(
    https_server: LiveServer, tmp_path: Path
) -> None:
    """The CLI against the TLS server with http://, and against a plain server with
    https://: no retry (one stderr line), and the URL to use instead."""
    many = {"ASYNCART_MAX_ATTEMPTS": "10"}
    plain_url = "http://" + https_server.url.removeprefix("https://")
    one_error_line(
        run_cli("ls", "--url", plain_url, env=many),
        "this looks like an HTTPS server",
        f"use {https_server.url}",
    )
    with live_server(tmp_path / "plain-store") as plain:
        tls_url = "https://" + plain.url.removeprefix("http://")
        one_error_line(
            run_cli("ls", "--url", tls_url, env=many),
            "this looks like an HTTP server",
            f"use {plain.url}",
        )


async def test_a_large_pack_upload_over_tls_keeps_its_connection(
    https_server: LiveServer, ca: trustme.CA
) -> None:
    """A TLS transport cannot switch protocols, so a large pack body stays on aiohttp's
    path (server/body_takeover.py): stored the same, and the connection is kept."""
    chunks = [random.Random(i).randbytes(1 << 20) for i in range(3)]
    _, body = pack_body(chunks)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    connector = aiohttp.TCPConnector(ssl=context, limit=1)
    async with aiohttp.ClientSession(https_server.url, connector=connector) as http:
        for _ in range(2):
            kind = {"Content-Type": P.PACK_MEDIA_TYPE}
            url = f"{P.PACKS}?project=proj"
            async with http.post(url, data=io.BytesIO(body), headers=kind) as resp:
                receipt = await resp.json()
                assert resp.status == 201, receipt
                assert resp.headers.get("Connection", "").lower() != "close"
    assert receipt["size"] == sum(len(c) for c in chunks)
