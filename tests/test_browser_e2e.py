"""End to end in a real browser: notebooks served by Voila, driven by headless chromium through Playwright.

One Voila process serves the test notebooks of this module; each page opens
its own kernel, which talks HTTP to an embedded server running in this test
process (a real SQLite file, a demo catalog). Screenshots of every step go to
env ``DD_ARTIFACTS`` or ``tests/artifacts/``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    VoilaServer,
    artifact_path,
    chromium_page,
    require_browser,
    screenshot_page,
    stretch_viewport,
    voila_server,
    write_notebook,
)

from dd_notebook import DataDispatcherClient
from dd_notebook.metacat import MetaCatClient
from dd_notebook.palette import PROJECT_STATE_COLORS, STATE_COLORS
from dd_notebook.server import LocalServer

PAGE_TIMEOUT_MS = 60_000

CLIENT_CELL = """\
import os
from dd_notebook import DataDispatcherClient
client = DataDispatcherClient(os.environ["DD_TEST_URL"], os.environ["DD_TEST_AUTH_URL"],
                              token=os.environ["DD_TEST_TOKEN"], token_library="token_library")
"""

#: A query whose files all have an available disk replica (reco files are always on FNAL_DCACHE).
QUERY = "files from hd-protodune-det-reco:full-reco-2024 limit 40"
#: A small query for the gallery, so that the creator's preview stays short.
GALLERY_QUERY = "files from hd-protodune-det-reco:full-reco-2024 limit 5"

CATALOG_CELL = """\
from dd_notebook.metacat import MetaCatClient
metacat = MetaCatClient(os.environ["DD_TEST_METACAT_URL"], token=os.environ["DD_TEST_TOKEN"])
"""

E2E_CELLS = [
    CLIENT_CELL,
    CATALOG_CELL,
    "from dd_notebook.widgets import ProjectCreator\ncreator = ProjectCreator(client, metacat)\ncreator",
]

GALLERY_CELLS = [
    CLIENT_CELL,
    CATALOG_CELL,
    "from dd_notebook.view import ProjectView\nview_project = int(os.environ['DD_TEST_VIEW_PROJECT'])\n"
    "ProjectView(client, view_project)",
    "from dd_notebook.widgets import LoginPanel\nLoginPanel(client, token_library='token_library')",
    f"from dd_notebook.widgets import ProjectCreator\ncreator = ProjectCreator(client, metacat)\n"
    f"creator.preview({GALLERY_QUERY!r})\ncreator",
    "from dd_notebook.widgets import ProjectBrowser\nProjectBrowser(client)",
    "from dd_notebook.widgets import ProjectMonitor\nmonitor = ProjectMonitor(client, view_project)\n"
    "monitor.refresh()\nmonitor",
    "from dd_notebook.widgets import RSEPanel\nRSEPanel(client)",
]

#: Root class of each panel in the gallery, and the name of its screenshot.
GALLERY_PANELS = {
    "dd-view": "project-view",
    "dd-login": "login",
    "dd-creator": "creator",
    "dd-browser": "browser",
    "dd-monitor": "monitor",
    "dd-rse-panel": "rses",
}


def rgb(hex_color: str) -> str:
    """``#1f77b4`` as the browser's computed ``rgb(31, 119, 180)``."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.fixture(scope="module", autouse=True)
def browser_available() -> None:
    """Skip the module without chromium/Playwright/Voila (fail instead when ``DD_REQUIRE_BROWSER=1``)."""
    require_browser()


@pytest.fixture(scope="module")
def catalog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A demo server with a 300-file catalog, on a real SQLite file."""
    server = LocalServer(db=tmp_path_factory.mktemp("dd-browser") / "dd.sqlite", demo=True, demo_files=300).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def worker_client(catalog_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> DataDispatcherClient:
    """Alice's client in the test process, acting as a worker."""
    folder = tmp_path_factory.mktemp("worker")
    return DataDispatcherClient(catalog_server.url, catalog_server.auth_url, worker_id="browser-test-worker",
                                token=catalog_server.issue_token("alice"),
                                token_library=str(folder / "token_library"))


def work_on(client: DataDispatcherClient, project_id: int, *, done: int, failed: int = 0, reserved: int = 0) -> None:
    """Reserve files of a project and finish ``done``, fail ``failed`` (no retry), keep ``reserved``."""
    for outcome in ["done"] * done + ["failed"] * failed + ["reserved"] * reserved:
        handle = client.next_file(project_id, stagger=0, timeout=5)
        assert isinstance(handle, dict), handle
        did = f"{handle['namespace']}:{handle['name']}"
        if outcome == "done":
            client.file_done(project_id, did)
        elif outcome == "failed":
            client.file_failed(project_id, did, retry=False)


@pytest.fixture(scope="module")
def view_project(worker_client: DataDispatcherClient) -> int:
    """A project with files in every handle state, for the ProjectView card."""
    project = worker_client.create_project([f"dune:view_{i:03d}.root" for i in range(30)],
                                           query="files from dune:all limit 30",
                                           project_attributes={"virtual": True, "campaign": "browser-test"})
    work_on(worker_client, project["project_id"], done=12, failed=4, reserved=2)
    return int(project["project_id"])


@pytest.fixture(scope="module")
def voila(catalog_server: LocalServer, view_project: int,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoilaServer]:
    """Voila serving this module's notebooks; their kernels reach the catalog server as alice."""
    root = tmp_path_factory.mktemp("voila")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "gallery.ipynb", GALLERY_CELLS)
    write_notebook(notebooks / "e2e.ipynb", E2E_CELLS)
    env = {
        "DD_TEST_URL": catalog_server.url,
        "DD_TEST_AUTH_URL": catalog_server.auth_url,
        "DD_TEST_METACAT_URL": catalog_server.metacat_url,
        "DD_TEST_TOKEN": catalog_server.issue_token("alice"),
        "DD_TEST_VIEW_PROJECT": str(view_project),
    }
    with voila_server(notebooks, root / "jupyter", env=env) as server:
        yield server


async def open_notebook(page: Any, voila: VoilaServer, notebook: str, ready_selector: str) -> None:
    """Load a notebook page and wait for ``ready_selector``; fail with the traceback or page text when it does not come.

    Voila stops at the first cell that raises and shows its traceback as a
    stderr output (``--show_tracebacks=True``).
    """
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    await page.goto(voila.render_url(notebook), timeout=PAGE_TIMEOUT_MS)
    ready = page.locator(ready_selector).first
    tracebacks = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").filter(
        has_text="Traceback (most recent call last)")
    try:
        await ready.or_(tracebacks.first).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    except PlaywrightTimeout:
        pass
    if await tracebacks.count() or not await ready.count():
        await screenshot_page(page, f"{Path(notebook).stem}-failed.png")
        shown = "\n".join(await tracebacks.all_inner_texts()) or (await page.inner_text("body"))[-3000:]
        pytest.fail(f"{notebook} did not show {ready_selector}:\n{shown}\n--- voila log ---\n{voila.log_tail()}")


async def computed(locator: Any, prop: str) -> str:
    """The computed CSS property ``prop`` of the element behind ``locator``."""
    return await locator.evaluate("(el, prop) => getComputedStyle(el).getPropertyValue(prop)", prop)


async def check_project_view_card(page: Any, project_id: int) -> None:
    """The ProjectView card is left-aligned and coloured from the palette under Voila's JupyterLab CSS."""
    card = page.locator(".dd-view")
    assert f"Project {project_id}" in await card.locator(".dd-head").inner_text()
    files_row = card.locator("table.dd-fields tr").first
    assert "done 12" in await files_row.inner_text() and "failed 4" in await files_row.inner_text()
    for cell in ("th", "td"):
        assert await computed(files_row.locator(cell), "text-align") == "left"
    assert await computed(card.locator(".dd-state"), "background-color") == rgb(PROJECT_STATE_COLORS["active"])
    for state in ("done", "failed", "reserved", "initial"):
        segment = card.locator(f".dd-bar .dd-{state}")
        assert await computed(segment, "background-color") == rgb(STATE_COLORS[state])
    card_box, table_box = await card.bounding_box(), await card.locator("table.dd-fields").first.bounding_box()
    assert table_box["x"] - card_box["x"] < 2, "the fields table is not flush with the card's left edge"


def test_gallery_of_panels_in_voila(voila: VoilaServer, view_project: int, catalog_server: LocalServer,
                                    worker_client: DataDispatcherClient) -> None:
    """The ProjectView card and each panel show up in Voila with content and no error in their status line."""
    preview_files = len(list(MetaCatClient(catalog_server.metacat_url).query(GALLERY_QUERY)))
    rse_names = sorted(rse["name"] for rse in worker_client.list_rses())

    async def scenario() -> None:
        async with chromium_page() as page:
            await open_notebook(page, voila, "gallery.ipynb", ".dd-rse-panel")
            await page.locator(".dd-rse-panel .dd-rses table").wait_for(timeout=PAGE_TIMEOUT_MS)
            await page.locator(".dd-monitor img.dd-monitor-timeline").wait_for(timeout=PAGE_TIMEOUT_MS)
            await stretch_viewport(page)
            await check_project_view_card(page, view_project)
            for css, name in GALLERY_PANELS.items():
                panel = page.locator(f".{css}").first
                await panel.scroll_into_view_if_needed()
                await panel.screenshot(path=str(artifact_path(f"gallery-{name}.png")))
                box = await panel.bounding_box()
                assert box is not None and box["width"] > 200 and box["height"] > 40, (css, box)
                errors = panel.locator(".dd-status .dd-error")
                assert await errors.count() == 0, (css, await errors.all_inner_texts())
            headline = await page.locator(".dd-creator .dd-preview .dd-title").first.inner_text()
            assert headline.startswith(f"{preview_files} files"), headline
            browser_rows = await page.locator(".dd-browser .dd-browser-table table tbody tr").all_inner_texts()
            assert any(row.split()[:2] == [str(view_project), "alice"] for row in browser_rows), browser_rows
            rse_rows = await page.locator(".dd-rse-panel .dd-rses table tbody tr").all_inner_texts()
            assert sorted(row.split()[0] for row in rse_rows) == rse_names

    asyncio.run(scenario())


def drain(client: DataDispatcherClient, project_id: int, pause_s: float = 0.05) -> int:
    """Work through a project as one worker until it ends; returns the files finished."""
    finished = 0
    while True:
        handle = client.next_file(project_id, stagger=0, timeout=2)
        if handle is False:
            return finished
        if isinstance(handle, dict):
            time.sleep(pause_s)
            client.file_done(project_id, f"{handle['namespace']}:{handle['name']}")
            finished += 1


@pytest.mark.slow
def test_create_project_and_watch_it_drain(voila: VoilaServer, catalog_server: LocalServer,
                                           worker_client: DataDispatcherClient) -> None:
    """Type a query, preview, create, open the monitor and watch a worker finish every file."""
    metacat = MetaCatClient(catalog_server.metacat_url)
    expected_files = len(list(metacat.query(QUERY)))
    assert expected_files > 0

    async def scenario() -> None:
        from playwright.async_api import expect

        async with chromium_page() as page:
            await open_notebook(page, voila, "e2e.ipynb", ".dd-creator")
            await screenshot_page(page, "e2e-1-creator.png")

            await page.locator(".dd-creator .dd-query textarea").fill(QUERY)
            await page.locator(".dd-creator .dd-preview-button").click()
            headline = page.locator(".dd-creator .dd-preview .dd-preview-summary .dd-title")
            await expect(headline).to_contain_text(f"{expected_files:,} files", timeout=PAGE_TIMEOUT_MS)
            await screenshot_page(page, "e2e-2-preview.png")

            create = page.locator(".dd-creator .dd-create-button")
            await expect(create).to_be_enabled(timeout=PAGE_TIMEOUT_MS)
            await create.click()
            created = page.locator(".dd-creator .dd-created .dd-created-id")
            await expect(created).to_contain_text(f"with {expected_files:,} files", timeout=PAGE_TIMEOUT_MS)
            project_id = int(await created.get_attribute("data-project-id"))
            await screenshot_page(page, "e2e-3-created.png")

            project = worker_client.get_project(project_id, with_files=True)
            assert project["owner"] == "alice" and project["query"] == QUERY
            assert len(project["file_handles"]) == expected_files
            assert {h["state"] for h in project["file_handles"]} == {"initial"}

            await page.locator(".dd-creator .dd-monitor-button").click()
            monitor = page.locator(".dd-creator .dd-monitor")
            await monitor.wait_for(timeout=PAGE_TIMEOUT_MS)
            assert f"Project {project_id}" in await monitor.locator(".dd-title").first.inner_text()
            await monitor.locator(".dd-monitor-start").click()
            await expect(monitor.locator(".dd-monitor-counts .dd-count-total")).to_have_text(
                f"{expected_files:,}", timeout=PAGE_TIMEOUT_MS)
            await screenshot_page(page, "e2e-4-monitor.png")

            finished = await asyncio.to_thread(drain, worker_client, project_id)
            assert finished == expected_files
            await expect(monitor.locator(".dd-monitor-counts .dd-count-done")).to_have_text(
                f"{expected_files:,}", timeout=PAGE_TIMEOUT_MS)
            await expect(monitor.locator(".dd-status")).to_contain_text("project done", timeout=PAGE_TIMEOUT_MS)
            await screenshot_page(page, "e2e-5-drained.png")
            await monitor.screenshot(path=str(artifact_path("e2e-monitor-panel.png")))

        assert worker_client.get_project(project_id)["state"] == "done"

    asyncio.run(scenario())
