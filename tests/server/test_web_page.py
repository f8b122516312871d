"""The web page in headless Chromium: the artifacts table (links, sorting, filtering), a
version's details (digest, description, metadata, files, run config, pull command) and its
lineage, opened centred on the version and fitted to the window.

Debian's ``chromium`` package (``.ci/run`` installs it). One browser and one live server on
127.0.0.1 serve the whole module (the server holds the pipeline of ``tests.support.pipeline``
and one version whose name, description, metadata, file name and run config are markup);
both are stopped by the module. Screenshots go to each test's tmp dir (``docs/img/`` holds
copies for the docs).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
import pytest

from asyncart import aio
from asyncart.core.diff_report import summary_line
from asyncart.repo.access import Role
from asyncart.server.webui import WEB_PATHS
from tests.support.accounts import users_with_keys
from tests.support.browser import Page, browser, chromium_path, devtools_page
from tests.support.cli import run_cli
from tests.support.live_server import LiveServer, live_server
from tests.support.pipeline import PROJECT, Pipeline, log_pipeline

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="no Chromium browser (chromium or chromium-browser on PATH): install Debian's "
    "chromium package to run the web page tests (.ci/run does)",
)

#: Markup in every place the store lets a user write text; none of it may run.
HOSTILE_NAME = "it's <img src=x onerror=\"window.__xss='name'\">"
HOSTILE_DESCRIPTION = "<script>window.__xss='description'</script><b>not bold</b>"
HOSTILE_METADATA = {"<img src=x onerror=\"window.__xss='key'\">": "</pre><svg onload=alert(1)>"}
HOSTILE_FILE = "<img src=x onerror=\"window.__xss='file'\">.txt"
HOSTILE_CONFIG = {"lr": 0.01, "note": "<iframe src=javascript:alert(1)>"}
WIDE, TALL = 1280, 800


COSTS = "costs"  # the project whose versions share a file: what each added and frees differ
COSTS_QUOTA = 10_000_000


async def _log_costs(url: str) -> None:
    """``costs/ckpt``: v0 holds ``a`` and ``b``, v1 ``a`` and ``c`` (random, one chunk each)."""
    for name in "abc":
        Path(f"{name}.bin").write_bytes(os.urandom(40_000))
    async with await aio.init(job_type="train", project=COSTS, url=url) as run:
        for files in (("a.bin", "b.bin"), ("a.bin", "c.bin")):
            art = aio.Artifact("ckpt", type="checkpoint")
            for f in files:
                art.add_file(f)
            await run.log_artifact(art)


@dataclass(frozen=True)
class Site:
    server: LiveServer
    pipeline: Pipeline
    hostile_run: str
    seed_run: str
    port: int  # the browser's DevTools port


def _fragment(project: str, name: str, ref: str) -> str:
    return "#/" + "/".join(quote(part, safe="") for part in (project, name, ref))


def _target(href: str) -> list[str]:
    """The project, name and ref a ``#/...`` link selects."""
    assert href.startswith("#/")
    return [unquote(part) for part in href[2:].split("/")]


async def _log_hostile(url: str) -> str:
    Path(HOSTILE_FILE).write_text("hostile file name\n")
    async with await aio.init(
        job_type="probe", project=PROJECT, url=url, config=HOSTILE_CONFIG
    ) as run:
        art = aio.Artifact(
            HOSTILE_NAME, type="dataset", description=HOSTILE_DESCRIPTION, metadata=HOSTILE_METADATA
        )
        art.add_file(HOSTILE_FILE)
        await run.log_artifact(art)
    return run.id


async def _log_seed(url: str) -> str:
    """The README's seed in project ``seed``: ``train`` logs and uses ``bike dataset:v0``,
    uses ``bike model:v0`` (logged by no run), logs it again, then logs ``bike notes:v0``."""
    Path("bicycle-data.h5").write_bytes(b"rides " * 50)
    Path("model.h5").write_bytes(b"weights " * 50)
    async with await aio.init(job_type="train", project="seed", url=url) as run:
        data = aio.Artifact("bike dataset", type="dataset")
        data.add_file("bicycle-data.h5")
        await run.log_artifact(data)
        await run.use_artifact("bike dataset:latest")
        for log in (run.use_artifact, run.log_artifact):
            model = aio.Artifact("bike model", type="model")
            model.add_file("model.h5")
            await log(model)
        Path("notes.txt").write_text("trained on the bike dataset\n")
        notes = aio.Artifact("bike notes", type="report")
        notes.add_file("notes.txt")
        await run.log_artifact(notes)  # reached from the model only downstream, through train
    return run.id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("web")
    work = tmp / "work"
    work.mkdir()
    with pytest.MonkeyPatch.context() as mp:  # module scope: clean_env has not run yet
        for key in [k for k in os.environ if k.startswith("ASYNCART_")]:
            mp.delenv(key)
        mp.setenv("ASYNCART_CACHE_DIR", str(tmp / "cache"))
        mp.setenv("XDG_CACHE_HOME", str(tmp / "xdg-cache"))
        mp.setenv("XDG_CONFIG_HOME", str(tmp / "xdg-config"))
        mp.chdir(work)
        with live_server(tmp / "store") as server:
            pipeline = asyncio.run(log_pipeline(url=server.url))
            hostile_run = asyncio.run(_log_hostile(server.url))
            seed_run = asyncio.run(_log_seed(server.url))
            asyncio.run(_log_costs(server.url))
            quota = run_cli(
                "server", "admin", "quota", COSTS, str(COSTS_QUOTA), "--root", str(server.root)
            )
            assert quota.returncode == 0, quota.stderr
            with browser(tmp / "profile") as port:
                yield Site(server, pipeline, hostile_run, seed_run, port)


@pytest.fixture
async def page(site: Site) -> AsyncIterator[Page]:
    async with devtools_page(site.port) as tab:
        await tab.set_viewport(WIDE, TALL)
        yield tab


async def _open(page: Page, url: str) -> None:
    """Load ``url`` afresh (not a same-page hash change: the last page's state would answer
    the wait) and wait until the table and, for a version, all its parts are drawn."""
    await page.navigate("about:blank")
    await page.wait_for("location.href === 'about:blank'")
    await page.navigate(url)
    await page.wait_for(
        "document.body.dataset.store === 'ready' && (location.hash === '' || ("
        "document.getElementById('graph').dataset.state === 'ready' && "
        "document.getElementById('file-list')?.dataset.state === 'ready' && "
        "document.getElementById('run-info')?.dataset.state === 'ready' && "
        "document.querySelector('dl.facts')?.dataset.cost === 'ready'))"
    )


async def _rows(page: Page) -> list[str]:
    rows: list[str] = await page.evaluate(
        "[...document.querySelectorAll('#artifacts tr.version-row')].map(r => r.dataset.version)"
    )
    return rows


async def _rect(page: Page, selector: str) -> dict[str, float]:
    rect: dict[str, float] = await page.evaluate(
        f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
        " return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; })()"
    )
    return rect


def _inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["left"] >= outer["left"] - 0.5
        and inner["top"] >= outer["top"] - 0.5
        and inner["right"] <= outer["right"] + 0.5
        and inner["bottom"] <= outer["bottom"] + 0.5
    )


WINDOW = {"left": 0, "top": 0, "right": WIDE, "bottom": TALL}
DEMO = {f"{PROJECT}/{n}:v0" for n in ("bike model", "labels", "report", "rides", HOSTILE_NAME)}
SEED = {f"seed/bike {n}:v0" for n in ("dataset", "model", "notes")}
ALL = DEMO | SEED | {f"{COSTS}/ckpt:v0", f"{COSTS}/ckpt:v1"}


async def test_the_table_links_names_and_sorts_and_filters_its_rows(
    site: Site, page: Page, tmp_path: Path
) -> None:
    await _open(page, site.server.url + "/")
    assert set(await _rows(page)) == ALL
    links = await page.evaluate(  # row -> [name shown, where its link goes]
        "Object.fromEntries([...document.querySelectorAll('#artifacts tr.version-row')]"
        ".map(r => [r.dataset.version, [r.querySelector('a.name').textContent,"
        " r.querySelector('a.name').getAttribute('href')]]))"
    )
    for version in ALL:
        project, rest = version.split("/", 1)
        name = rest.rsplit(":", 1)[0]
        assert links[version][0] == name
        newest = "v1" if project == COSTS else "v0"
        assert _target(links[version][1]) == [project, name, newest]
    sizes = {  # of the versions of PROJECT's pipeline
        f"{PROJECT}/labels:v0": 19,
        f"{PROJECT}/report:v0": 14,
        f"{PROJECT}/rides:v0": 10 + 7 * 500,
        f"{PROJECT}/bike model:v0": 256 * 64,
    }

    async def sort_by(column: str) -> list[str]:
        await page.evaluate(
            f"document.querySelector('#artifacts th[data-column=\"{column}\"] button').click()"
        )
        return await _rows(page)

    by_size = [v for v in await sort_by("Size") if v in sizes]
    assert by_size == sorted(sizes, key=sizes.__getitem__)
    assert [v for v in await sort_by("Size") if v in sizes] == by_size[::-1]  # again: reversed
    names = [v.split("/", 1)[1].rsplit(":", 1)[0] for v in await sort_by("Artifact")]
    assert names == sorted(names) and names[0] == "bike dataset"
    projects = [v.split("/", 1)[0] for v in await sort_by("Project")]
    assert projects == [COSTS] * 2 + [PROJECT] * len(DEMO) + ["seed"] * 3

    async def filter_by(text: str) -> list[str]:
        await page.evaluate(
            f"(f => {{ f.value = {text!r}; f.dispatchEvent(new Event('input')); }})"
            "(document.getElementById('filter'))"
        )
        return await _rows(page)

    assert set(await filter_by("model")) == {f"{PROJECT}/bike model:v0", "seed/bike model:v0"}
    assert set(await filter_by("dataset")) == {
        f"{PROJECT}/{n}:v0" for n in ("labels", "rides", HOSTILE_NAME)
    } | {"seed/bike dataset:v0"}
    assert await filter_by("seed model") == ["seed/bike model:v0"]  # every word matches
    assert await filter_by("best") == [f"{PROJECT}/bike model:v0"]  # an alias
    assert await filter_by("no such thing") == []
    count = await page.evaluate("document.getElementById('row-count').textContent")
    assert count == f"0 of {len(ALL)} version(s)"
    await filter_by("")
    assert set(await _rows(page)) == ALL
    await page.screenshot(tmp_path / "artifacts.png")


async def test_a_version_shows_its_details_files_run_and_pull_command(
    site: Site, page: Page, tmp_path: Path
) -> None:
    url = site.server.url
    await _open(page, url + "/" + _fragment(PROJECT, "bike model", "best"))
    async with aio.Api(project=PROJECT, url=url) as api:
        v = await api.artifact("bike model:best")
        digest = v.digest
    assert await page.evaluate("document.getElementById('digest').textContent") == digest
    command = await page.evaluate("document.getElementById('pull-command').textContent")
    assert command == f"asyncart pull 'lineage demo/bike model:v0' --url {url}"
    await page.send(
        "Browser.grantPermissions",
        origin=url,
        permissions=["clipboardReadWrite", "clipboardSanitizedWrite"],
    )
    await page.send("Emulation.setFocusEmulationEnabled", enabled=True)  # headless: no focus
    await page.evaluate("document.getElementById('copy-pull').click()")
    await page.wait_for("document.getElementById('copy-pull').textContent === 'Copied'")
    assert await page.evaluate("navigator.clipboard.readText()") == command
    files = await page.evaluate(
        "[...document.querySelectorAll('#files tr.file-row td.path')].map(td => td.textContent)"
    )
    assert files == ["model.bin"]
    run_text = await page.evaluate("document.getElementById('run-info').textContent")
    assert site.pipeline.train in run_text and "train-1" in run_text
    selected = await page.evaluate(
        "[...document.querySelectorAll('tr.version-row.selected')].map(r => r.dataset.version)"
    )
    assert selected == [f"{PROJECT}/bike model:v0"]
    # The lineage: every node and edge, each inside the graph's box and the window.
    p = site.pipeline
    nodes = await page.evaluate(
        "[...document.querySelectorAll('#graph g.node')].map(g => g.dataset.id)"
    )
    assert set(nodes) == {
        f"version:{PROJECT}/bike model:v0",
        f"run:{p.train}",
        f"version:{PROJECT}/rides:v0",
        f"version:{PROJECT}/labels:v0",
        f"run:{p.prepare}",
        f"run:{p.evaluate}",
        f"version:{PROJECT}/report:v0",
    }
    edges = await page.evaluate(
        "[...document.querySelectorAll('#graph path.edge')]"
        ".map(e => e.dataset.source + ' -> ' + e.dataset.target)"
    )
    assert f"run:{p.train} -> version:{PROJECT}/bike model:v0" in edges and len(edges) == 6
    box = await _rect(page, "#graph .viewport")
    assert _inside(box, WINDOW)
    for node in nodes:
        rect = await _rect(page, f'#graph g.node[data-id="{node}"] rect')
        assert _inside(rect, box), (node, rect, box)
    await page.screenshot(tmp_path / "version.png")


async def test_a_long_upstream_chain_opens_centred_on_the_version_and_pans(
    site: Site, page: Page, tmp_path: Path
) -> None:
    """report:v0 ends the pipeline: its graph is four columns of upstream to its left, wider
    than a narrow window; the version (rightmost) must still be on screen."""
    await page.set_viewport(640, TALL)
    await _open(page, site.server.url + "/" + _fragment(PROJECT, "report", "v0"))
    root = "#graph g.node.root rect"
    box = await _rect(page, "#graph .viewport")
    assert await page.evaluate("document.querySelector('#graph g.node.root').dataset.id") == (
        f"version:{PROJECT}/report:v0"
    )
    assert _inside(await _rect(page, root), box)
    assert box["right"] <= 640
    first = await _rect(page, f'#graph g.node[data-id="run:{site.pipeline.prepare}"] rect')
    assert first["right"] <= box["left"]  # the far end is off to the left: pan to it
    await page.screenshot(tmp_path / "narrow.png")
    # Drag right by 300 px: the graph follows the pointer; Fit brings the version back.
    x, y = (box["left"] + box["right"]) / 2, (box["top"] + box["bottom"]) / 2
    for kind, dx in (("mousePressed", 0), ("mouseMoved", 150), ("mouseMoved", 300)):
        await page.send(
            "Input.dispatchMouseEvent",
            type=kind,
            x=x + dx,
            y=y,
            button="left",
            buttons=1,
            clickCount=1,
        )
    await page.send(
        "Input.dispatchMouseEvent",
        type="mouseReleased",
        x=x + 300,
        y=y,
        button="left",
        buttons=0,
        clickCount=1,
    )
    panned = await _rect(page, f'#graph g.node[data-id="run:{site.pipeline.prepare}"] rect')
    assert abs(panned["left"] - first["left"] - 300) < 2, (first, panned)
    await asyncio.sleep(0.3)  # past the resize refit's debounce: an unchanged size keeps the pan
    kept = await _rect(page, f'#graph g.node[data-id="run:{site.pipeline.prepare}"] rect')
    assert kept == panned
    assert not _inside(await _rect(page, root), await _rect(page, "#graph .viewport"))
    await page.set_viewport(700, TALL)  # a new size refits around the version
    await page.wait_for(
        "(() => { const q = (s) => document.querySelector(s).getBoundingClientRect();"
        " const r = q('#graph g.node.root rect'), b = q('#graph .viewport');"
        " return r.left >= b.left && r.right <= b.right; })()"
    )
    await page.set_viewport(640, TALL)
    await page.wait_for(
        "document.querySelector('#graph .viewport').getBoundingClientRect().right <= 640"
    )
    await page.evaluate("document.querySelector('#graph .toolbar button').click()")  # Fit
    assert _inside(await _rect(page, root), box)


async def test_a_run_both_upstream_and_downstream_keeps_all_its_edges(
    site: Site, page: Page, tmp_path: Path
) -> None:
    """The README's seed: ``train`` is met upstream of ``bike model:v0`` first, and must
    still be walked downstream, or ``train -> bike notes:v0`` is lost (issue 20)."""
    await _open(page, site.server.url + "/" + _fragment("seed", "bike model", "v0"))
    edges = await page.evaluate(
        "[...document.querySelectorAll('#graph path.edge')]"
        ".map(e => e.dataset.source + ' -> ' + e.dataset.target)"
    )
    train = f"run:{site.seed_run}"
    data, model, notes = (f"version:seed/bike {n}:v0" for n in ("dataset", "model", "notes"))
    assert sorted(edges) == sorted(
        [
            f"{train} -> {data}",
            f"{data} -> {train}",
            f"{train} -> {model}",
            f"{model} -> {train}",
            f"{train} -> {notes}",
        ]
    )
    box = await _rect(page, "#graph .viewport")
    for node in (train, data, model, notes):
        assert _inside(await _rect(page, f'#graph g.node[data-id="{node}"] rect'), box)
    await page.screenshot(tmp_path / "seed.png")


async def test_a_version_compares_with_another_of_any_collection_as_asyncart_diff_does(
    site: Site, page: Page
) -> None:
    """The diff view draws what ``artifact.diff`` computes: rows and summary line alike."""
    await _open(page, site.server.url + "/" + _fragment("seed", "bike model", "v0"))
    assert await page.evaluate("document.getElementById('compare-with').value") == ""  # v0
    await page.evaluate(
        "document.getElementById('compare-with').value = 'seed/bike dataset:latest';"
        "document.getElementById('compare-form').requestSubmit()"
    )
    await page.wait_for("document.getElementById('diff-view').dataset.state === 'ready'")
    shown: dict[str, Any] = await page.evaluate(
        "({rows: [...document.querySelectorAll('#diff tr.diff-row')]"
        ".map(r => [r.dataset.status, r.querySelector('td.path').textContent]),"
        " summary: document.getElementById('diff-summary').textContent})"
    )
    async with aio.Api(project="seed", url=site.server.url) as api:
        old = await api.artifact("bike dataset:v0")
        result = await old.diff("bike model:v0")
    assert shown["rows"] == [["removed", "bicycle-data.h5"], ["added", "model.h5"]]
    assert shown["rows"] == [[f.status, f.path] for f in result.files]
    assert shown["summary"] == summary_line(result.manifest_diff)


async def test_the_page_shows_what_each_version_added_and_would_free_and_the_quota(
    site: Site, page: Page, tmp_path: Path
) -> None:
    """The figures of ``asyncart ls`` / ``Api().storage``, drawn from the same route: a
    version that shares a file with another frees less than it added."""
    await _open(page, site.server.url + "/" + _fragment(COSTS, "ckpt", "v0"))
    async with aio.Api(project=COSTS, url=site.server.url) as api:
        storage = await api.storage()
    (ckpt,) = storage.collections
    expected = {v.version: (v.added_bytes, v.exclusive_bytes) for v in ckpt.versions}
    assert expected["v0"][1] < expected["v0"][0]  # a.bin is held by v1 too
    cells: dict[str, list[str | None]] = await page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#artifacts tr.version-row')]"
        f".filter(r => r.dataset.version.startsWith('{COSTS}/'))"
        ".map(r => [r.dataset.version.split(':')[1],"
        " [...r.querySelectorAll('span.cost')].map(s => s.dataset.bytes ?? null)]))"
    )
    assert {
        v: tuple(int(n) for n in pair if n is not None) for v, pair in cells.items()
    } == expected
    header = await page.evaluate(
        "[...document.querySelectorAll('#artifacts th')].map(t => t.textContent)"
    )
    assert header[header.index("Size") + 1 : header.index("Size") + 3] == ["Added", "Frees"]
    detail = await page.evaluate(
        "[document.getElementById('cost-added').dataset.bytes,"
        " document.getElementById('cost-frees').dataset.bytes]"
    )
    assert tuple(int(n) for n in detail) == expected["v0"]
    line: dict[str, str] = await page.evaluate(
        f"({{...document.querySelector('#storage li[data-project=\"{COSTS}\"]').dataset,"
        f" text: document.querySelector('#storage li[data-project=\"{COSTS}\"]').textContent}})"
    )
    assert int(line["size"]) == storage.size and int(line["stored"]) == storage.stored_bytes
    assert int(line["quota"]) == COSTS_QUOTA and "quota:" in line["text"]
    others = await page.evaluate("document.querySelectorAll('#storage li').length")
    assert others == 3  # one line per project, the quota only where one is set
    assert await page.evaluate("document.querySelectorAll('#storage .quota').length") == 1
    await page.screenshot(tmp_path / "costs.png")


async def test_markup_from_the_store_shows_as_text_and_never_runs(
    site: Site, page: Page, tmp_path: Path
) -> None:
    await _open(page, site.server.url + "/" + _fragment(PROJECT, HOSTILE_NAME, "v0"))
    found: dict[str, Any] = await page.evaluate(
        "({xss: window.__xss ?? null,"
        " injected: document.querySelectorAll('main img, main script, main iframe, main b,"
        " main svg [onload], main [onerror]').length,"
        " title: document.getElementById('version-title').textContent,"
        " description: document.getElementById('description').textContent,"
        " metadata: document.getElementById('metadata').textContent,"
        " config: document.getElementById('run-config').textContent,"
        " files: [...document.querySelectorAll('#files td.path')].map(td => td.textContent),"
        " names: [...document.querySelectorAll('#artifacts a.name')].map(a => a.textContent),"
        " node: document.querySelector('#graph g.node.root title').textContent,"
        " command: document.getElementById('pull-command').textContent})"
    )
    assert found["xss"] is None and found["injected"] == 0
    assert found["title"] == f"{PROJECT}/{HOSTILE_NAME}:v0" == found["node"]
    assert found["description"] == HOSTILE_DESCRIPTION
    assert json.loads(found["metadata"]) == HOSTILE_METADATA  # shown as JSON, as text
    assert json.loads(found["config"]) == HOSTILE_CONFIG
    assert found["files"] == [HOSTILE_FILE]
    assert HOSTILE_NAME in found["names"]
    # The pull command is one shell word per argument, whatever the name holds.
    assert shlex.split(found["command"]) == [
        "asyncart",
        "pull",
        f"{PROJECT}/{HOSTILE_NAME}:v0",
        "--url",
        site.server.url,
    ]
    await page.screenshot(tmp_path / "hostile.png")


async def test_page_on_a_store_with_users_needs_the_key_typed_into_it(
    site: Site, page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    key = (await users_with_keys(root, {"alice": [(PROJECT, Role.WRITE)]}))["alice"]
    monkeypatch.setenv("ASYNCART_API_KEY", key)  # for logging the pipeline
    with live_server(root) as server:
        p = await log_pipeline(url=server.url)
        async with aiohttp.ClientSession() as http:
            for path in sorted(WEB_PATHS):  # the shell is public
                async with http.get(server.url + path) as resp:
                    assert resp.status == 200, path
                    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
            for path in ("/v1/projects", "/ui/other.js", "/ui"):  # the data is not, nor more
                async with http.get(server.url + path) as resp:
                    assert resp.status == 401, path
        await page.navigate(server.url + "/" + _fragment(PROJECT, "rides", "latest"))
        await page.wait_for("document.body.dataset.store === 'error'")
        text = await page.evaluate("document.getElementById('projects').textContent")
        assert "needs an API key" in text
        assert await page.evaluate("document.querySelectorAll('tr.version-row').length") == 0
        # The user types the key: kept in this tab's sessionStorage, never in the URL.
        await page.evaluate(
            f"document.getElementById('key').value = {key!r};"
            "document.getElementById('key-form').requestSubmit()"
        )
        await page.wait_for(
            "document.body.dataset.store === 'ready' && "
            "document.getElementById('graph').dataset.state === 'ready'"
        )
        assert await page.evaluate("sessionStorage.getItem('asyncart.apiKey')") == key
        assert key not in await page.evaluate("location.href")
        assert await page.evaluate("document.getElementById('key').value") == ""
        nodes = await page.evaluate(
            "[...document.querySelectorAll('#graph g.node')].map(g => g.dataset.id)"
        )
        assert set(nodes) == {
            f"version:{PROJECT}/rides:v0",
            f"run:{p.prepare}",
            f"run:{p.train}",
            f"version:{PROJECT}/bike model:v0",
            f"run:{p.evaluate}",
            f"version:{PROJECT}/report:v0",
        }
        # Clicking a version in the graph follows it.
        await page.evaluate(
            'document.querySelector(`#graph g.node[data-id="version:'
            f"{PROJECT}/report:v0\"]`).dispatchEvent(new MouseEvent('click'))"
        )
        await page.wait_for(
            "document.querySelector('#graph g.node.root')?.dataset.id === "
            f"'version:{PROJECT}/report:v0'"
        )
        assert await page.evaluate("location.hash") == _fragment(PROJECT, "report", "v0")
        await page.evaluate("sessionStorage.clear()")
    assert not any(key in line for line in server.log)
