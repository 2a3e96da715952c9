"""Browser-test support: Voila on a free loopback port in an isolated environment, and headless chromium.

* :func:`voila_server` starts ``voila`` on a directory of notebooks with its own
  Jupyter/IPython/matplotlib folders under a temporary directory, in its own
  process group, and stops the whole group on exit.
* :func:`chromium_page` opens a page in Debian's chromium through Playwright's
  async API; every request that is not loopback, ``data:`` or ``blob:`` is
  aborted, so CDN look-ups fail at once instead of waiting on DNS.
* :func:`require_browser` skips a test when chromium, Playwright or Voila is
  missing, or fails it when env ``DD_REQUIRE_BROWSER=1`` (CI).

Playwright's async API is used inside ``asyncio.run`` on purpose: the sync API
leaves an event loop running in the main thread, which breaks every later
``asyncio.run`` in the same pytest process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nbformat
import pytest
import requests

CHROMIUM = os.environ.get("DD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
ARTIFACTS = Path(os.environ.get("DD_ARTIFACTS") or Path(__file__).parent / "artifacts")


def browser_unavailable_reason() -> str | None:
    """Why browser tests cannot run here, or ``None`` when chromium, Playwright and Voila are present."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"chromium not found at {CHROMIUM} (apt-get install chromium)"
    for module, package in (("playwright.async_api", "playwright"), ("voila", "voila")):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"python package {package!r} is not installed (pip install -e '.[test]')"
    return None


def require_browser() -> None:
    """Skip the calling test when no browser set-up is available; fail instead when ``DD_REQUIRE_BROWSER=1``."""
    reason = browser_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("DD_REQUIRE_BROWSER") == "1":
        pytest.fail(f"DD_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port that is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_env(root: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a Jupyter server whose config, data, runtime and caches live under ``root``."""
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR",
                 "IPYTHONDIR", "MPLCONFIGDIR"):
        folder = root / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["MPLBACKEND"] = "Agg"
    env.update(extra or {})
    return env


def write_notebook(path: Path, cells: Sequence[str]) -> Path:
    """Write a notebook of code ``cells`` (with the python3 kernel) to ``path``."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(notebook, path)
    return path


@dataclass
class VoilaServer:
    """A running Voila process serving the notebooks of one directory."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:port``."""
        return f"http://127.0.0.1:{self.port}"

    def render_url(self, notebook: str) -> str:
        """The page that renders ``notebook`` (a file name in the served directory)."""
        return f"{self.base_url}/voila/render/{notebook}"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of Voila's combined stdout/stderr, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def voila_server(directory: Path, home: Path, *, env: Mapping[str, str] | None = None,
                 start_timeout: float = 90.0) -> Iterator[VoilaServer]:
    """Run Voila on the notebooks in ``directory``; Jupyter state lives under ``home``.

    Returns once ``/voila/static/voila.js`` answers; raises ``RuntimeError``
    with Voila's log when the process exits or does not answer in time.
    """
    port = free_port()
    log_path = home / "voila.log"
    home.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "voila", str(directory), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
        "--show_tracebacks=True", "--VoilaConfiguration.extension_denylist=@jupyter-notebook/lab-extension",
    ]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, cwd=directory, env=isolated_env(home, env), stdout=log_file,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    server = VoilaServer(process, port, log_path)
    try:
        _wait_until_up(server, start_timeout)
        yield server
    finally:
        _stop_group(process)


def _wait_until_up(server: VoilaServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"voila exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            requests.get(f"{server.base_url}/voila/static/voila.js", timeout=2)
            return
        except requests.ConnectionError:
            pass
        except requests.Timeout:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"voila did not answer within {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.2)


async def _only_loopback(route: Any) -> None:
    url = route.request.url
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob") or (parts.hostname or "") in LOOPBACK_HOSTS:
        await route.continue_()
    else:
        await route.abort()


@contextlib.asynccontextmanager
async def chromium_page(*, width: int = 1200, height: int = 900) -> AsyncIterator[Any]:
    """A Playwright page in headless Debian chromium that can reach loopback addresses only."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": width, "height": height})
            await context.route("**/*", _only_loopback)
            yield await context.new_page()
        finally:
            await browser.close()


def artifact_path(name: str) -> Path:
    """Where the screenshot ``name`` of a browser test goes (env ``DD_ARTIFACTS`` or ``tests/artifacts/``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name




async def stretch_viewport(page: Any, *, scroller: str = "#rendered_cells", max_height: int = 6000) -> dict[str, int]:
    """Make the viewport as tall as a Voila page's content (Voila scrolls inside ``scroller``).

    Element screenshots of things outside the viewport come out blank, and a
    "full page" screenshot holds only the viewport, so shots of long pages
    stretch it first. Returns the previous viewport size.
    """
    viewport = dict(page.viewport_size)
    height = await page.evaluate(
        "(sel) => { const el = document.querySelector(sel); return el ? el.scrollHeight : 0; }", scroller)
    if height > viewport["height"]:
        await page.set_viewport_size({"width": viewport["width"], "height": min(height + 40, max_height)})
    return viewport


async def screenshot_page(page: Any, name: str) -> Path:
    """Screenshot everything a Voila page shows into the artifact ``name``; returns the file."""
    path = artifact_path(name)
    viewport = await stretch_viewport(page)
    try:
        await page.screenshot(path=str(path))
    finally:
        await page.set_viewport_size(viewport)
    return path
