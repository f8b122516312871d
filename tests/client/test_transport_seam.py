"""The client's transport seam: ``Client(settings, connector=...)`` carries every request.

The real server app listens on a Unix socket in this process; the only way there is
the injected connector (the URL names a port nothing listens on, as the last step
shows), so a push and a
pull that come back whole went through it, with the retries, the error mapping and
the bounded reads of the production transport above it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncart import aio
from asyncart.client.client import Client
from asyncart.errors import ArtifactNotFound, ConnectError, RetriesExhausted
from asyncart.sdk.run import AsyncRun, resolve_settings
from tests.support.in_process_server import InProcessServer, in_process_server


@pytest.fixture
def unix_server(tmp_path: Path) -> Iterator[InProcessServer]:
    short = Path(tempfile.mkdtemp(prefix="asyncart-"))  # a socket path fits in 108 bytes
    try:
        with in_process_server(tmp_path / "server-store", unix_socket=short / "sock") as srv:
            yield srv
    finally:
        shutil.rmtree(short, ignore_errors=True)


async def test_a_push_and_a_pull_go_through_the_injected_connector(
    unix_server: InProcessServer,
) -> None:
    content = os.urandom(300_000)
    Path("weights.bin").write_bytes(content)
    client = Client(resolve_settings(unix_server.url), connector=unix_server.connector)
    run = await AsyncRun.start("train", artifact_class=aio.Artifact, client=client)
    async with run:
        artifact = aio.Artifact("model", type="model")
        artifact.add_file("weights.bin")
        await run.log_artifact(artifact)
    assert artifact.version == "v0"
    async with aio.Api(client=client) as api:
        fetched = await api.artifact("model:v0")
        out = await fetched.download("out")
        with pytest.raises(ArtifactNotFound):  # a server's error answer, mapped as always
            await api.artifact("nothing here")
    assert Path(out, "weights.bin").read_bytes() == content
    await client.close()
    async with aio.Api(url=unix_server.url) as api:  # the same URL over TCP: nobody there
        with pytest.raises(RetriesExhausted) as caught:
            await api.artifact("model:v0")
    assert isinstance(caught.value.last_exception, ConnectError)
