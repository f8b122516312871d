"""``use_as``: W&B deprecated it (``Artifact(use_as=)``, ``artifact.use_as``,
``run.use_artifact(..., use_as)``) and ignores it; code moving from W&B still passes it.
asyncart takes it where W&B does (also as ``run.use_artifact``'s fourth positional
argument), records nothing, and warns with a ``DeprecationWarning`` that points at the
caller's line.
"""

from __future__ import annotations

import warnings

import pytest

import asyncart
from asyncart import aio


def _only_use_as_warning(caught: list[warnings.WarningMessage]) -> warnings.WarningMessage:
    (warning,) = [w for w in caught if "use_as" in str(w.message)]
    assert warning.category is DeprecationWarning
    assert "drop the argument" in str(warning.message)
    assert warning.filename == __file__  # the caller's line, not ours
    return warning


def test_artifact_takes_use_as_and_warns_and_its_getter_is_none() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        art = asyncart.Artifact("mnist", type="dataset", use_as="training data")
    assert "Artifact(use_as=...)" in str(_only_use_as_warning(caught).message)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert art.use_as is None
    _only_use_as_warning(caught)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncart.Artifact("mnist", type="dataset")
    assert not [w for w in caught if "use_as" in str(w.message)]  # not given: silent


def test_use_artifact_takes_use_as_positionally_and_records_the_use(store: str) -> None:
    with asyncart.init(job_type="log") as first:
        art = asyncart.Artifact("mnist", type="dataset")
        with art.new_file("digits.h5") as f:
            f.write("v0")
        first.log_artifact(art).wait()
    with asyncart.init(job_type="train") as run:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            used = run.use_artifact("mnist:v0", "dataset", None, "train_data")  # W&B's order
        assert "run.use_artifact(use_as=...)" in str(_only_use_as_warning(caught).message)
        assert used.version == "v0"
    api = asyncart.Api()
    assert [a.version for a in api.run(run.id).used_artifacts()] == ["v0"]
    stored = api.artifact("mnist:v0")
    with asyncart.init(job_type="later") as later:
        pass
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert api.run(later.id).use_artifact(stored, use_as="eval") is stored
    _only_use_as_warning(caught)
    assert [a.version for a in api.run(later.id).used_artifacts()] == ["v0"]


@pytest.mark.parametrize("store", ["embedded"], indirect=True)
async def test_the_async_face_takes_use_as_too(store: str) -> None:
    async with await aio.init(job_type="log") as run:
        art = aio.Artifact("mnist", type="dataset")
        with art.new_file("digits.h5") as f:
            f.write("v0")
        await run.log_artifact(art)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            used = await run.use_artifact("mnist:v0", use_as="train_data")
        _only_use_as_warning(caught)
        assert used.version == "v0"
