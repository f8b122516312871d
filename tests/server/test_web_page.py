"""The web page in headless Chromium: it lists a logged pipeline and draws a version's lineage.

Debian's ``chromium`` package (``.ci/run`` installs it). A live server on 127.0.0.1 holds the
pipeline of ``tests.support.pipeline``; the browser and the server are stopped by the test.
"""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from asyncart.repo.access import Role
from tests.support.accounts import users_with_keys
from tests.support.browser import browser, chromium_path, devtools_page, dump_dom
from tests.support.live_server import live_server
from tests.support.pipeline import PROJECT, log_pipeline

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="no Chromium browser (chromium or chromium-browser on PATH): install Debian's "
    "chromium package to run the web page tests (.ci/run does)",
)


def _fragment(project: str, name: str, ref: str) -> str:
    return "#/" + "/".join(quote(part, safe="") for part in (project, name, ref))


def _attrs(dom: str, name: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(rf'\b{name}="([^"]*)"', dom)]


def test_page_lists_the_pipeline_and_draws_the_lineage_of_a_version(tmp_path: Path) -> None:
    with live_server(tmp_path / "store") as server:
        p = asyncio.run(log_pipeline(url=server.url))
        dom = dump_dom(
            server.url + "/" + _fragment(PROJECT, "bike model", "v0"), tmp_path / "profile"
        )
    assert 'data-store="ready"' in dom
    # The listing: every version of the project, with its aliases.
    assert set(_attrs(dom, "data-version")) == {
        f"{PROJECT}/{name}:v0" for name in ("bike model", "labels", "report", "rides")
    }
    assert '<td rowspan="1" class="artifact">bike model</td>' in dom
    assert '<span class="alias">best</span>' in dom
    # The graph of bike model:v0: upstream runs and versions, downstream run and report.
    assert 'id="graph" data-state="ready"' in dom and "<svg" in dom
    nodes = set(_attrs(dom, "data-id"))
    assert nodes == {
        f"version:{PROJECT}/bike model:v0",
        f"run:{p.train}",
        f"version:{PROJECT}/rides:v0",
        f"version:{PROJECT}/labels:v0",
        f"run:{p.prepare}",
        f"run:{p.evaluate}",
        f"version:{PROJECT}/report:v0",
    }
    edges = set(zip(_attrs(dom, "data-source"), _attrs(dom, "data-target"), strict=True))
    assert (f"run:{p.train}", f"version:{PROJECT}/bike model:v0") in edges
    assert (f"run:{p.evaluate}", f"version:{PROJECT}/report:v0") in edges
    assert len(edges) == 6
    upstream_run = re.search(rf'<g class="node run upstream" data-id="run:{p.train}"', dom)
    downstream = re.search(
        rf'<g class="node version downstream" data-id="version:{re.escape(PROJECT)}/report:v0"',
        dom,
    )
    assert upstream_run and downstream


async def test_page_on_a_store_with_users_needs_the_key_typed_into_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    key = (await users_with_keys(root, {"alice": [(PROJECT, Role.WRITE)]}))["alice"]
    monkeypatch.setenv("ASYNCART_API_KEY", key)  # for logging the pipeline
    with live_server(root) as server:
        p = await log_pipeline(url=server.url)
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/ui/", "/ui/app.js", "/ui/style.css"):  # the shell is public
                async with http.get(server.url + path) as resp:
                    assert resp.status == 200, path
                    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
            for path in ("/v1/projects", "/ui/other.js", "/ui"):  # the data is not, nor more
                async with http.get(server.url + path) as resp:
                    assert resp.status == 401, path
        url = server.url + "/" + _fragment(PROJECT, "rides", "latest")
        with browser(tmp_path / "profile") as port:
            async with devtools_page(port) as page:
                await page.navigate(url)
                await page.wait_for("document.body.dataset.store === 'error'")
                text = await page.evaluate("document.getElementById('projects').textContent")
                assert "needs an API key" in text
                rows = await page.evaluate("document.querySelectorAll('tr.version-row').length")
                assert rows == 0
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
        assert not any(key in line for line in server.log)
