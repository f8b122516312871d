"""Artifacts in a run's config, as W&B's ``wandb_config.py`` and
``wandb_run.py::_config_artifact_callback`` define them and
``tests/system_tests/test_artifacts/test_wandb_run_artifacts.py`` tests them.

An artifact object, an ``Api()`` artifact, an artifact URI (``asyncart-artifact://`` or
W&B's ``wandb-artifact://`` spelling) or a stored reference put into ``run.config`` at
init, by item or by ``update``: the run uses the version, ``Api().run(path).config``
holds W&B's reference dict, and ``run.config[key]`` gives the artifact back.

Each test names the W&B test it mirrors. ``store``: the embedded store and a real
server subprocess.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import asyncart
from asyncart import aio
from asyncart.errors import ConfigError, ConflictError, VersionNotFound
from asyncart.sdk import portal
from tests.support.live_server import LiveServer, live_server


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module's server cases (each test writes a project of its own)."""
    with live_server(tmp_path_factory.mktemp("config") / "store") as srv:
        yield srv


@pytest.fixture(params=["embedded", "server"])
def store(
    request: pytest.FixtureRequest, shared_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> str:
    """conftest's ``store``, but the server is the module's: a fresh project per test
    (``ASYNCART_PROJECT``) keeps the tests apart, and saves a server start each."""
    monkeypatch.setenv("ASYNCART_PROJECT", f"p{uuid.uuid4().hex[:12]}")
    if request.param == "server":
        monkeypatch.setenv("ASYNCART_URL", shared_server.url)
    return str(request.param)


def project() -> str:
    """The project the test's runs write (the settings' default project)."""
    return os.environ.get("ASYNCART_PROJECT", "default")


@pytest.fixture
def sample_data(store: str) -> asyncart.Artifact:
    """W&B's ``sample_data``: ``boom-data:v0``, a dataset logged before the test's run."""
    Path("boom.txt").write_text("boom")
    artifact = asyncart.Artifact("boom-data", type="dataset")
    artifact.add_file("boom.txt")
    artifact.save()
    return artifact.wait()


def reference(artifact: asyncart.Artifact) -> dict[str, Any]:
    """The stored config value W&B's tests expect for ``artifact`` (``_version`` is the
    format's, ``version`` the artifact's)."""
    assert artifact.id is not None
    return {
        "_type": "artifactVersion",
        "_version": "v0",
        "id": artifact.id,
        "version": artifact.version,
        "sequenceName": artifact.name.split(":")[0],
        "usedAs": None,
    }


def stored_config(run_id: str) -> dict[str, Any]:
    return asyncart.Api().run(f"{project()}/{run_id}").config


def used_ids(run_id: str) -> set[str]:
    return {v.name for v in asyncart.Api().run(run_id).used_artifacts()}


def store_prefix() -> str:
    """The store URL part of a URI (W&B's ``run.settings.base_url``), on a server."""
    url = os.environ.get("ASYNCART_URL")
    return f"{url}/" if url else ""


def draft_with_files(name: str) -> asyncart.Artifact:
    Path("file1.txt").write_text("hello")
    Path("ref.txt").write_text("by reference")
    artifact = asyncart.Artifact(name, "dataset")
    artifact.add_file("file1.txt")
    artifact.add_reference(Path("ref.txt").resolve().as_uri())
    return artifact


# -- Artifact objects -----------------------------------------------------------------


def test_artifacts_in_config(store: str, sample_data: asyncart.Artifact) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_artifacts_in_config (both stores): a used
    and a logged artifact set by attribute and by update are stored as references; one
    nested in a dict is refused (a ValueError), by item and by update."""
    with asyncart.init(job_type="t") as run:
        artifact = run.use_artifact("boom-data:v0")
        Path("mine.txt").write_text("mine")
        logged = asyncart.Artifact("my-arti", type="dataset")
        logged.add_file("mine.txt")
        run.log_artifact(logged)
        logged.wait()

        run.config.dataset = artifact
        run.config.logged_artifact = logged
        run.config.update({"myarti": artifact})
        assert run.config.dataset is artifact and run.config["logged_artifact"] is logged

        with pytest.raises(ValueError, match="top-level values of a run's config"):
            run.config.nested_dataset = {"nested": artifact}
        with pytest.raises(ValueError, match="'dict_nested'"):
            run.config["dict_nested"] = {"one_nest": {"two_nest": artifact}}
        with pytest.raises(ValueError, match="top-level values"):
            run.config.update({"one_nest": {"two_nest": artifact}})
        with pytest.raises(ValueError, match="top-level values"):
            run.config.update({"listed": [f"asyncart-artifact://{project()}/x/boom-data:v0"]})
        run_id = run.id

    assert stored_config(run_id) == {
        "dataset": reference(artifact),
        "myarti": reference(artifact),
        "logged_artifact": reference(logged),
    }
    assert used_ids(run_id) == {"boom-data:v0", "my-arti:v0"}


def test_wandb_artifact_config_set_item(store: str) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_wandb_artifact_config_set_item (both
    stores): an unlogged draft set as an item is logged and used (as W&B's
    ``use_artifact`` of a draft), and the item is that artifact."""
    artifact = draft_with_files("test_reference_download")
    with asyncart.init(job_type="t") as run:
        run.config.test_reference_download = artifact
        assert run.config.test_reference_download == artifact
        assert not artifact.is_draft
        run_id = run.id
    assert stored_config(run_id)["test_reference_download"] == reference(artifact)
    assert used_ids(run_id) == {"test_reference_download:v0"}


def test_wandb_artifact_config_update(store: str) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_wandb_artifact_config_update (both
    stores): a draft given to ``update`` is logged and used; the reference read back
    from ``Api().run(path).config``, given to another run's config, names the same
    version."""
    artifact = draft_with_files("test_reference_download")
    with asyncart.init(job_type="t") as run:
        run.config.update({"test_reference_download": artifact})
        assert run.config.test_reference_download == artifact
        first = run.id
    config_art = stored_config(first)["test_reference_download"]
    assert config_art == reference(artifact)

    with asyncart.init(job_type="t") as run:
        run.config.update({"test_reference_download": config_art})
        assert run.config.test_reference_download.id == artifact.id
        second = run.id
    assert stored_config(second)["test_reference_download"] == config_art
    assert used_ids(second) == {"test_reference_download:v0"}


def test_wandb_artifact_init_config(store: str) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_wandb_artifact_init_config (both
    stores): a draft in ``init(config=)`` is logged and used by the new run, beside the
    config's plain values."""
    artifact = draft_with_files("test_reference_download")
    config = {"test_reference_download": artifact, "lr": 0.1}
    with asyncart.init(job_type="t", config=config) as run:
        assert run.config.test_reference_download == artifact
        assert run.config.lr == 0.1
        run_id = run.id
    assert stored_config(run_id) == {"test_reference_download": reference(artifact), "lr": 0.1}
    assert used_ids(run_id) == {"test_reference_download:v0"}


# -- Api() artifacts --------------------------------------------------------------------


def test_public_artifact_run_config_init(store: str, sample_data: asyncart.Artifact) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_public_artifact_run_config_init (both
    stores): an ``Api().artifact`` in ``init(config=)``."""
    art = asyncart.Api().artifact("boom-data:v0", type="dataset")
    with asyncart.init(job_type="t", config={"dataset": art}) as run:
        assert run.config.dataset == art
        run_id = run.id
    assert stored_config(run_id)["dataset"] == reference(art)
    assert used_ids(run_id) == {"boom-data:v0"}


def test_public_artifact_run_config_set_item(store: str, sample_data: asyncart.Artifact) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_public_artifact_run_config_set_item (both
    stores): an ``Api().artifact`` set by attribute."""
    art = asyncart.Api().artifact("boom-data:v0", type="dataset")
    with asyncart.init(job_type="t") as run:
        run.config.dataset = art
        assert run.config.dataset == art
        run_id = run.id
    assert stored_config(run_id)["dataset"] == reference(art)
    assert used_ids(run_id) == {"boom-data:v0"}


def test_public_artifact_run_config_update(store: str, sample_data: asyncart.Artifact) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_public_artifact_run_config_update (both
    stores): an ``Api().artifact`` given to ``update``."""
    art = asyncart.Api().artifact("boom-data:v0", type="dataset")
    with asyncart.init(job_type="t") as run:
        run.config.update({"dataset": art})
        assert run.config.dataset == art
        run_id = run.id
    assert stored_config(run_id)["dataset"] == reference(art)


# -- artifact URIs by name ----------------------------------------------------------------


def test_artifact_string_run_config_init(store: str, sample_data: asyncart.Artifact) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_artifact_string_run_config_init (both
    stores): W&B's ``wandb-artifact://entity/project/name:alias`` in ``init(config=)``
    is used, and the item reads back as the artifact."""
    config = {"dataset": f"wandb-artifact://someone/{project()}/boom-data:v0"}
    with asyncart.init(job_type="t", config=config) as run:
        dataset = run.config.dataset
        assert isinstance(dataset, asyncart.Artifact)
        run_id = run.id
    assert dataset.id == sample_data.id
    assert stored_config(run_id)["dataset"] == reference(dataset)
    assert used_ids(run_id) == {"boom-data:v0"}


def test_artifact_string_run_config_set_item(store: str, sample_data: asyncart.Artifact) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_artifact_string_run_config_set_item (both
    stores): ``asyncart-artifact://`` with the store URL first (on a server; W&B's
    ``run.settings.base_url``) set by attribute."""
    with asyncart.init(job_type="t") as run:
        run.config.dataset = f"asyncart-artifact://{store_prefix()}me/{project()}/boom-data:latest"
        dataset = run.config.dataset
        run_id = run.id
    assert (dataset.id, dataset.version) == (sample_data.id, "v0")
    assert stored_config(run_id)["dataset"] == reference(dataset)


def test_artifact_string_run_config_update(store: str, sample_data: asyncart.Artifact) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_artifact_string_run_config_update (both
    stores): a URI given to ``update``."""
    with asyncart.init(job_type="t") as run:
        run.config.update({"dataset": f"asyncart-artifact://me/{project()}/boom-data:v0"})
        dataset = run.config.dataset
        run_id = run.id
    assert dataset.id == sample_data.id
    assert stored_config(run_id)["dataset"] == reference(dataset)


# -- artifact URIs by id ----------------------------------------------------------------


def test_artifact_string_digest_run_config_init(store: str, sample_data: asyncart.Artifact) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_artifact_string_digest_run_config_init
    (both stores): ``wandb-artifact://_id/<artifact.id>`` in ``init(config=)``."""
    config = {"dataset": f"wandb-artifact://_id/{sample_data.id}"}
    with asyncart.init(job_type="t", config=config) as run:
        dataset = run.config.dataset
        run_id = run.id
    assert (dataset.name, dataset.id) == ("boom-data:v0", sample_data.id)
    assert stored_config(run_id)["dataset"] == reference(dataset)
    assert used_ids(run_id) == {"boom-data:v0"}


def test_artifact_string_digest_run_config_set_item(
    store: str, sample_data: asyncart.Artifact
) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_artifact_string_digest_run_config_set_item
    (both stores): an id URI after the store URL, set by attribute."""
    with asyncart.init(job_type="t") as run:
        run.config.dataset = f"asyncart-artifact://{store_prefix()}_id/{sample_data.id}"
        dataset = run.config.dataset
        run_id = run.id
    assert dataset.id == sample_data.id
    assert stored_config(run_id)["dataset"] == reference(dataset)


def test_artifact_string_digest_run_config_update(
    store: str, sample_data: asyncart.Artifact
) -> None:
    """Mirrors test_wandb_run_artifacts.py::test_artifact_string_digest_run_config_update
    (both stores): an id URI given to ``update``; an id no version has is refused."""
    with asyncart.init(job_type="t") as run:
        run.config.update({"dataset": f"asyncart-artifact://_id/{sample_data.id}"})
        dataset = run.config.dataset
        with pytest.raises(VersionNotFound, match="0123456789abcdef01234567"):
            run.config.update({"other": "asyncart-artifact://_id/0123456789abcdef01234567"})
        run_id = run.id
    assert dataset.id == sample_data.id
    assert stored_config(run_id) == {"dataset": reference(dataset)}


# -- what asyncart adds: strict URIs, the async face, fixed values ---------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "asyncart-artifact://default/boom-data:v0",  # no entity
        "asyncart-artifact://e/default/boom-data:v0/extra",
        "asyncart-artifact://e/default/boom-data:v0:v1",
        "asyncart-artifact://e//boom-data",
        "asyncart-artifact://_id/not-an-id",
        "asyncart-artifact://_id/0123456789abcdef01234567/x",
        "wandb-artifact://http:///e/default/boom-data",
        "asyncart-artifact://",
    ],
)
def test_a_malformed_artifact_uri_is_refused_naming_it(uri: str) -> None:
    """A malformed URI is a ConfigError naming it and the accepted forms, at init (checked
    before the run is created) and by item (the stored config stays empty)."""
    with pytest.raises(ConfigError, match="expected asyncart-artifact://") as raised:
        asyncart.init(job_type="t", config={"dataset": uri})
    assert repr(uri) in str(raised.value)
    with asyncart.init(job_type="t") as run:
        with pytest.raises(ConfigError, match="expected asyncart-artifact://"):
            run.config["dataset"] = uri
        assert "dataset" not in run.config
        run_id = run.id
    assert stored_config(run_id) == {}


def test_a_reference_without_a_valid_id_is_refused() -> None:
    """A reference dict names its version by ``id``; a missing or malformed one is a
    ConfigError saying so."""
    run = asyncart.init(job_type="t")
    with pytest.raises(ConfigError, match="by 'id'"):
        run.config["d"] = {"_type": "artifactVersion", "sequenceName": "boom-data"}
    with pytest.raises(ConfigError, match="by 'id'"):
        run.config["d"] = {"_type": "artifactVersion", "id": "../etc"}
    run.finish()
    assert stored_config(run.id) == {}


def test_a_uri_of_another_store_is_refused() -> None:
    """A URI whose store URL is not the run's store is refused (asyncart uses artifacts
    of the run's store only)."""
    run = asyncart.init(job_type="t")
    with pytest.raises(ConfigError, match=r"names the store http://127\.0\.0\.1:9,"):
        run.config["d"] = f"asyncart-artifact://http://127.0.0.1:9/e/{project()}/boom-data"
    run.finish()


def test_changing_a_value_needs_allow_val_change() -> None:
    """As W&B's ``Config``: setting a key to another value raises unless
    ``update(..., allow_val_change=True)``; the same value again is fine."""
    with asyncart.init(job_type="t", config={"lr": 0.1}) as run:
        run.config.lr = 0.1
        with pytest.raises(ConfigError, match="allow_val_change=True"):
            run.config.lr = 0.2
        run.config.update({"lr": 0.3, "epochs": 4}, allow_val_change=True)
        assert dict(run.config) == {"lr": 0.3, "epochs": 4}
        run_id = run.id
    assert stored_config(run_id) == {"lr": 0.3, "epochs": 4}


def test_a_value_that_is_not_json_is_refused_naming_its_key(store: str) -> None:
    """A value JSON cannot hold is a ConfigError naming the key, on both stores, at init
    and by item (W&B stores ``str(value)`` instead)."""
    with pytest.raises(ConfigError, match="config key 'where': the value is not JSON"):
        asyncart.init(job_type="t", config={"where": Path("x")})
    with asyncart.init(job_type="t") as run:
        with pytest.raises(ConfigError, match="config key 'when': the value is not JSON"):
            run.config.update({"ok": 1, "when": {1, 2}})
        run_id = run.id
    assert stored_config(run_id) == {}


def test_a_finished_run_config_is_fixed() -> None:
    """Changing the config of a finished run is refused (W&B's ``_raise_if_finished``)."""
    run = asyncart.init(job_type="t")
    run.finish()
    with pytest.raises(ConfigError, match="is finished"):
        run.config["lr"] = 0.1


async def test_artifacts_in_the_async_run_config(store: str) -> None:
    """The async face: ``aio.init(config=)`` with a URI, ``await config.set`` and
    ``await config.update``; plain item assignment says to await instead."""
    Path("a.txt").write_text("a")
    async with await aio.init(job_type="t") as producer:
        made = aio.Artifact("boom-data", "dataset")
        made.add_file("a.txt")
        await producer.log_artifact(made)
    uri = f"asyncart-artifact://me/{project()}/boom-data:v0"
    async with await aio.init(job_type="t", config={"by_name": uri}) as run:
        await run.config.set("by_id", f"asyncart-artifact://_id/{made.id}")
        await run.config.update({"obj": made, "lr": 0.1})
        assert {run.config[k].id for k in ("by_name", "by_id", "obj")} == {made.id}
        assert run.config.lr == 0.1
        with pytest.raises(ConfigError, match=r"await run\.config\.set"):
            run.config["lr"] = 0.2
        run_id = run.id
    async with aio.Api() as api:
        read = await api.run(run_id)
    ref = {
        "_type": "artifactVersion",
        "_version": "v0",
        "id": made.id,
        "version": "v0",
        "sequenceName": "boom-data",
        "usedAs": None,
    }
    assert read.config == {"by_name": ref, "by_id": ref, "obj": ref, "lr": 0.1}


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_config_routes_check_what_they_are_sent(
    shared_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``PUT /v1/runs/{id}/config`` and ``GET /v1/version-ids/{id}`` on a real server: a
    body that is not a config, a malformed or unknown id, a finished run's change."""
    server = shared_server
    monkeypatch.setenv("ASYNCART_URL", server.url)
    run = asyncart.init(job_type="t")
    route = f"{server.url}/v1/runs/{run.id}/config"
    status, answer = http("PUT", route, json.dumps({"config": [1, 2]}).encode())
    assert (status, answer["code"]) == (400, "bad_request"), answer
    status, answer = http("PUT", route, json.dumps({"config": {"lr": 0.5}}).encode())
    assert (status, answer["config"]) == (200, {"lr": 0.5})
    assert asyncart.Api().run(run.id).config == {"lr": 0.5}
    status, answer = http("GET", f"{server.url}/v1/version-ids/NOT-hex")
    assert status == 400 and "24 lowercase hex" in answer["message"], answer
    status, answer = http("GET", f"{server.url}/v1/version-ids/{'0' * 24}")
    assert (status, answer["code"]) == (404, "version_not_found"), answer
    run.finish()
    status, answer = http("PUT", route, json.dumps({"config": {"lr": 1}}).encode())
    assert status == 409 and "can no longer change" in answer["message"], answer

    async def put() -> None:  # the SDK's client maps the answer back
        async with run._async.client.use() as remote:
            await remote.set_run_config(run.id, {"lr": 1})

    with pytest.raises(ConflictError, match="can no longer change"):
        portal.call(put)
