"""Errors as W&B's callers catch them: a type that is not the collection's is a
``ValueError`` (asyncart.TypeConflict, also a ConflictError), raised by ``log_artifact``
when it waits for the commit, else by ``wait()``; ``use_artifact`` of another type too.
"""

from __future__ import annotations

import pytest

import asyncart
from asyncart import aio

MISC = "tests/system_tests/test_artifacts/test_misc.py"


def logged(name: str, type: str, content: str) -> asyncart.Artifact:
    art = asyncart.Artifact(name, type=type)
    with art.new_file("f.txt") as f:
        f.write(content)
    return art


def test_artifact_creation_with_diff_type(store: str) -> None:
    """Mirrors test_misc.py::test_artifact_creation_with_diff_type: a log of another type
    raises ValueError naming both types (here at log_artifact: wait=True); the version of
    the first type can still be used."""
    with asyncart.init(job_type="a") as run:
        run.log_artifact(logged("a1", "artifact_type_1", "one"), wait=True)
    with asyncart.init(job_type="b") as run:
        run.log_artifact(logged("a1", "artifact_type_1", "two"), wait=True)
    with asyncart.init(job_type="c") as run:
        with pytest.raises(ValueError, match=r"'artifact_type_1'.*'artifact_type_2'") as caught:
            run.log_artifact(logged("a1", "artifact_type_2", "three"), wait=True)
        assert isinstance(caught.value, asyncart.TypeConflict)
        assert isinstance(caught.value, asyncart.ConflictError)
    with asyncart.init(job_type="d") as run:
        assert run.use_artifact("a1:latest").type == "artifact_type_1"


def test_background_log_of_another_type_raises_at_wait() -> None:
    """Mirrors test_wandb_artifacts_api.py::test_log_with_wrong_type_entity_project (the
    type part): a background log learns the type at the commit, so wait() raises it."""
    run = asyncart.init(job_type="a")
    run.log_artifact(logged("set", "dataset", "one"), wait=True)
    art = run.log_artifact(logged("set", "futz", "two"))  # returns at once
    with pytest.raises(ValueError, match="'dataset'"):
        art.wait()
    run.finish()


async def test_async_log_of_another_type_raises_at_log_artifact() -> None:
    """The async face awaits the commit, so log_artifact itself raises."""
    async with await aio.init(job_type="a") as run:
        first = aio.Artifact("set", type="dataset")
        with first.new_file("f.txt") as f:
            f.write("one")
        await run.log_artifact(first)
        second = aio.Artifact("set", type="model")
        with second.new_file("f.txt") as f:
            f.write("two")
        with pytest.raises(asyncart.TypeConflict):
            await run.log_artifact(second)


def test_use_artifact_of_another_type_is_a_value_error(store: str) -> None:
    """Mirrors Run.use_artifact (wandb_run.py): a type that does not match raises ValueError."""
    with asyncart.init(job_type="a") as run:
        run.log_artifact(logged("set", "dataset", "one"), wait=True)
        with pytest.raises(ValueError, match="'dataset'") as caught:
            run.use_artifact("set:latest", type="model")
        assert isinstance(caught.value, asyncart.TypeConflict)
        with pytest.raises(ValueError):
            asyncart.Api().artifact("set:v0", type="model")
