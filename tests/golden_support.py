"""Replay of the golden upstream recordings (``tests/data``) against the embedded server.

Used by ``test_golden_replay.py`` (and, for the ``ddisp`` runner, ``test_upstream_compat.py``).
It is imported as a top-level module from the tests folder: never as ``tests.golden_support``.

The golden transcript was recorded against the real upstream server. Replaying it needs
a few translations:

* ``<token of X>`` becomes a fresh token of X; the special tokens (expired, immature, signed
  with another secret, unknown user, a one-hour token) are minted here with PyJWT and the
  server's own secret (SQLite ``settings.token_secret``; key = SHA-256 digest, HS256);
* ``setup_sql`` entries become the admin extension calls (``replica_available``,
  ``replica_unavailable``, ``set_proximity``) or, for the ``abandoned`` state that has no
  endpoint, the same ``UPDATE`` on the SQLite file;
* project ids: failed creates left empty projects behind upstream (ids 5..13), the embedded
  server does not, so ids are mapped step by step from the create/copy answers.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import requests
from requests.auth import HTTPDigestAuth

#: The recorded upstream data, kept with the tests (see ``tests/data/README.md``).
GOLDEN_DIR: Path = Path(__file__).resolve().parent / "data"

TIME_KEYS = frozenset({"created_timestamp", "ended_timestamp", "reserved_since", "t", "exp", "iat", "nbf"})
USERS = {"admin": True, "alice": False, "bob": False, "carol": False}
ROLES = {"carol": ("prod",)}


def password(user: str) -> str:
    """The password the golden recording used (``alicepw`` in the LDAP and CLI steps)."""
    return f"{user}pw"


def load_transcript() -> list[dict[str, Any]]:
    return json.loads((GOLDEN_DIR / "upstream-dd-transcript.json").read_text())["entries"]


def load_cli_runs() -> dict[str, Any]:
    return json.loads((GOLDEN_DIR / "upstream-ddisp-outputs.json").read_text())


def mask(obj: Any) -> Any:
    """Mask absolute timestamps as the golden files do (``<float>``)."""
    if isinstance(obj, dict):
        return {k: ("<float>" if k in TIME_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool)
                    else mask(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask(v) for v in obj]
    return obj


def media_type(content_type: str | None) -> str | None:
    return None if content_type is None else content_type.split(";")[0].strip().lower()


@dataclass
class Outcome:
    """What the embedded server answered to one replayed step."""

    status: int
    content_type: str | None
    text: str
    headers: Any  # requests.structures.CaseInsensitiveDict
    challenge: requests.Response | None = None
    request_url: str = ""

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class IdMap:
    """Upstream project id ↔ embedded project id, learnt from create/copy answers."""

    up_to_emb: dict[int, int] = field(default_factory=dict)
    emb_to_up: dict[int, int] = field(default_factory=dict)
    upstream_orphans: set[int] = field(default_factory=set)   # created upstream by failed creates
    embedded_extra: set[int] = field(default_factory=set)     # created here where upstream failed

    def learn(self, upstream: int, embedded: int) -> None:
        self.up_to_emb[upstream] = embedded
        self.emb_to_up[embedded] = upstream
        known = set(self.up_to_emb)
        self.upstream_orphans = {i for i in range(1, max(known) + 1) if i not in known}

    def to_emb(self, upstream: int) -> int:
        return self.up_to_emb.get(upstream, upstream)

    def to_up(self, embedded: int) -> int:
        return self.emb_to_up.get(embedded, embedded)


def _walk_ids(obj: Any, convert) -> Any:
    """Convert every ``project_id`` value of a JSON document with ``convert``."""
    if isinstance(obj, dict):
        return {k: (convert(v) if k == "project_id" and isinstance(v, int) and not isinstance(v, bool)
                    else _walk_ids(v, convert)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk_ids(v, convert) for v in obj]
    return obj


def _is_project_list(obj: Any) -> bool:
    return isinstance(obj, list) and all(isinstance(p, dict) and "owner" in p and "project_id" in p for p in obj)


class Replayer:
    """Replays the transcript in order against ``server`` and keeps every outcome by ``seq``."""

    def __init__(self, server: Any, entries: list[dict[str, Any]]) -> None:
        self.server = server
        self.entries = entries
        self.by_seq = {e["seq"]: e for e in entries}
        self.outcomes: dict[int, Outcome | str] = {}
        self.ids = IdMap()
        self.session = requests.Session()
        self._next = 0
        self._tokens: dict[str, str] = {}
        self.after: dict[int, Callable[[Replayer], Any]] = {}   # extra look-ups right after a step
        self.extra: dict[int, Any] = {}
        conn = sqlite3.connect(server.db_path, timeout=30)
        try:
            secret = conn.execute("SELECT value FROM settings WHERE key = 'token_secret'").fetchone()[0]
        finally:
            conn.close()
        self._key = hashlib.sha256(secret.encode()).digest()

    # ---- tokens ------------------------------------------------------------------------------

    def token(self, user: str) -> str:
        if user not in self._tokens:
            self._tokens[user] = self.server.issue_token(user)
        return self._tokens[user]

    def mint(self, sub: str = "alice", *, exp: float | None = None, nbf: float | None = None,
             key: bytes | None = None) -> str:
        now = time.time()
        claims = {"sub": sub, "iat": now, "nbf": now if nbf is None else nbf,
                  "exp": now + 3600 if exp is None else exp, "jti": uuid.uuid4().hex[:8]}
        return jwt.encode(claims, key or self._key, algorithm="HS256")

    def special_token(self, step: str) -> str:
        """The token a dict-form ``request_auth`` stood for, from the step's description."""
        now = time.time()
        if "another secret" in step:
            return self.mint(key=hashlib.sha256(b"some other secret").digest())
        if "expired" in step:
            return self.mint(exp=now - 600, nbf=now - 7200)
        if "immature" in step:
            return self.mint(nbf=now + 3600, exp=now + 7200)
        if "unknown user" in step:
            return self.mint("zed")
        if "locally minted 1-hour" in step:
            return self.mint(exp=now + 3600)
        return self.token("alice")

    def headers(self, entry: dict[str, Any]) -> tuple[dict[str, str], Any]:
        auth = entry.get("request_auth")
        if auth is None:
            return {}, None
        if isinstance(auth, dict):
            return {k: v.replace("<token>", self.special_token(entry["step"])) for k, v in auth.items()}, None
        m = re.fullmatch(r"(X-Authentication-Token): <token of (\w+)>", auth)
        if m:
            return {m.group(1): self.token(m.group(2))}, None
        m = re.fullmatch(r"HTTP Digest \(requests\.auth\.HTTPDigestAuth, user (\w+), password (correct|wrong)\)", auth)
        if m:
            user = m.group(1)
            return {}, HTTPDigestAuth(user, password(user) if m.group(2) == "correct" else "wrong-password")
        raise AssertionError(f"unknown request_auth form: {auth!r}")

    # ---- translation -------------------------------------------------------------------------

    def params(self, params: str | None) -> str | None:
        if params is None:
            return None
        params = re.sub(r"(project_id=)(\d+)", lambda m: m.group(1) + str(self.ids.to_emb(int(m.group(2)))), params)
        return re.sub(r"(handle_id=)(\d+)(?=:)", lambda m: m.group(1) + str(self.ids.to_emb(int(m.group(2)))), params)

    def body(self, body: Any) -> bytes | None:
        if body is None:
            return None
        if isinstance(body, dict) and set(body) == {"raw"}:
            return body["raw"].encode()
        if isinstance(body, dict) and "project_id" in body:
            pid = body["project_id"]
            if isinstance(pid, int) and not isinstance(pid, bool):
                body = {**body, "project_id": self.ids.to_emb(pid)}
            elif isinstance(pid, str) and pid.isdigit():
                body = {**body, "project_id": str(self.ids.to_emb(int(pid)))}
        return json.dumps(body).encode()

    def expected_json(self, entry: dict[str, Any]) -> Any:
        """The golden body with upstream orphan projects removed (ids stay upstream ids)."""
        expected = entry["response"]
        if _is_project_list(expected):
            expected = [p for p in expected if p["project_id"] not in self.ids.upstream_orphans]
        return expected

    def actual_json(self, outcome: Outcome) -> Any:
        """The embedded body masked, with ids mapped back to upstream ids, extra projects removed."""
        actual = outcome.json()
        if _is_project_list(actual):
            actual = [p for p in actual if p["project_id"] not in self.ids.embedded_extra]
        return mask(_walk_ids(actual, self.ids.to_up))

    # ---- running -----------------------------------------------------------------------------

    def outcome(self, seq: int) -> Outcome | str:
        """Run every step up to ``seq`` (once) and return the outcome of ``seq``."""
        while seq not in self.outcomes:
            entry = self.entries[self._next]
            self._next += 1
            self.outcomes[entry["seq"]] = self._run(entry)
            if entry["seq"] in self.after:
                self.extra[entry["seq"]] = self.after[entry["seq"]](self)
        return self.outcomes[seq]

    def run_all(self) -> None:
        self.outcome(self.entries[-1]["seq"])

    def _run(self, entry: dict[str, Any]) -> Outcome | str:
        if entry.get("kind") == "setup_sql":
            self._setup(entry)
            return "setup"
        if "UNPATCHED" in entry["step"]:
            return "skipped"
        headers, auth = self.headers(entry)
        if entry["path"] is None:
            url = self.server.base_url + entry["url_path"]
        else:
            url = f"{self.server.url}/{entry['path']}"
        params = self.params(entry["params"])
        if params is not None:
            url += "?" + params
        data = self.body(entry["body"])
        response = self.session.request(entry["method"], url, headers=headers, data=data, auth=auth,
                                        allow_redirects=False)
        challenge = response.history[0] if auth is not None and response.history else None
        outcome = Outcome(response.status_code, response.headers.get("content-type"), response.text,
                          response.headers, challenge, url)
        self._learn_ids(entry, outcome)
        return outcome

    def _learn_ids(self, entry: dict[str, Any], outcome: Outcome) -> None:
        if entry["path"] not in ("create_project", "copy_project"):
            return
        upstream_ok = entry["status"] == 200 and isinstance(entry["response"], dict)
        if outcome.status == 200 and outcome.content_type and outcome.content_type.startswith("text/json"):
            embedded = outcome.json()["project_id"]
            if upstream_ok:
                self.ids.learn(entry["response"]["project_id"], embedded)
            else:
                self.ids.embedded_extra.add(embedded)

    def call(self, method: str, endpoint: str, params: dict[str, Any] | None = None, body: Any = None,
             user: str | None = "admin") -> requests.Response:
        """A side request (not part of the transcript) to the data server."""
        return self.session.request(method, f"{self.server.url}/{endpoint}", params=params,
                                    headers={"X-Authentication-Token": self.token(user)} if user else {},
                                    data=None if body is None else json.dumps(body))

    def admin_call(self, method: str, endpoint: str, params: dict[str, Any] | None = None,
                   body: Any = None) -> Any:
        response = self.call(method, endpoint, params, body)
        assert response.status_code == 200, (endpoint, response.status_code, response.text)
        return response.json()

    def _setup(self, entry: dict[str, Any]) -> None:
        sql = entry["sql"]
        for ns, name, rse, path, url, urls, available, pref in re.findall(
                r"\('(\w+)', '(\w+)', '(\w+)', (null|'[^']*'),\s*'([^']*)',\s*'(\[[^']*\])', (true|false), (\d+)\)",
                sql):
            body = {"path": None if path == "null" else path.strip("'"), "url": url, "urls": json.loads(urls),
                    "preference": int(pref)}
            target = {"rse": rse, "namespace": ns, "name": name}
            self.admin_call("POST", "replica_available", target, body)
            if available == "false":
                self.admin_call("GET", "replica_unavailable", target)
        for cpu, rse, value in re.findall(r"proximity_map\(cpu, rse, proximity\) values \('(\w+)', '(\w+)', (\d+)\)",
                                          sql):
            self.admin_call("POST", "set_proximity", body={"cpu": cpu, "rse": rse, "proximity": int(value)})
        m = re.search(r"update data_dispatcher\.projects set state = '(\w+)' where id = (\d+)", sql)
        if m:
            conn = sqlite3.connect(self.server.db_path, timeout=30)
            try:
                with conn:
                    conn.execute("UPDATE projects SET state = ? WHERE id = ?",
                                 (m.group(1), self.ids.to_emb(int(m.group(2)))))
            finally:
                conn.close()
        if not (m or "replicas" in sql or "proximity_map" in sql):
            raise AssertionError(f"setup step not understood: {sql}")


# ---- comparing JSON documents --------------------------------------------------------------------

UNORDERED_KEYS = ("attributes", "project_attributes")


def canonical(obj: Any) -> Any:
    """Normalise what is not guaranteed upstream: ``users``/``roles`` order, ``replicas`` map order."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in ("users", "roles") and isinstance(v, list):
                out[k] = sorted(v)
            elif k == "replicas" and isinstance(v, dict):
                out[k] = {rse: canonical(v[rse]) for rse in sorted(v)}
            else:
                out[k] = canonical(v)
        return out
    if isinstance(obj, list):
        return [canonical(v) for v in obj]
    return obj


def key_order_text(obj: Any) -> str:
    """The document as text with attribute objects blanked: compares key order of the wire shapes
    (projects, handles, replicas, RSEs) but not of attribute objects (PostgreSQL jsonb order upstream)."""
    def strip(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: ("<attrs>" if k in UNORDERED_KEYS and isinstance(v, dict) else strip(v)) for k, v in o.items()}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o
    return json.dumps(strip(canonical(obj)))


# ---- the upstream ddisp CLI ----------------------------------------------------------------------

def _ddisp_script() -> str | None:
    import shutil
    import sys
    beside = Path(sys.executable).with_name("ddisp")
    return str(beside) if beside.is_file() else shutil.which("ddisp")


DDISP = _ddisp_script()

# ``ddisp worker next`` sleeps a random 0-10 s (client ``next_file(stagger=10)``) before asking; this
# launcher runs the same CLI entry point with the stagger default set to 0.
NO_STAGGER_LAUNCHER = (
    "import sys\n"
    "import data_dispatcher.api as api\n"
    "api.DataDispatcherClient.next_file.__defaults__ = (None, None, None, 0)\n"
    "from data_dispatcher.ui.ui_main import main\n"
    "sys.argv[0] = 'ddisp'\n"
    "sys.exit(main())\n"
)


@dataclass
class CLIResult:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def last_error_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def cli_env(home: Path, server_url: str | None, auth_url: str | None, metacat_url: str | None = None,
            metacat_auth_url: str | None = None) -> dict[str, str]:
    """Environment for one ``ddisp`` run: only the variables the CLI reads, and a private HOME."""
    import os
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATA_DISPATCHER_", "METACAT_", "BEARER_TOKEN", "X509_"))}
    env["HOME"] = str(home)
    for key, value in (("DATA_DISPATCHER_URL", server_url), ("DATA_DISPATCHER_AUTH_URL", auth_url),
                       ("METACAT_SERVER_URL", metacat_url), ("METACAT_AUTH_SERVER_URL", metacat_auth_url)):
        if value is not None:
            env[key] = value
    return env


def run_ddisp(args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None,
              timeout: float = 60) -> CLIResult:
    """Run the installed upstream ``ddisp`` as a subprocess.

    The process gets its own session, hence no controlling terminal: ``getpass`` then reads the
    password from stdin (with a ``GetPassWarning``), as in the golden recording.
    """
    import subprocess
    import sys
    assert DDISP is not None, "ddisp is not installed"
    if args[:2] == ["worker", "next"]:
        cmd = [sys.executable, "-c", NO_STAGGER_LAUNCHER, *args]
    else:
        cmd = [sys.executable, DDISP, *args]
    proc = subprocess.run(cmd, input=stdin if stdin is not None else "", capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout, start_new_session=True)
    return CLIResult(["ddisp", *args], proc.returncode, proc.stdout, proc.stderr)


_UTC_DATETIME = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d UTC")
_LOCAL_DATETIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_CTIME = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d "
                    r"\d\d:\d\d:\d\d \d{4}")


def mask_cli_text(text: str) -> str:
    """Mask datetimes and epoch floats in CLI text output as the golden file does."""
    text = _UTC_DATETIME.sub("<datetime UTC>", text)
    text = _LOCAL_DATETIME.sub("<datetime>", text)
    text = _CTIME.sub("<ctime>", text)
    return re.sub(r"^(reserved_since: )\d+(\.\d+)?$", r"\1<float>", text, flags=re.M)


def parse_cli_json(text: str) -> Any:
    """Parse CLI JSON output; the golden file has unquoted ``<float>`` placeholders."""
    return json.loads(re.sub(r"(?<![\"\w])<float>", '"<float>"', text))
