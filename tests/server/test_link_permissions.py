"""Links under the per-project roles, against a real server with restricted keys.

The rule: a link into another project needs write on the target project and read on the
source's; no role on the source's project answers like a version that does not exist
(404). A caller who may read only the link's project may pull through it (the link's
project holds the source's chunks), but not reach the source. Removing a link needs
write on its project; changing a link's shared values (its source's description,
metadata, tags) needs write on the source's project too; listing a version's links
shows only links in projects the caller may read.

One server for the module over a store with projects ``src`` (holding ``data:v0``) and
``dst``; each test links into its own collection of ``dst``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import asyncart
from asyncart.repo.access import Role
from tests.support.accounts import users_with_keys
from tests.support.cli import run_cli
from tests.support.live_server import LiveServer, live_server

GRANTS = {
    "owner": [("*", Role.ADMIN)],
    "linker": [("src", Role.READ), ("dst", Role.WRITE)],
    "dst-writer": [("dst", Role.WRITE)],
    "readers": [("src", Role.READ), ("dst", Role.READ)],
    "dst-reader": [("dst", Role.READ)],
    "src-reader": [("src", Role.READ)],
}
CONTENT = "the source's bytes"


class World:
    def __init__(self, server: LiveServer, keys: dict[str, str]) -> None:
        self.server = server
        self.keys = keys

    def act_as(self, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ASYNCART_URL", self.server.url)
        monkeypatch.setenv("ASYNCART_API_KEY", self.keys[user])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("link-permissions") / "store"
    root.mkdir()
    keys = asyncio.run(users_with_keys(root, GRANTS))
    with live_server(root) as server, pytest.MonkeyPatch.context() as patch:
        world = World(server, keys)
        world.act_as("owner", patch)
        source = tmp_path_factory.mktemp("source") / "weights.bin"
        source.write_text(CONTENT)
        with asyncart.init(job_type="seed", project="src") as run:
            artifact = asyncart.Artifact("data", "model")
            artifact.add_file(source)
            run.log_artifact(artifact).wait()
        yield world


def source_as(user: str, world: World, monkeypatch: pytest.MonkeyPatch) -> asyncart.Artifact:
    world.act_as(user, monkeypatch)
    return asyncart.Api().artifact("src/data:v0")


def test_a_link_into_another_project_needs_read_on_the_source_and_write_on_the_target(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    linked = source_as("linker", world, monkeypatch).link("dst/by-linker")
    assert linked.qualified_name == "asyncart/dst/by-linker:v0"

    world.act_as("dst-writer", monkeypatch)  # no role on src: the source is not there
    with pytest.raises(asyncart.NotFoundError):
        asyncart.Api().artifact("src/data:v0")
    with pytest.raises(asyncart.NotFoundError):
        _ = asyncart.Api().artifact("dst/by-linker:v0").source_artifact
    env = {"ASYNCART_URL": world.server.url, "ASYNCART_API_KEY": world.keys["dst-writer"]}
    refused = run_cli("link", "src/data:v0", "dst/by-writer", env=env)  # the route itself
    assert refused.returncode == 1 and "project 'src' does not exist" in refused.stderr

    readers = source_as("readers", world, monkeypatch)  # read, not write, on dst
    with pytest.raises(asyncart.PermissionDenied):
        readers.link("dst/by-readers")
    with pytest.raises(asyncart.PermissionDenied):
        readers.link("src/into-the-source-project")
    world.act_as("owner", monkeypatch)
    assert asyncart.Api().artifact_exists("dst/by-readers:v0") is False
    assert asyncart.Api().artifact_exists("dst/by-writer:v0") is False


def test_a_reader_of_the_link_project_only_pulls_through_the_link(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_as("linker", world, monkeypatch).link("dst/for-readers")
    world.act_as("dst-reader", monkeypatch)
    linked = asyncart.Api().artifact("dst/for-readers:latest")
    assert linked.source_qualified_name == "asyncart/src/data:v0"
    path = Path(linked.download())
    assert (path / "weights.bin").read_text() == CONTENT
    with pytest.raises(asyncart.NotFoundError):
        _ = linked.source_artifact


def test_unlink_needs_write_on_the_link_project(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_as("linker", world, monkeypatch).link("dst/to-unlink")
    world.act_as("dst-reader", monkeypatch)
    with pytest.raises(asyncart.PermissionDenied):
        asyncart.Api().artifact("dst/to-unlink:v0").unlink()
    world.act_as("linker", monkeypatch)
    asyncart.Api().artifact("dst/to-unlink:v0").unlink()
    assert asyncart.Api().artifact_exists("dst/to-unlink:v0") is False
    assert asyncart.Api().artifact_exists("src/data:v0") is True


def test_linked_artifacts_lists_only_links_the_caller_may_read(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_as("linker", world, monkeypatch).link("dst/listed")
    assert "dst/listed:v0" in [
        f"{a.project}/{a.name}" for a in source_as("linker", world, monkeypatch).linked_artifacts
    ]
    assert source_as("src-reader", world, monkeypatch).linked_artifacts == []


def test_changing_a_links_shared_values_needs_write_on_the_source(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    linked = source_as("linker", world, monkeypatch).link("dst/changed")
    linked.aliases.append("prod")
    linked.save()  # the link's own aliases: write on dst suffices
    assert "prod" in asyncart.Api().artifact("dst/changed:v0").aliases
    linked.description = "edits the source"
    with pytest.raises(asyncart.PermissionDenied):
        linked.save()
    world.act_as("owner", monkeypatch)
    assert asyncart.Api().artifact("src/data:v0").description is None
