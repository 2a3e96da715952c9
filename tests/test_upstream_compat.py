"""The upstream PyPI client (datadispatcher-client 2.0.3, metacat-client 4.1.5) against the embedded server.

Part 1 drives the Python API (``data_dispatcher.api.DataDispatcherClient``); part 2 runs the
installed ``ddisp`` CLI as a subprocess (private HOME for the token library, private working
directory for ``.data_dispatcher_worker_id``) and checks its outputs against spec §11 and the
golden recording ``upstream-ddisp-outputs.json``, including what the upstream tests check (§11.8).
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from data_dispatcher.api import DataDispatcherClient
from golden_support import DDISP, CLIResult, cli_env, mask_cli_text, run_ddisp
from metacat.common.auth_client import AuthenticationError
from metacat.common.exceptions import WebAPIError

WRONG_WORKER = "metacat.common.exceptions.WebAPIError: Not authorized: wrong worker_id"


# ---- fixtures ------------------------------------------------------------------------------------

def api_client(server, tmp: Path, user: str | None = None, worker_id: str = "apiwrk01") -> DataDispatcherClient:
    """An upstream client with its own token library, logged in with ``user``'s password."""
    client = DataDispatcherClient(server_url=server.url, auth_server_url=server.auth_url, worker_id=worker_id,
                                  token_library=str(tmp / f"{user}.token_library"))
    if user:
        assert client.login_password(user, user)[0] == user
    return client


@pytest.fixture(scope="module")
def api(server, tmp_path_factory) -> DataDispatcherClient:
    return api_client(server, tmp_path_factory.mktemp("api"), "alice")


@pytest.fixture(scope="module")
def admin_api(server, tmp_path_factory) -> DataDispatcherClient:
    return api_client(server, tmp_path_factory.mktemp("api-admin"), "admin", worker_id="admwrk01")


@pytest.fixture(scope="module")
def mengel_rses(dd) -> None:
    """What the upstream tests need (spec §14.6): RSE FNAL_DCACHE_DISK_TEST holding a replica of
    mengel:a.fcl, and an RSE TEST without it."""
    for name, preference in (("FNAL_DCACHE_DISK_TEST", 5), ("TEST", 1)):
        dd.ok(dd.post("create_rse", {"name": name, "description": f"{name} for tests", "is_enabled": True,
                                     "is_available": True, "is_tape": False, "preference": preference}, "admin"))
    dd.replica("mengel:a.fcl", "FNAL_DCACHE_DISK_TEST", path="/pnfs/a.fcl", url="root://host/pnfs/a.fcl",
               preference=5)
    dd.replica("mengel:c.fcl", "TEST", url="root://test/c.fcl")


class Ddisp:
    """The installed ``ddisp`` with a private HOME (token library) and working directory."""

    def __init__(self, server, root: Path) -> None:
        self.server = server
        self.home, self.cwd = root / "home", root / "work"
        self.home.mkdir(parents=True)
        self.cwd.mkdir(parents=True)
        self.env = cli_env(self.home, server.url, server.auth_url, server.metacat_url, server.auth_url)

    def run(self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> CLIResult:
        return run_ddisp(list(args), env or self.env, self.cwd, stdin)

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        """Run a command that must succeed quietly on stderr; return its stdout."""
        result = self.run(*args, stdin=stdin)
        assert (result.exit_code, result.stderr) == (0, ""), (result.argv, result.exit_code, result.stdout,
                                                               result.stderr)
        return result.stdout

    def many(self, *commands: tuple[str, ...]) -> list[CLIResult]:
        """Run independent read-only commands concurrently (each still a separate ``ddisp`` process)."""
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda args: self.run(*args), commands))

    def fails(self, *args: str) -> CLIResult:
        result = self.run(*args)
        assert result.exit_code == 1, (result.argv, result.stdout, result.stderr)
        return result

    def write(self, name: str, text: str) -> str:
        (self.cwd / name).write_text(text)
        return name


@pytest.fixture(scope="module")
def cli(server, tmp_path_factory) -> Ddisp:
    """ddisp logged in as alice with ``login -m password`` (password read by getpass from stdin)."""
    if DDISP is None:
        pytest.skip("the upstream ddisp CLI is not installed")
    tool = Ddisp(server, tmp_path_factory.mktemp("cli-alice"))
    tool.login = tool.run("login", "-m", "password", "alice", stdin="alice\n")  # type: ignore[attr-defined]
    assert tool.login.exit_code == 0, tool.login.stderr  # type: ignore[attr-defined]
    return tool


@pytest.fixture(scope="module")
def admin_cli(server, tmp_path_factory) -> Ddisp:
    """ddisp logged in as admin with ``login -m token -t <token>`` (token exchange)."""
    if DDISP is None:
        pytest.skip("the upstream ddisp CLI is not installed")
    tool = Ddisp(server, tmp_path_factory.mktemp("cli-admin"))
    tool.login = tool.run("login", "-m", "token", "-t", server.issue_token("admin"), "admin")  # type: ignore
    assert tool.login.exit_code == 0, tool.login.stderr  # type: ignore[attr-defined]
    return tool


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y/%m/%d %H:%M:%S UTC")


def local(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def handle_table(handles: list[dict[str, Any]]) -> str:
    """The handle table of spec §11.2, built from the handles of ``get_project(..., with_replicas=True)``."""
    order = {"initial": 0, "reserved": 1, "done": 3, "failed": 4}

    def available(h: dict[str, Any]) -> int:
        return sum(1 for r in h["replicas"].values() if r["available"] and r["rse_available"])

    rows = [("Status", "Available", "Replicas", "Attempts", "Timeouts", "Worker", "File")]
    for h in sorted(handles, key=lambda h: (0 if available(h) else 1, order[h["state"]], h["attempts"],
                                            h["namespace"], h["name"])):
        rows.append((h["state"], "yes" if available(h) else "no", f"{available(h):4d}/{len(h['replicas']):<4d}",
                     str(h["attempts"]), str(h["attributes"].get("timeouts", 0)), h["worker_id"] or "-",
                     f"{h['namespace']}:{h['name']}"))
    widths = [max(len(r[i]) for r in rows) for i in range(7)]
    divider = " ".join("-" * w for w in widths)

    def line(row: tuple[str, ...]) -> str:
        return " ".join(c.ljust(w) if i == 6 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
    return "\n".join([line(rows[0]), divider, *map(line, rows[1:]), divider]) + "\n"


def wait_for(predicate, timeout: float = 15.0, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


# ==== part 1: the Python API =======================================================================

def test_api_login_version_and_token_library(server, tmp_path) -> None:
    client = DataDispatcherClient(server_url=server.url, auth_server_url=server.auth_url, worker_id="w",
                                  token_library=str(tmp_path / "lib"))
    assert client.version() == "2.0.3"
    user, expires = client.login_password("alice", "alice")          # ldap-style password login
    assert user == "alice" and 7 * 86400 - 120 < expires - time.time() <= 7 * 86400
    assert client.tokens_saved()
    url, token = (tmp_path / "lib").read_text().split()
    assert url == server.url and token.count(".") == 2
    assert client.login_digest("bob", "bob")[0] == "bob"               # RFC 2617 digest
    assert client.login_token("alice", server.issue_token("alice"))[0] == "alice"
    with pytest.raises(AuthenticationError, match="Authentication failed"):
        client.login_password("alice", "wrong")
    # a second client finds the token in the library (keyed by the data-server URL)
    again = DataDispatcherClient(server_url=server.url, auth_server_url=server.auth_url, worker_id="w",
                                 token_library=str(tmp_path / "lib"))
    assert again.list_projects() == []


def test_api_create_get_list(api, server) -> None:
    files = ["api:f1", {"namespace": "api", "name": "f2", "attributes": {"size": 2}},
             {"namespace": "api", "name": "f3"}]
    info = api.create_project(files, common_attributes={"tier": "raw"}, project_attributes={"step": "api", "n": 1},
                              query="files from api:ds", worker_timeout=600, users=["bob"], roles=["prod"])
    pid = info["project_id"]
    assert list(info) == ["project_id", "owner", "state", "retry_count", "attributes", "created_timestamp",
                          "ended_timestamp", "active", "query", "worker_timeout", "idle_timeout", "users", "roles",
                          "file_handles"]
    assert (info["owner"], info["state"], info["active"], info["retry_count"]) == ("alice", "active", True, None)
    assert (info["worker_timeout"], info["idle_timeout"]) == (600.0, 259200.0)   # client default idle timeout
    assert (info["users"], info["roles"], info["query"]) == (["bob"], ["prod"], "files from api:ds")
    assert [(h["name"], h["attributes"], h["state"], h["attempts"], h["worker_id"], h["reserved_since"])
            for h in info["file_handles"]] == [
        ("f1", {"tier": "raw"}, "initial", 0, None, None), ("f2", {"tier": "raw", "size": 2}, "initial", 0, None, None),
        ("f3", {"tier": "raw"}, "initial", 0, None, None)]
    assert "replicas" not in info["file_handles"][0]

    assert "file_handles" not in api.get_project(pid, with_files=False)
    with_replicas = api.get_project(pid, with_files=True, with_replicas=True)
    assert all(h["replicas"] == {} for h in with_replicas["file_handles"])
    assert api.get_project(987654) is None
    assert api.get_handle(pid, "api", "f2")["attributes"] == {"tier": "raw", "size": 2}
    assert api.get_handle(pid, "api", "nope") is None

    mine = api.list_projects()
    assert pid in [p["project_id"] for p in mine] and all(p["owner"] == "alice" for p in mine)
    assert [p["project_id"] for p in api.list_projects(attributes={"step": "api", "n": 1})] == [pid]
    assert api.list_projects(attributes={"step": "nope"}) == []
    assert api.list_projects(state="done") == []
    assert pid in [p["project_id"] for p in api.list_projects(owner="all", with_files=False)]
    assert api.list_projects(owner="bob") == []


def test_api_worker_cycle_with_replicas_and_proximity(api, dd) -> None:
    for name, rses in (("r1", ("FNAL_DCACHE", "CERN_EOS", "UK_RAL")), ("r2", ("FNAL_TAPE",))):
        for rse in rses:
            dd.replica(f"apir:{name}", rse, url=f"root://{rse.lower()}/{name}")
    dd.replica("apir:r2", "FNAL_TAPE", available=False)      # tape copy not staged
    pid = api.create_project(["apir:r1", "apir:r2", "apir:r3"], worker_timeout=None)["project_id"]

    first = api.next_file(pid, cpu_site="FNAL", stagger=0)
    assert (first["name"], first["state"], first["worker_id"], first["attempts"]) == ("r1", "reserved", "apiwrk01", 1)
    assert list(first)[-2:] == ["replicas", "project_attributes"]
    # UK_RAL is down: filtered out; preference = proximity of the FNAL cpu map (demo map)
    assert {rse: (r["preference"], r["proximity"]) for rse, r in first["replicas"].items()} == {
        "FNAL_DCACHE": (0, 0), "CERN_EOS": (50, 50)}
    assert list(first["replicas"]["FNAL_DCACHE"]) == ["name", "namespace", "path", "rse", "url", "urls", "preference",
                                                      "available", "rse_available", "proximity"]
    # Q-RESERVE: the tape-only file is reservable although its replica is not staged; no replica is sent
    second = api.next_file(pid, stagger=0, worker_id="other")
    assert (second["name"], second["replicas"]) == ("r2", {})
    assert api.next_file(pid, stagger=0, timeout=0.5) is True          # r3 has no replica: retry -> timed out
    assert [h["name"] for h in api.reserved_handles(pid)] == ["r1"]
    assert [h["name"] for h in api.reserved_handles(pid, "other")] == ["r2"]

    with pytest.raises(WebAPIError, match="Not authorized: wrong worker_id"):
        api.file_done(pid, "apir:r2")                                  # reserved by "other"
    done = api.file_done(pid, "apir:r1")
    assert (done["state"], done["worker_id"], "replicas" in done) == ("done", None, False)
    retried = api.file_failed(pid, "apir:r2", worker_id="other")
    assert (retried["state"], retried["attempts"]) == ("initial", 1)
    again = api.next_file(pid, stagger=0)
    assert (again["name"], again["attempts"]) == ("r2", 2)
    final = api.file_failed(pid, "apir:r2", retry=False)
    assert final["state"] == "failed"
    assert [h["state"] for h in api.list_handles(pid)] == ["done", "failed", "initial"]
    assert [h["name"] for h in api.list_handles(pid, state="initial")] == ["r3"]

    restarted = api.restart_handles(pid, failed=True)
    assert [h["state"] for h in restarted["file_handles"]] == ["done", "initial", "initial"]
    assert "replicas" in restarted["file_handles"][0]
    api.restart_handles(pid, handles=["apir:r1"])
    assert [h["state"] for h in api.get_project(pid)["file_handles"]] == ["initial"] * 3


def test_api_project_ends_and_next_file_false(api) -> None:
    pid = api.create_project(["apie:a", "apie:b"], project_attributes={"virtual": True})["project_id"]
    for _ in range(2):
        handle = api.next_file(pid, stagger=0)
        api.file_done(pid, f"{handle['namespace']}:{handle['name']}")
    project = api.get_project(pid)
    assert (project["state"], project["active"]) == ("done", False) and project["ended_timestamp"] is not None
    assert api.next_file(pid, stagger=0) is False                      # Q-NEXTERR: 400 Inactive project -> False

    activated = api.activate_project(pid)
    assert activated["state"] == "active" and activated["ended_timestamp"] == project["ended_timestamp"]  # Q-ENDED
    assert api.next_file(pid, stagger=0) is False                      # active, but nothing left
    cancelled = api.cancel_project(pid)
    assert cancelled["state"] == "cancelled" and cancelled["ended_timestamp"] > project["ended_timestamp"]
    assert "replicas" in cancelled["file_handles"][0]
    restarted = api.restart_handles(pid, all=True)                     # re-activates, clears ended_timestamp
    assert (restarted["state"], restarted["ended_timestamp"], restarted["active"]) == ("active", None, True)


def test_api_copy_and_delete(api, server, tmp_path) -> None:
    source = api.create_project([{"namespace": "apic", "name": "x", "attributes": {"a": 1}}],
                                project_attributes={"p": 1}, worker_timeout=120, idle_timeout=3600, users=["bob"])
    copy = api.copy_project(source["project_id"])
    assert copy["project_id"] > source["project_id"] and copy["owner"] == "alice"
    assert (copy["worker_timeout"], copy["idle_timeout"]) == (120.0, 3600.0)
    assert (copy["users"], copy["attributes"]) == ([], {"p": 1})          # Q-COPY: users not copied
    overridden = api.copy_project(source["project_id"], common_attributes={"b": 2}, project_attributes={"q": 2},
                                  worker_timeout="10m", idle_timeout="none")
    assert (overridden["worker_timeout"], overridden["idle_timeout"]) == (600.0, None)
    assert overridden["attributes"] == {"p": 1, "q": 2}
    assert overridden["file_handles"][0]["attributes"] == {"a": 1, "b": 2}
    bob = api_client(server, tmp_path, "bob", worker_id="bobwrk")
    assert bob.copy_project(source["project_id"])["owner"] == "bob"      # no ownership check
    assert bob.copy_project(987654) is None                              # POST 404 -> None
    with pytest.raises(WebAPIError, match="Forbidden"):
        bob.delete_project(source["project_id"])
    assert api.delete_project(copy["project_id"]) is None
    assert api.get_project(copy["project_id"]) is None


def test_api_search_projects(api, dd) -> None:
    pid = api.create_project(["apis:a"], project_attributes={"campaign": "s1", "events": [1, 2, 3]})["project_id"]
    ended = api.create_project(["apis:b"], project_attributes={"campaign": "s1"})["project_id"]
    api.cancel_project(ended)
    now = datetime.now().isoformat()                                     # local time without zone (spec §8.5)

    def ids(query: str, **kw: Any) -> list[int]:
        return sorted(p["project_id"] for p in api.search_projects(query, **kw))
    assert pid in ids(f'owner=alice and created_timestamp <= "{now}"')
    assert ids('campaign = s1') == [pid]                                 # client default state=active
    assert ids('campaign = s1', state="all") == [pid, ended]
    assert ids('campaign = s1 and events[any] = 2', state="all") == [pid]
    assert ids('campaign = s1 and len(events) > 2') == [pid]
    assert ids('campaign = s1', owner="bob", state="all") == []
    assert ids('campaign = s1 and ended_timestamp < "2999-01-01"', state="all") == [ended]   # Q-ENDQ fixed
    found = api.search_projects(f"id in {pid}:{pid}", with_files=True)
    assert [h["name"] for h in found[0]["file_handles"]] == ["a"] and "replicas" not in found[0]["file_handles"][0]
    with pytest.raises(WebAPIError) as error:
        api.search_projects("owner = = alice")
    assert error.value.StatusCode == 400 and "Traceback" not in str(error.value)


def test_api_rses(api, admin_api, mengel_rses) -> None:
    rses = api.list_rses()
    assert {"FNAL_DCACHE", "FNAL_TAPE", "FNAL_DCACHE_DISK_TEST", "TEST"} <= {r["name"] for r in rses}
    rse = api.get_rse("FNAL_DCACHE_DISK_TEST")
    assert list(rse) == ["name", "description", "is_available", "is_tape", "pin_url", "poll_url", "remove_prefix",
                         "add_prefix", "pin_prefix", "preference", "is_enabled", "type"]
    assert (rse["preference"], rse["is_available"], rse["is_enabled"]) == (5, True, True)
    assert api.get_rse("NOPE") is None
    with pytest.raises(WebAPIError, match="Not authorized"):
        api.set_rse_availability("TEST", False)
    down = admin_api.set_rse_availability("TEST", False)                # the PyPI client really sends it
    assert down["name"] == "TEST" and down["is_available"] is False
    assert api.get_rse("TEST")["is_available"] is False
    assert admin_api.set_rse_availability("TEST", True)["is_available"] is True
    assert admin_api.set_rse_availability("NOPE", True) is None         # 404 -> None


def test_api_deprecated_and_extension_methods(api, admin_api, mengel_rses) -> None:
    assert api.get_file("mengel", "a.fcl") is None                      # no `file` endpoint: 404 -> None
    replica = admin_api.replica_available("apix", "f", "TEST", path="/p/f", preference=3, url="root://t/f")
    assert replica == {"name": "f", "namespace": "apix", "path": "/p/f", "rse": "TEST", "url": "root://t/f",
                       "urls": ["root://t/f"], "preference": 3, "available": True, "rse_available": True}
    assert admin_api.replica_unavailable("apix", "f", "TEST")["available"] is False
    with pytest.raises(WebAPIError, match="Not authorized"):
        api.replica_unavailable("apix", "f", "TEST")                      # admin-only extension


# ==== part 2: the ddisp CLI ========================================================================

def test_cli_help_version_and_missing_urls(cli, server) -> None:
    helped, version = cli.many(("help",), ("version",))
    assert "login" in helped.stdout + helped.stderr and "version" in helped.stdout + helped.stderr
    assert (version.stdout, version.stderr) == (
        f"Server URL:     {server.url}\nServer version: 2.0.3\nClient version: 2.0.3\n", "")
    no_auth = cli.run("version", env={k: v for k, v in cli.env.items() if k != "DATA_DISPATCHER_AUTH_URL"})
    assert (no_auth.exit_code, no_auth.stdout) == (2, "")
    assert no_auth.stderr == ("Authentication server address must be specified either using -a option or using "
                              "environment variable DATA_DISPATCHER_AUTH_URL\n")


def test_cli_login_password_and_token(cli, admin_cli, server) -> None:
    login = cli.login
    assert mask_cli_text(login.stdout) == "User:    alice\nExpires: <ctime>\n"
    assert "Password:" in login.stderr and "Traceback" not in login.stderr
    library = (cli.home / ".token_library").read_text().split()
    assert library[0] == server.url
    wrong = cli.run("login", "-m", "password", "alice", stdin="wrong\n")
    assert wrong.exit_code == 1
    assert wrong.last_error_line == "metacat.common.auth_client.AuthenticationError: Authentication failed"
    assert mask_cli_text(admin_cli.login.stdout) == "User:    admin\nExpires: <ctime>\n"


def test_cli_create_from_list_and_show(cli, api) -> None:
    cli.write("dids.txt", "clil:file1 size=10 kind=raw\nclil:file2\n\nclil:file3 flag=true\n")
    pid = int(cli("project", "create", "-l", "dids.txt", "-A", "step=cli virtual=true", "-w", "1h", "-t", "2d",
                  "-u", "bob", "-r", "prod", "-a", "tier=raw"))
    info = api.get_project(pid, with_files=True, with_replicas=True)
    assert (info["worker_timeout"], info["idle_timeout"], info["users"], info["roles"]) == (3600.0, 172800.0,
                                                                                          ["bob"], ["prod"])
    assert [h["attributes"] for h in info["file_handles"]] == [
        {"tier": "raw", "size": 10, "kind": "raw"}, {"tier": "raw"}, {"tier": "raw", "flag": True}]
    assert cli("project", "show", str(pid)) == (
        f"Project ID:          {pid}\n"
        "Owner:               alice\n"
        f"Created:             {utc(info['created_timestamp'])}\n"
        "Ended:               \n"
        "Query:               \n"
        "Status:              active\n"
        "Worker timeout:      3600.0\n"
        "Idle timeout:        172800.0\n"
        "Authorized users:    bob\n"
        "           roles:    prod\n"
        "Project Attributes: \n"
        "  step            = cli\n"
        "  virtual         = True\n"
        "Handles:\n" + handle_table(info["file_handles"]))
    shown = json.loads(cli("project", "show", "-j", str(pid)))
    assert shown == json.loads(json.dumps(info)) and {"owner", "state", "created_timestamp"} <= set(shown)
    assert cli("project", "show", "-a", str(pid)) == "step cli\nvirtual True\n"
    assert json.loads(cli("project", "show", "-a", "-j", str(pid))) == {"step": "cli", "virtual": True}
    missing = cli.fails("project", "show", "987654")
    assert missing.stdout == "Project 987654 not found\n"
    cli.write("empty.txt", "")
    empty = cli.fails("project", "create", "-l", "empty.txt")
    assert (empty.stdout, empty.stderr) == ("", "Empty file list\n")


def test_cli_create_from_json_and_query(cli, api, server, tmp_path) -> None:
    cli.write("files.json", json.dumps(["clij:a", {"namespace": "clij", "name": "b", "attributes": {"k": 1}}]))
    created = json.loads(cli("project", "create", "-j", "files.json", "-p", "json"))
    assert (created["worker_timeout"], created["idle_timeout"]) == (43200.0, 259200.0)   # CLI defaults
    assert [(h["name"], h["attributes"]) for h in created["file_handles"]] == [("a", {}), ("b", {"k": 1})]
    stdin_pid = int(cli("project", "create", "-l", "-", "-w", "none", "-t", "none", stdin="clij:c\n"))
    info = api.get_project(stdin_pid)
    assert (info["worker_timeout"], info["idle_timeout"], len(info["file_handles"])) == (None, None, 1)

    # inline MQL query -> the catalog (METACAT_SERVER_URL) -> create_project
    from metacat.webapi import MetaCatClient
    catalog = MetaCatClient(server.metacat_url, server.auth_url, token_library=str(tmp_path / "mc_library"))
    catalog.login_password("alice", "alice")
    catalog.create_namespace("mengel")
    catalog.create_dataset("mengel:test")
    catalog.declare_files("mengel:test", [{"namespace": "mengel", "name": n, "size": 1, "metadata": {"run.n": i}}
                                          for i, n in enumerate(("a.fcl", "b.fcl"))])
    pid = int(cli("project", "create", "-t", "60", "-c", "run.n", "files", "from", "mengel:test"))
    info = api.get_project(pid)
    assert info["query"] == "files from mengel:test" and info["idle_timeout"] == 60.0
    assert sorted((h["name"], h["attributes"]["run.n"]) for h in info["file_handles"]) == [("a.fcl", 0), ("b.fcl", 1)]


def test_cli_project_list(cli, api, dd) -> None:
    active = api.create_project(["clis:a"], project_attributes={"virtual": True, "listing": "yes"})["project_id"]
    failed = dd.create(["clis:f"], project_attributes={"virtual": True})["project_id"]
    reserved = dd.ok(dd.get("next_file", "alice", {"project_id": failed, "worker_id": "x"}))["handle"]
    dd.ok(dd.get("release", "alice", {"handle_id": f"{failed}:clis:{reserved['name']}", "failed": "yes",
                                      "retry": "no", "worker_id": "x"}))
    cancelled = dd.create(["clis:c"])["project_id"]
    dd.ok(dd.get("cancel_project", "alice", {"project_id": cancelled}))
    abandoned = dd.create(["clis:i"], idle_timeout=0.2)["project_id"]
    assert wait_for(lambda: dd.ok(dd.get("project", params={"project_id": abandoned, "with_files": "no"}))["state"]
                    == "abandoned"), "the idle sweep did not abandon the project"
    dd.create(["clis:bob"], user="bob")

    def table(text: str) -> list[tuple[str, ...]]:
        lines = text.splitlines()
        assert lines[0].split() == ["Project", "id", "Owner", "Created", "State", "Done/Failed/Total"]
        assert lines[1] == lines[-1] and set(lines[1]) == {"-", " "}
        rows = []
        for line in lines[2:-1]:
            pid, owner, day, clock, state, counts = line.split()
            rows.append((int(pid), owner, f"{day} {clock}", state, counts))
        return rows

    def expected_rows(projects: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        def counts(p):
            states = [h["state"] for h in p["file_handles"]]
            return f"{states.count('done')}/{states.count('failed')}/{len(states)}"
        return [(p["project_id"], p["owner"], local(p["created_timestamp"]), p["state"], counts(p)) for p in projects]

    (listed_text, listed_json, failed_text, failed_json, all_text, all_json, abandoned_text, everyone,
     by_attribute) = (r.stdout for r in cli.many(
        ("project", "list"), ("project", "list", "-j"), ("project", "list", "-s", "failed"),
        ("project", "list", "-s", "failed", "-j"), ("project", "list", "-s", "all", "-n", "cancelled"),
        ("project", "list", "-s", "all", "-n", "cancelled", "-j"), ("project", "list", "-s", "abandoned"),
        ("project", "list", "-u", "all", "-j"), ("project", "list", "-a", "listing=yes", "-j")))
    listed = table(listed_text)
    assert listed == expected_rows(api.list_projects())
    assert active in [r[0] for r in listed] and {r[3] for r in listed} == {"active"}
    as_json = json.loads(listed_json)
    assert [p["project_id"] for p in as_json] == [r[0] for r in listed]
    assert all({"owner", "created_timestamp", "state"} <= set(p) for p in as_json)

    assert table(failed_text) == expected_rows(api.list_projects(state="failed"))
    assert failed in [r[0] for r in table(failed_text)]
    assert "active" not in failed_text and "abandoned" not in failed_text
    assert "failed" in failed_json and "abandoned" not in failed_json

    rows = table(all_text)
    assert "active" in all_text and "abandoned" in all_text and "cancelled" not in all_text
    assert abandoned in [r[0] for r in rows] and cancelled not in [r[0] for r in rows]
    expected = []
    for state in ("active", "failed", "done", "cancelled", "abandoned"):       # one call per state, in this order
        expected += api.list_projects(state=state, not_state="cancelled")
    assert rows == expected_rows(expected)
    assert "cancelled" not in all_json and "abandoned" in all_json

    assert table(abandoned_text) == expected_rows(api.list_projects(state="abandoned", not_state=None))
    assert abandoned in [r[0] for r in table(abandoned_text)]
    assert {"alice", "bob"} <= {p["owner"] for p in json.loads(everyone)}
    assert [p["project_id"] for p in json.loads(by_attribute)] == [active]


def test_cli_files_and_rse_filter(cli, api, mengel_rses) -> None:
    pid = api.create_project(["mengel:a.fcl", "mengel:b.fcl", "mengel:c.fcl"])["project_id"]
    info = api.get_project(pid, with_files=True, with_replicas=True)
    assert cli("file", "show", str(pid), "mengel:a.fcl") == (
        f"project_id: {pid}\nnamespace : mengel\nname      : a.fcl\nstate     : initial\nworker_id : None\n"
        "attempts  : 0\nattributes: {}\nreserved_since: None\nreplicas:\n"
        "  Preference:  5\n  RSE:         FNAL_DCACHE_DISK_TEST\n  Path:        /pnfs/a.fcl\n"
        "  URL:         root://host/pnfs/a.fcl\n  URLs:        ['root://host/pnfs/a.fcl']\n  Available:   yes\n")
    shown = json.loads(cli("file", "show", "-j", str(pid), "mengel:a.fcl"))
    assert shown == info["file_handles"][0] and list(shown["replicas"]) == ["FNAL_DCACHE_DISK_TEST"]

    assert cli("file", "list", str(pid)) == handle_table(info["file_handles"])
    listed = json.loads(cli("file", "list", "-j", str(pid)))
    assert [h["name"] for h in listed] == ["a.fcl", "b.fcl", "c.fcl"] and all("replicas" in h for h in listed)
    with_rse = cli("file", "list", "-r", "FNAL_DCACHE_DISK_TEST", str(pid))
    assert "mengel:a.fcl" in with_rse and "mengel:b.fcl" not in with_rse
    test_rse = cli("file", "list", "-r", "TEST", str(pid))
    assert "mengel:a.fcl" not in test_rse and "mengel:c.fcl" in test_rse
    assert cli("file", "list", "-s", "done", str(pid)) == handle_table([])

    reserved = json.loads(cli("worker", "next", "-j", "-c", "FNAL", str(pid)))
    assert (reserved["name"], reserved["state"]) == ("a.fcl", "reserved")
    assert reserved["replicas"] == [{**info["file_handles"][0]["replicas"]["FNAL_DCACHE_DISK_TEST"],
                                     "preference": 50, "proximity": 50}]   # FNAL's DEFAULT proximity (demo map)
    reserved_only = cli("file", "list", "-s", "reserved", "-j", str(pid))
    assert [h["name"] for h in json.loads(reserved_only)] == ["a.fcl"]
    assert "initial" not in reserved_only and "done" not in reserved_only


def test_cli_worker_commands_and_issue_18(cli, api) -> None:
    pid = api.create_project([f"cliw:f{i}" for i in range(1, 6)], project_attributes={"virtual": True})["project_id"]
    assert cli("worker", "id", "wrkA") == "wrkA\n"
    assert (cli.cwd / ".data_dispatcher_worker_id").read_text() == "wrkA"
    assert cli("worker", "id") == "wrkA\n"
    new_id = cli("worker", "id", "-n").strip()
    assert re.fullmatch(r"[0-9a-f]{8}", new_id)
    cli("worker", "id", "wrkA")

    assert cli("worker", "next", str(pid)) == "cliw:f1\n"
    nxt = json.loads(cli("worker", "next", "-j", str(pid)))
    assert (nxt["namespace"], nxt["name"], nxt["worker_id"], nxt["replicas"]) == ("cliw", "f2", "wrkA", [])
    assert nxt["project_attributes"] == {"virtual": True}
    reserved = api.get_project(pid)["file_handles"][:2]
    assert cli("worker", "list", str(pid)) == "".join(
        f"{k:10s}: {v}\n" for h in reserved for k, v in h.items())
    listed = json.loads(cli("worker", "list", "-j", "-w", "wrkA", str(pid)))
    assert [(h["project_id"], h["worker_id"], h["namespace"], h["name"]) for h in listed] == [
        (pid, "wrkA", "cliw", "f1"), (pid, "wrkA", "cliw", "f2")]
    assert json.loads(cli("worker", "list", "-j", "-w", "wrkB", str(pid))) == []

    # issue 18: another worker id may not release the file
    other = cli.run("worker", "done", "-w", "wrkB", str(pid), "cliw:f1")
    assert (other.exit_code, other.stdout, other.last_error_line) == (1, "", WRONG_WORKER)
    assert cli("worker", "done", str(pid), "cliw:f1") == ""
    assert "state     : done" in cli("file", "show", str(pid), "cliw:f1")
    again = cli.run("worker", "done", str(pid), "cliw:f1")              # no longer reserved: worker_id is null
    assert (again.exit_code, again.last_error_line) == (1, WRONG_WORKER)

    assert cli("worker", "failed", str(pid), "cliw:f2") == ""
    assert "state     : initial" in cli("file", "show", str(pid), "cliw:f2")
    assert cli("worker", "next", str(pid)) == "cliw:f3\n"
    assert cli("worker", "failed", "-f", str(pid), "cliw:f3") == ""
    assert "state     : failed" in cli("file", "show", str(pid), "cliw:f3")

    assert cli("worker", "next", "-c", "FNAL", str(pid)) == "cliw:f4\n"
    assert cli("worker", "next", "-w", "wrkB", str(pid)) == "cliw:f5\n"
    assert cli("worker", "next", str(pid)) == "cliw:f2\n"                 # f2 failed once: attempts 1
    assert cli("worker", "done", str(pid), "all") == ""                   # f4, f2 (own worker id)
    states = {h["name"]: (h["state"], h["worker_id"]) for h in api.get_project(pid)["file_handles"]}
    assert states == {"f1": ("done", None), "f2": ("done", None), "f3": ("failed", None), "f4": ("done", None),
                      "f5": ("reserved", "wrkB")}
    # Q-WID: "all" selects the handles of the client's own worker id, also with -w
    assert cli("worker", "failed", "-f", "-w", "wrkB", str(pid), "all") == ""
    assert api.get_project(pid)["file_handles"][4]["state"] == "reserved"
    cli("worker", "id", "wrkB")
    assert cli("worker", "failed", "-f", str(pid), "all") == ""
    project = api.get_project(pid)
    assert project["file_handles"][4]["state"] == "failed" and project["state"] == "failed"
    done = cli.run("worker", "next", str(pid))
    assert (done.exit_code, done.stdout) == (1, "done\n")
    cli("worker", "id", "wrkA")


def test_cli_show_filter_restart_copy_and_lifecycle(cli, api) -> None:
    pid = int(cli("project", "create", "-l", "-", "-t", "60", "-A", "virtual=true", stdin="clif:a.fcl\nclif:b.fcl\n"))
    assert cli("worker", "next", str(pid)) == "clif:a.fcl\n"
    cli("worker", "done", str(pid), "clif:a.fcl")

    text_initial, json_initial, json_done, json_failed, invalid = cli.many(
        ("project", "show", "-f", "initial", str(pid)), ("project", "show", "-j", "-f", "initial", str(pid)),
        ("project", "show", "-j", "-f", "done", str(pid)), ("project", "show", "-j", "-f", "failed", str(pid)),
        ("project", "show", "-f", "test", str(pid)))
    handles = text_initial.stdout.split("Handles:\n")[1]
    assert "clif:b.fcl" in handles and "clif:a.fcl" not in handles and "done" not in handles
    assert json.loads(json_initial.stdout)["file_handles"][0]["state"] == "initial"
    assert "failed" not in json_initial.stdout
    assert [h["name"] for h in json.loads(json_done.stdout)["file_handles"]] == ["a.fcl"]
    assert '"file_handles": []' in json_failed.stdout
    assert (invalid.exit_code, invalid.stdout) == (1, "Invalid file state\n")

    assert cli("project", "restart", "-a", str(pid)) == ""
    assert {h["state"] for h in api.get_project(pid)["file_handles"]} == {"initial"}
    did = cli("worker", "next", str(pid)).strip()
    assert cli("project", "restart", str(pid), did) == ""
    assert [h["state"] for h in api.get_project(pid)["file_handles"]] == ["initial", "initial"]
    usage = cli.run("project", "restart", str(pid))                      # no selection: usage, exit 0
    assert usage.exit_code == 0 and "Invalid arguments or options" in usage.stderr

    copy = int(cli("project", "copy", str(pid)))
    shown = cli("project", "show", str(copy))
    assert "Idle timeout:        60.0\n" in shown and "Worker timeout:      43200.0\n" in shown
    assert int(cli("project", "copy", "-w", "none", "-t", "none", str(pid))) > copy
    crash = cli.run("project", "copy", "-w", "10m", str(pid))            # Q-COPYNUM: client-side crash
    assert crash.exit_code == 1 and crash.last_error_line.startswith("TypeError")

    cancelled = json.loads(cli("project", "cancel", "-j", str(copy)))
    assert (cancelled["state"], cancelled["active"]) == ("cancelled", False)
    assert "Status:              cancelled" in cli("project", "show", str(copy))
    before = json.loads(cli("project", "activate", "-j", str(copy)))       # Q-ACTJ: state before activation
    assert before["state"] == "cancelled"
    assert "Status:              active" in cli("project", "show", str(copy))
    assert cli("project", "activate", str(copy)) == ""
    assert cli("project", "delete", str(copy)) == ""
    gone = cli.fails("project", "show", str(copy))
    assert gone.stdout == f"Project {copy} not found\n"
    assert cli.fails("project", "activate", str(copy)).stdout == f"Project {copy} not found\n"


def test_cli_rse_commands(cli, admin_cli, api, mengel_rses) -> None:
    rses = sorted(api.list_rses(), key=lambda r: r["name"])
    header = f"{'Name':<30} {'Tape':>4} {'Status':>6} {'Description':<60}"
    divider = " ".join("-" * n for n in (30, 4, 6, 60))
    def row(r: dict[str, Any]) -> str:
        return (f"{r['name']:<30} {'tape' if r['is_tape'] else '':>4} {'up' if r['is_available'] else 'down':>6} "
                f"{r['description']:<60}")
    rows = [row(r) for r in rses]
    text, as_json, shown, shown_json, missing, refused = cli.many(
        ("rse", "list"), ("rse", "list", "-j"), ("rse", "show", "FNAL_DCACHE_DISK_TEST"),
        ("rse", "show", "-j", "FNAL_DCACHE_DISK_TEST"), ("rse", "show", "NOPE"), ("rse", "set", "down", "TEST"))
    assert text.stdout == "\n".join([header, divider, *rows, divider]) + "\n"
    assert json.loads(as_json.stdout) == rses
    assert shown.stdout == (
        "RSE:            FNAL_DCACHE_DISK_TEST\nPreference:     5\nTape:           no\nAvailable:      yes\n"
        "Pin URL:        \nPoll URL:       \nRemove prefix:  None\nAdd prefix:     None\n")
    assert json.loads(shown_json.stdout) == api.get_rse("FNAL_DCACHE_DISK_TEST")
    assert {"name", "is_available"} <= set(json.loads(shown_json.stdout))
    assert (missing.exit_code, missing.stdout) == (1, "RSE NOPE not found\n")
    # alice is not an admin
    assert (refused.exit_code, refused.last_error_line) == (1, "metacat.common.exceptions.WebAPIError: Not authorized")
    assert admin_cli("rse", "set", "down", "TEST") == ""
    assert "Available:      no" in cli("rse", "show", "TEST")
    assert row({**api.get_rse("TEST"), "is_available": False}) in cli("rse", "list").splitlines()
    assert admin_cli("rse", "set", "up", "TEST") == ""
    assert api.get_rse("TEST")["is_available"] is True


def test_cli_worker_timeout_and_idle_timeout(cli, api, server) -> None:
    """tests/test_timeouts.py scaled down: worker timeout 1 s, idle timeout 3 s (the sweeps run every 0.5 s)."""
    retry = int(cli("project", "create", "-l", "-", "-w", "1", "-t", "3", "-A", "virtual=true", stdin="clit:a\n"))
    final = int(cli("project", "create", "-l", "-", "-w", "1", "-A", "virtual=true retry_on_timeout=False",
                    stdin="clit:b\n"))
    boolean = api.create_project(["clit:c"], project_attributes={"virtual": True, "retry_on_timeout": True},
                                 worker_timeout=1)["project_id"]
    assert cli("worker", "next", str(retry)) == "clit:a\n"
    assert cli("worker", "next", str(final)) == "clit:b\n"
    assert api.next_file(boolean, stagger=0)["name"] == "c"

    def handle(pid: int) -> dict[str, Any]:
        return api.get_project(pid)["file_handles"][0]
    assert wait_for(lambda: handle(retry)["state"] == "initial" and handle(final)["state"] == "failed"
                    and handle(boolean)["state"] == "failed")         # Q-RETRYTO: JSON true means fail
    assert handle(retry)["attributes"] == {"timeouts": 1} and handle(retry)["worker_id"] is None
    assert "timeouts" in cli("file", "show", str(retry), "clit:a")
    assert "failed" in cli("file", "list", str(final))
    assert api.get_project(final)["state"] == "active"                    # Q-TOEND: a timeout never ends it
    assert wait_for(lambda: api.get_project(retry, with_files=False)["state"] == "abandoned", timeout=15)
    assert "Status:              abandoned" in cli("project", "show", str(retry))
    assert cli("worker", "next", str(retry)) == "clit:a\n"                # next_file re-activates
    assert api.get_project(retry, with_files=False)["state"] == "active"
