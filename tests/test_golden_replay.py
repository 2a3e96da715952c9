"""Replay of the golden upstream recordings (shared/golden) against a fresh embedded server.

Part 1 replays ``upstream-dd-transcript.json`` (286 raw HTTP steps recorded from the real
upstream DD server) in order, one test per step. For every step the spec says to replicate,
status, content type and body (timestamps masked, project ids mapped, see ``golden_support``)
must equal the recording; for the documented deviations the test asserts the embedded
server's documented answer instead (see ``DEVIATIONS``).

Part 2 replays ``upstream-ddisp-outputs.json`` (47 runs of the PyPI ``ddisp`` CLI that were
recorded right after the transcript, on the same database) with the installed upstream CLI,
on the same server right after part 1: exit codes and stdout must match (datetimes, ids and
attribute key order normalised), stderr must end with the same exception line.

Part 3 checks the rule behind the one transcript step the server gets wrong (a query key
without ``=``) on other endpoints.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from golden_support import (
    DDISP,
    GOLDEN_DIR,
    ROLES,
    USERS,
    CLIResult,
    Outcome,
    Replayer,
    canonical,
    cli_env,
    key_order_text,
    load_cli_runs,
    load_transcript,
    mask,
    mask_cli_text,
    media_type,
    parse_cli_json,
    password,
    run_ddisp,
)

from dd_notebook.server import LocalServer

pytestmark = pytest.mark.skipif(GOLDEN_DIR is None, reason="shared/golden recordings not found")

ENTRIES: list[dict[str, Any]] = load_transcript() if GOLDEN_DIR else []
BY_SEQ = {e["seq"]: e for e in ENTRIES}


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory):
    """A fresh server without demo data, with the users of the recording, and its replayer."""
    server = LocalServer(db=tmp_path_factory.mktemp("golden") / "golden.sqlite", demo=False).start()
    for user, admin in USERS.items():
        server.add_user(user, password(user), admin=admin, roles=ROLES.get(user, ()))
    replayer = Replayer(server, ENTRIES)
    for seq, hook in AFTER.items():
        replayer.after[seq] = hook
    yield replayer
    server.stop()


# ---- generic comparison --------------------------------------------------------------------------

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:70]


def _describe(outcome: Outcome) -> str:
    return f"{outcome.request_url} -> {outcome.status} {outcome.content_type!r} {outcome.text[:400]!r}"


def _sorted_if_unordered(entry: dict[str, Any], doc: Any) -> Any:
    """Result order the spec leaves open: ``search_projects`` (database order), ``rses`` (unspecified)."""
    if isinstance(doc, list) and entry["path"] == "search_projects":
        return sorted(doc, key=lambda p: p["project_id"])
    if isinstance(doc, list) and entry["path"] == "rses":
        return sorted(doc, key=lambda r: r["name"])
    return doc


def assert_json_equal(replay: Replayer, entry: dict[str, Any], outcome: Outcome, expected: Any = None) -> None:
    expected = _sorted_if_unordered(entry, replay.expected_json(entry) if expected is None else expected)
    actual = _sorted_if_unordered(entry, replay.actual_json(outcome))
    assert canonical(actual) == canonical(expected)
    assert key_order_text(actual) == key_order_text(expected), "key order differs"


def _check_token(entry: dict[str, Any], outcome: Outcome) -> None:
    """A login answer: a new token whose claims look like the recorded ones."""
    token = outcome.headers.get("x-authentication-token")
    assert token, f"no token in {outcome.headers}"
    recorded = entry["token_claims"]
    assert jwt.get_unverified_header(token) == recorded["header"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == set(recorded["claims"])
    assert claims["sub"] == recorded["claims"]["sub"]
    assert re.fullmatch(r"[0-9a-f]{8}", claims["jti"])
    assert abs((claims["exp"] - claims["iat"]) - recorded["exp_minus_iat_seconds"]) < 30


def _check_challenge(entry: dict[str, Any], first_leg: Any) -> None:
    recorded = entry["digest_challenge"]
    assert first_leg is not None, "no 401 challenge before the digest answer"
    assert first_leg.status_code == recorded["status"] and first_leg.text == recorded["body"]
    assert re.sub(r'nonce="[^"]*"', 'nonce="<nonce>"', first_leg.headers["WWW-Authenticate"]) == \
        recorded["WWW-Authenticate"]


def check_replicate(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """The embedded server answers exactly what upstream answered."""
    assert outcome.status == entry["status"], _describe(outcome)
    assert media_type(outcome.content_type) == media_type(entry["content_type"]), _describe(outcome)
    if media_type(entry["content_type"]) == "text/json":
        assert_json_equal(replay, entry, outcome)
    else:
        assert outcome.text == entry["response"], _describe(outcome)
    for name, value in (entry.get("response_headers") or {}).items():
        got = outcome.headers.get(name)
        if name == "WWW-Authenticate":
            got = re.sub(r'nonce="[^"]*"', 'nonce="<nonce>"', got or "")
        if value == "<token>":
            assert got, name
        else:
            assert got == value, (name, got)
    if entry.get("token_claims"):
        _check_token(entry, outcome)
    if entry.get("digest_challenge"):
        _check_challenge(entry, outcome.challenge)


# ---- documented deviations -----------------------------------------------------------------------

def plain_400(*words: str) -> Callable[[Replayer, dict[str, Any], Outcome], None]:
    """Upstream 500 (traceback page) for bad input; embedded: 400 with a one-line plain message."""
    def check(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
        assert entry["status"] == 500
        assert outcome.status == 400, _describe(outcome)
        assert media_type(outcome.content_type) in ("text/html", "text/plain"), _describe(outcome)
        text = outcome.text
        assert text and "\n" not in text.strip() and not text.lstrip().startswith("<"), _describe(outcome)
        assert "Traceback" not in text
        for word in words:
            assert word.lower() in text.lower(), (word, text)
    return check


def plain_404(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """Unknown endpoint: 404 like upstream, but a plain-text body instead of WebPie's HTML page."""
    assert entry["status"] == 404 and outcome.status == 404, _describe(outcome)
    assert media_type(outcome.content_type) in ("text/html", "text/plain")
    assert outcome.text and not outcome.text.lstrip().startswith("<"), _describe(outcome)
    endpoint = entry["path"].rsplit("/", 1)[-1]
    assert endpoint in outcome.text


def framework_404(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """A path outside the prefix: WebPie's own "Service not found" (empty body) upstream; the status is
    what matters (README: framework-level answers differ under other front ends)."""
    assert outcome.status == 404, _describe(outcome)


def root_redirect(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """``GET <prefix>/`` redirects to ``./index`` (the HTML body of WebPie's redirect is framework text)."""
    assert outcome.status == 302 and outcome.headers.get("location") == "./index", _describe(outcome)


def digest_challenge(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """First digest leg: same status, body and challenge header. Upstream sends no Content-Type here;
    the embedded server sends text/html (cosmetic: clients only read the header)."""
    assert (outcome.status, outcome.text) == (401, "Authorization required"), _describe(outcome)
    assert re.sub(r'nonce="[^"]*"', 'nonce="<nonce>"', outcome.headers["WWW-Authenticate"]) == \
        entry["response_headers"]["WWW-Authenticate"]
    assert media_type(outcome.content_type) in (None, "text/html")


def foreign_redirect_refused(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """Upstream redirects anywhere with the token in a header; the embedded server allows only relative
    or same-origin redirects (issue 12), and ``http://127.0.0.1/next`` is another port: 400, no token."""
    assert entry["status"] == 302 and outcome.status == 400, _describe(outcome)
    assert "redirect" in outcome.text and "x-authentication-token" not in outcome.headers


def ldap_checks_password(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """Upstream: 401 "LDAP is not configured"; embedded: ``ldap`` checks the local password -> token."""
    assert outcome.status == 200 and outcome.text == "", _describe(outcome)
    token = outcome.headers["x-authentication-token"]
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == "alice"


def json_answer(expected: Any, note: str = "") -> Callable[[Replayer, dict[str, Any], Outcome], None]:
    """200 ``text/json`` with ``expected`` (timestamps masked, ids as upstream ids)."""
    def check(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
        assert outcome.status == 200, _describe(outcome)
        assert media_type(outcome.content_type) == "text/json", _describe(outcome)
        assert_json_equal(replay, entry, outcome, expected)
    check.__doc__ = note
    return check


def lenient_create(**fields: Any) -> Callable[[Replayer, dict[str, Any], Outcome], None]:
    """Upstream 500 on a create body the embedded server accepts on purpose (see ``validation.py``):
    the project is created with ``fields``."""
    def check(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
        assert entry["status"] == 500
        assert outcome.status == 200, _describe(outcome)
        project = outcome.json()
        for key, value in fields.items():
            assert project[key] == value, (key, project[key])
        assert [h["name"] for h in project["file_handles"]] == ["z"]
    return check


def release_unknown_handle(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """Q-REL404 (fixed): release of a non-existent handle with a worker_id is 404, not 500."""
    assert (outcome.status, outcome.text) == (404, "Handle not found or was not reserved"), _describe(outcome)


def restart_project_works(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """Q-BROKEN fixed: ``restart_project`` resets failed handles. After the reset of every handle one
    step earlier nothing is left to reset, so it answers what ``restart_handles`` answered."""
    json_answer(BY_SEQ[169]["response"])(replay, entry, outcome)


def project_files_works(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """Q-BROKEN fixed: ``project_files`` lists the handles with replicas (same as ``project``)."""
    assert outcome.status == 200 and media_type(outcome.content_type) == "text/json", _describe(outcome)
    handles = outcome.json()
    assert handles == replay.extra[entry["seq"]]["file_handles"]
    assert [(h["name"], h["state"], sorted(h["replicas"])) for h in handles] == [
        ("r1", "initial", ["RSE_DISK", "RSE_OFF"]), ("r2", "done", ["RSE_DISK", "RSE_TAPE"]), ("r3", "initial", [])]


def handles_log_works(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """Q-BROKEN fixed: every handle-log record of project PR by (namespace, name, t), spec §2.6."""
    def rec(name: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"type": "state", "t": "<float>", "data": data, "project_id": 24, "namespace": "test", "name": name}
    create = {"event": "create", "state": "initial"}
    expected = [
        rec("r1", create),
        rec("r1", {"event": "reserve", "old_state": "initial", "worker": "w1", "state": "reserved"}),
        rec("r1", {"event": "failed", "worker": "w1", "state": "initial", "old_state": "reserved"}),
        rec("r2", create),
        rec("r2", {"event": "reserve", "old_state": "initial", "worker": "w2", "state": "reserved"}),
        rec("r2", {"event": "done", "worker": "w2", "state": "done", "old_state": "reserved"}),
        rec("r3", create),
    ]
    assert outcome.status == 200 and media_type(outcome.content_type) == "text/json", _describe(outcome)
    assert replay.actual_json(outcome) == expected


def file_handle_works(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """Q-BROKEN fixed: ``file_handle?project_id=N&name=ns:name`` is the handle with its replicas."""
    assert outcome.status == 200 and media_type(outcome.content_type) == "text/json", _describe(outcome)
    handle = outcome.json()
    from_project = [h for h in replay.extra[entry["seq"]]["file_handles"] if h["name"] == "r1"]
    assert canonical(handle) == canonical(from_project[0])
    assert handle["state"] == "initial" and sorted(handle["replicas"]) == ["RSE_DISK", "RSE_OFF"]


def delete_rse_works(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """Spec §15: ``delete_rse`` as admin deletes the RSE (upstream: 500 NotImplementedError)."""
    assert outcome.status == 200 and outcome.json() is None, _describe(outcome)
    assert replay.extra[entry["seq"]] == (404, "RSE RSE_MIN not found")


def rses_without_deleted(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """The recorded list minus RSE_MIN, which the working ``delete_rse`` removed one step earlier."""
    expected = [r for r in entry["response"] if r["name"] != "RSE_MIN"]
    assert len(expected) == len(entry["response"]) - 1
    json_answer(expected)(replay, entry, outcome)


REPLICA_R3 = {"name": "r3", "namespace": "test", "path": None, "rse": "RSE_DISK", "url": None, "urls": [],
              "preference": 0, "available": True, "rse_available": True}
REPLICA_R1 = {"name": "r1", "namespace": "test", "path": "/pnfs/test/r1", "rse": "RSE_DISK",
              "url": "root://host:1094/pnfs/test/r1",
              "urls": ["root://host:1094/pnfs/test/r1", "https://host/pnfs/test/r1"],
              "preference": 0, "available": False, "rse_available": True}

PROJECT_27_NO_FILES = dict(BY_SEQ[285]["response"]) if 285 in BY_SEQ else {}


def repeated_parameter(replay: Replayer, entry: dict[str, Any], outcome: Outcome) -> None:
    """Upstream: a repeated ``project_id`` becomes a list -> 500. Embedded: the last value wins
    (``Call.param``), both values are 27 here, so the project is answered."""
    assert entry["status"] == 500
    json_answer(PROJECT_27_NO_FILES)(replay, entry, outcome)


#: seq -> check for every step that must not be compared with the recording as it is.
DEVIATIONS: dict[int, Callable[[Replayer, dict[str, Any], Outcome], None]] = {
    # framework-level answers and plain-text 404 bodies (documented)
    6: plain_404, 9: plain_404, 37: plain_404, 277: plain_404,
    7: framework_404, 8: root_redirect, 10: digest_challenge,
    # only relative or same-origin redirects (the token must not leave the server)
    29: foreign_redirect_refused,
    # ldap checks the local password (documented; upstream: LDAP is not configured)
    18: ldap_checks_password, 19: ldap_checks_password,
    # bad input: 400 with a plain message instead of a 500 traceback (documented)
    50: plain_400("JSON"), 51: plain_400("empty"), 62: plain_400("files"), 64: plain_400("worker_timeout", "abc"),
    66: plain_400("nobody"), 67: plain_400("norole"), 68: plain_400("test:d"),
    79: plain_400("abc"), 80: plain_400("project id"), 81: plain_400("project id"),
    94: plain_400("attributes"),
    107: plain_400("search query"), 108: plain_400("search query", "AND"), 109: plain_400("search query"),
    110: plain_400("query"), 111: plain_400("JSON"),
    117: plain_400("abc"), 135: plain_400("abc"), 136: plain_400("abc"), 165: plain_400("JSON"),
    180: plain_400("project id"), 185: plain_400("abc"), 203: plain_400("abc"),
    212: plain_400("name"), 213: plain_400("JSON"),
    257: plain_400("bogus"), 258: plain_400("project id"),
    # accepted on purpose by the embedded validation (upstream 500): see the report
    63: lenient_create(attributes={}),
    65: lenient_create(worker_timeout=600.0),
    284: repeated_parameter,
    # fixed upstream bugs (spec §13)
    93: json_answer([], "objects as attribute filter values: real jsonb containment (upstream: SQL error 500)"),
    105: json_answer([], "Q-RANGE fixed: 'x in 1:5' is a real range test; no project has x"),
    106: json_answer([], "Q-ENDQ fixed: ended_timestamp compares the end time; no project has ended yet"),
    132: release_unknown_handle,
    170: restart_project_works, 272: project_files_works, 274: handles_log_works, 275: file_handle_works,
    237: delete_rse_works, 238: rses_without_deleted,
    # admin extension endpoints (upstream: 404)
    278: json_answer(REPLICA_R3, "replica_available registers the replica"),
    279: json_answer(REPLICA_R1, "replica_unavailable marks it unavailable"),
}

def _get_rse_min(replay: Replayer) -> tuple[int, str]:
    response = replay.call("GET", "get_rse", {"name": "RSE_MIN"})
    return response.status_code, response.text


#: extra look-ups right after a step (the state they see is the state of that step)
AFTER: dict[int, Callable[[Replayer], Any]] = {
    237: _get_rse_min,
    272: lambda r: r.admin_call("GET", "project", {"project_id": r.ids.to_emb(24)}),
    275: lambda r: r.admin_call("GET", "project", {"project_id": r.ids.to_emb(24)}),
}

def _params() -> list[Any]:
    params = []
    for entry in ENTRIES:
        marks = []
        if "UNPATCHED" in entry["step"]:
            marks.append(pytest.mark.skip(reason="recorded against unpatched MetaCat (digest regex bug, "
                                                 "golden README §1); not reproducible by design"))
        params.append(pytest.param(entry["seq"], marks=marks, id=f"{entry['seq']:03d}-{_slug(entry['step'])}"))
    return params


@pytest.mark.parametrize("seq", _params())
def test_transcript_step(replay: Replayer, seq: int) -> None:
    entry = BY_SEQ[seq]
    outcome = replay.outcome(seq)
    if entry.get("kind") == "setup_sql":
        assert outcome == "setup"
        return
    assert isinstance(outcome, Outcome)
    DEVIATIONS.get(seq, check_replicate)(replay, entry, outcome)


def test_failed_creates_leave_no_project(replay: Replayer) -> None:
    """Q-CREATE fixed: the creates that failed upstream (and left projects 5..13 behind) create nothing,
    except the two bodies the embedded server accepts on purpose (null attributes, '10m')."""
    replay.outcome(70)
    assert replay.ids.upstream_orphans == set(range(5, 14))
    assert len(replay.ids.embedded_extra) == 2
    listing = replay.admin_call("GET", "projects", {"owner": "all", "with_handles": "no"})
    assert [p["project_id"] for p in listing][:7] == sorted([1, 2, 3, 4, *replay.ids.embedded_extra,
                                                             replay.ids.to_emb(14)])


# ---- part 2: the ddisp runs ----------------------------------------------------------------------

CLI = load_cli_runs() if GOLDEN_DIR else {"commands": [], "meta": {"env": ""}}
RUNS = {run["seq"]: run for run in CLI["commands"]}
RECORDED_URL = m.group(1) if (m := re.search(r"<URL> = (\S+?)\)", CLI["meta"]["env"])) else "<none>"


class CLIReplay:
    """Runs the recorded ``ddisp`` commands in order after the whole transcript."""

    def __init__(self, replay: Replayer, root: Path) -> None:
        self.replay = replay
        self.home = root / "home"
        self.cwd = root / "work"
        self.home.mkdir()
        self.cwd.mkdir()
        for name, content in CLI["meta"]["files"].items():
            (self.cwd / name).write_text(content)
        (self.cwd / ".data_dispatcher_worker_id").write_text("cliwrk01")
        self.results: dict[int, CLIResult] = {}
        self._next = 0
        replay.run_all()

    def result(self, seq: int) -> CLIResult:
        order = [run["seq"] for run in CLI["commands"]]
        while seq not in self.results:
            run = RUNS[order[self._next]]
            self._next += 1
            self.results[run["seq"]] = self._run(run)
        return self.results[seq]

    def _run(self, run: dict[str, Any]) -> CLIResult:
        url = self.replay.server.url
        env = {k: (v.replace("<URL>", url) if v else None) for k, v in run["env"].items()}
        args = [self._arg(a) for a in run["argv"][1:]]
        result = run_ddisp(args, cli_env(self.home, env.get("DATA_DISPATCHER_URL"),
                                         env.get("DATA_DISPATCHER_AUTH_URL")), self.cwd, run["stdin"])
        self._learn(run, result)
        return result

    def _arg(self, arg: str) -> str:
        return str(self.replay.ids.to_emb(int(arg))) if arg.isdigit() and int(arg) in (28, 29, 30) else arg

    def _learn(self, run: dict[str, Any], result: CLIResult) -> None:
        if run["argv"][1:3] not in (["project", "create"], ["project", "copy"]) or run["exit_code"] != 0:
            return
        if result.exit_code != 0:
            return
        if run["stdout"].strip().isdigit():
            upstream, embedded = int(run["stdout"]), int(result.stdout)
        else:
            upstream = parse_cli_json(run["stdout"])["project_id"]
            embedded = parse_cli_json(result.stdout)["project_id"]
        self.replay.ids.learn(upstream, embedded)

    # ---- normalising outputs -----------------------------------------------------------------

    def to_up(self, text: str) -> str:
        return str(self.replay.ids.to_up(int(text)))

    def normal_text(self, text: str, actual: bool) -> list[Any]:
        """Lines of a text output, comparable between the recording and this run."""
        ids = self.replay.ids
        text = text.replace(self.replay.server.url if actual else RECORDED_URL, "<URL>")
        if actual:
            text = mask_cli_text(text)
            if text.strip().isdigit():   # the id printed by project create/copy
                text = self.to_up(text.strip()) + "\n"
            text = re.sub(r"^(Project ID:\s+)(\d+)$", lambda m: m.group(1) + self.to_up(m.group(2)), text, flags=re.M)
            text = re.sub(r"^(project_id: )(\d+)$", lambda m: m.group(1) + self.to_up(m.group(2)), text, flags=re.M)
        lines: list[Any] = []
        attrs_block = False
        for line in text.splitlines():
            row = re.fullmatch(r"\s*(\d+) (\w+) +<datetime> +(\w+) +(\d+/\d+/\d+)", line)
            if row:   # project list row: drop projects that exist on one side only, map ids
                pid = int(row.group(1))
                if actual:
                    if pid in ids.embedded_extra:
                        continue
                    pid = ids.to_up(pid)
                elif pid in ids.upstream_orphans:
                    continue
                lines.append(("project", pid, row.group(2), row.group(3), row.group(4)))
                continue
            if not actual and re.match(r"RSE_MIN\s+", line):
                continue   # deleted by the working delete_rse of the transcript (upstream: 500)
            if line.startswith("attributes: "):   # Python repr of the attributes in server order
                lines.append(("attributes", ast.literal_eval(line[len("attributes: "):])))
                continue
            if line == "Project Attributes: ":
                attrs_block = True
                lines.append(line)
                continue
            if attrs_block and line.startswith("  "):
                lines.append(("attribute line", line))   # order of attribute keys is not guaranteed
                continue
            attrs_block = False
            lines.append(line)
        return _sort_attribute_lines(lines)

    def normal_json(self, text: str, actual: bool) -> Any:
        doc = parse_cli_json(text)
        if actual:
            doc = mask(doc)
            doc = _map_ids(doc, self.replay.ids.to_up)
        elif isinstance(doc, list) and doc and isinstance(doc[0], dict) and doc[0].get("name", "").startswith("RSE_"):
            doc = [r for r in doc if r["name"] != "RSE_MIN"]
        return canonical(doc)


def _map_ids(doc: Any, convert: Callable[[int], int]) -> Any:
    if isinstance(doc, dict):
        return {k: (convert(v) if k == "project_id" and isinstance(v, int) else _map_ids(v, convert))
                for k, v in doc.items()}
    if isinstance(doc, list):
        return [_map_ids(v, convert) for v in doc]
    return doc


def _sort_attribute_lines(lines: list[Any]) -> list[Any]:
    out: list[Any] = []
    block: list[Any] = []
    for line in lines + [None]:
        if isinstance(line, tuple) and line[0] == "attribute line":
            block.append(line)
            continue
        out.extend(sorted(block))
        block = []
        if line is not None:
            out.append(line)
    return out


@pytest.fixture(scope="module")
def cli_replay(replay: Replayer, tmp_path_factory: pytest.TempPathFactory) -> CLIReplay:
    if DDISP is None:
        pytest.skip("the upstream ddisp CLI is not installed")
    return CLIReplay(replay, tmp_path_factory.mktemp("golden-cli"))


@pytest.mark.parametrize("seq", [pytest.param(run["seq"], id=f"cli{run['seq']:02d}-{_slug(run['step'])}")
                                 for run in CLI["commands"]])
def test_ddisp_run(cli_replay: CLIReplay, seq: int) -> None:
    run = RUNS[seq]
    result = cli_replay.result(seq)
    where = f"{result.argv}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.exit_code == run["exit_code"], where
    expected, actual = run["stdout"], result.stdout
    if expected.lstrip().startswith(("{", "[")):
        assert cli_replay.normal_json(actual, True) == cli_replay.normal_json(expected, False), where
    else:
        assert cli_replay.normal_text(actual, True) == cli_replay.normal_text(expected, False), where
    if not run["stderr"]:
        assert result.stderr == "", where
    elif "Traceback" in run["stderr"]:
        # the same exception ends the traceback (the install paths differ)
        expected_last = [line for line in run["stderr"].splitlines() if line.strip()][-1]
        assert result.last_error_line == expected_last, where
    elif "getpass" in run["stderr"]:
        assert "Password:" in result.stderr, where
    else:
        assert result.stderr == run["stderr"], where


# ---- part 3: the rule behind step 285, on other endpoints ----------------------------------------


@pytest.mark.parametrize("case", ["release-retry", "projects-with_handles", "project-with_replicas"])
def test_valueless_flag_is_not_yes(dd, case: str) -> None:
    pid = dd.create([f"vl{case}:a"], project_attributes={"virtual": True})["project_id"]
    headers = dd.headers("alice")
    if case == "release-retry":
        dd.ok(dd.get("next_file", "alice", {"project_id": pid, "worker_id": "w"}))
        released = dd.session.get(f"{dd.url}/release?handle_id={pid}:vl{case}:a&failed=yes&retry&worker_id=w",
                                  headers=headers)
        assert dd.ok(released)["state"] == "failed"
    elif case == "projects-with_handles":
        listing = dd.ok(dd.session.get(f"{dd.url}/projects?with_handles&with_replicas=no", headers=headers))
        assert listing and all("file_handles" not in p for p in listing)
    else:
        project = dd.ok(dd.session.get(f"{dd.url}/project?project_id={pid}&with_files=yes&with_replicas"))
        assert "replicas" not in project["file_handles"][0]
