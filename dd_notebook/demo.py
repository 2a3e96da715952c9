"""``dd-notebook demo``: the whole toolkit on realistic data, in one command and a couple of minutes.

1. The embedded server starts in this process with the demo catalog (a DUNE-like set of raw,
   reconstructed and simulated files with replicas on five RSEs, one of them down).
2. A project is created from an MQL query, as ``ddisp project create -c ...`` would.
3. A simulated fleet of workers drains it: processing times, failures that depend on the RSE,
   a few bad files that always fail, retries, and crashed workers whose reservations the
   server's worker timeout takes back.
4. The post-mortem report of the project is generated, executed and exported: a notebook and
   one self-contained HTML file in the output folder.

The server's database stays in the output folder, so the same data can be explored afterwards
with ``dd-notebook serve --db <out>/dd.sqlite`` and the notebooks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .sim import LogNormal, RetryPolicy, SimConfig, SimResult

log = logging.getLogger(__name__)

__all__ = ["DEMO_QUERY", "DemoResult", "DemoSettings", "run_demo"]

#: The demo campaign: the reconstructed ProtoDUNE-HD files of the demo catalog.
DEMO_QUERY = "files from hd-protodune-det-reco:full-reco-2024 where core.data_tier = 'full-reconstructed'"


def _default_fleet() -> SimConfig:
    return SimConfig(
        workers=16,
        cpu_sites={"FNAL": 3, "CERN": 1, "BNL": 1},
        processing_time=LogNormal(median=1.2, sigma=0.5),
        rse_failure={"FNAL_DCACHE": 0.04, "BNL_DCACHE": 0.25, "CERN_EOS": 0.10, "no_replica": 1.0},
        bad_files=0.02,
        retry=RetryPolicy(probability=1.0, max_attempts=3),
        crash=0.01,
        restart_delay=2.0,
        seed=2026,
        max_seconds=150.0,
        idle_exit=20.0,
    )


@dataclass(frozen=True)
class DemoSettings:
    """What the demo creates and simulates.

    Attributes
    ----------
    catalog_files
        Files of the demo catalog (the query selects about 30 % of them).
    query
        The MQL query the project is created from.
    copy_metadata
        Catalog fields copied into the files' attributes (``ddisp project create -c``).
    worker_timeout
        Seconds after which the server takes a reservation back from a silent (crashed) worker.
    fleet
        The simulated workers (see :class:`~dd_notebook.sim.SimConfig`).
    report_timeout
        Seconds allowed for executing the report notebook.
    """

    catalog_files: int = 3000
    query: str = DEMO_QUERY
    copy_metadata: str = "core.runs,core.data_stream,size"
    worker_timeout: float = 8.0
    fleet: SimConfig = field(default_factory=_default_fleet)
    report_timeout: float = 600.0


@dataclass(frozen=True)
class DemoResult:
    """Where the demo put things and what it did.

    Attributes
    ----------
    project_id
        The simulated project.
    notebook, html
        The executed post-mortem notebook and its self-contained HTML export.
    database
        The embedded server's SQLite file (reusable with ``dd-notebook serve --db``).
    simulation
        What the simulated fleet did.
    seconds
        Wall time of the whole demo.
    phases
        Wall time of each step, seconds: ``server``, ``project``, ``campaign``, ``report``.
    """

    project_id: int
    notebook: Path
    html: Path | None
    database: Path
    simulation: SimResult
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)


def run_demo(
    out_dir: str | Path = "dd-demo",
    settings: DemoSettings | None = None,
    *,
    progress: bool = True,
    say: Callable[[str], None] = log.info,
) -> DemoResult:
    """Run the demo: embedded server, project from MQL, simulated campaign, post-mortem report.

    Parameters
    ----------
    out_dir
        Folder for the database, the report notebook and its HTML (created if missing).
    settings
        The demo's size and campaign (default: about 900 files, 16 workers, 1–2 minutes).
    progress
        Show the simulator's progress bar.
    say
        Called with each step's one-line description (the command line prints them).

    Returns
    -------
    DemoResult
    """
    from .client import DataDispatcherClient
    from .metacat import MetaCatClient
    from .report import write_report
    from .server import LocalServer, SweepSettings
    from .sim import simulate

    settings = settings or DemoSettings()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    phases: dict[str, float] = {}
    mark = started

    def lap(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        phases[name] = now - mark
        mark = now

    database = out / "dd.sqlite"
    say(f"starting the embedded server (database {database}, demo catalog of {settings.catalog_files:,} files)")
    server = LocalServer(db=database, demo=True, demo_files=settings.catalog_files,
                         sweeps=SweepSettings(worker_timeout_interval=1.0, idle_interval=10.0)).start()
    lap("server")
    try:
        client = DataDispatcherClient(server.url, server.auth_url, token_library=str(out / "token_library"))
        client.login_password("alice", "alice")
        metacat = MetaCatClient(server.metacat_url, token=client.Token.encoded if client.Token else None)
        project = client.create_project_from_query(
            settings.query,
            metacat=metacat,
            copy_metadata=settings.copy_metadata,
            project_attributes={"campaign": "dd-notebook demo", "query_source": "MetaCat"},
            worker_timeout=settings.worker_timeout,
        )
        project_id = int(project["project_id"])
        lap("project")
        say(f"project {project_id}: {len(project['file_handles']):,} files from {settings.query!r}")
        fleet = settings.fleet
        say(f"simulating {fleet.workers} workers (failures by RSE, bad files, retries, crashes)")
        simulation = simulate(client, project_id, fleet, progress=progress)
        lap("campaign")
        say(f"campaign over after {simulation.elapsed:.0f} s: {simulation.summary()}")
        say("writing the post-mortem report (executing the notebook, exporting HTML)")
        files = write_report([project_id], out, url=server.url, gui_url=server.gui_url, html=True,
                             timeout=settings.report_timeout)
        lap("report")
    finally:
        server.stop()
    return DemoResult(project_id, files.notebook, files.html, database, simulation, time.monotonic() - started,
                      phases)
