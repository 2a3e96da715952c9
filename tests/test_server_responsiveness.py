"""A big listing is built off the event loop: workers keep being served while it runs.

The listing is held inside its read snapshot until the workers have been served, so the
test waits for events rather than racing the listing against the machine's speed: if the
listing ran on the event loop, the held listing would block every ``next_file`` and the
requests would time out.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import requests

WORKER_REQUESTS = 50
HELD_FOR = 60.0


def test_dispatch_continues_while_a_listing_is_being_built(dd, server, monkeypatch):
    big = dd.create([f"big:f{i:05d}" for i in range(5000)])["project_id"]
    small = dd.create([f"small:f{i}" for i in range(WORKER_REQUESTS)],
                      project_attributes={"virtual": True})["project_id"]
    readers = server.app.readers
    original = readers.snapshot
    listing_started, release_listing = threading.Event(), threading.Event()
    held = []

    @contextlib.contextmanager
    def held_snapshot() -> Iterator[object]:
        with original() as conn:
            if not held:  # hold only the first snapshot: the listing's
                held.append(True)
                listing_started.set()
                release_listing.wait(HELD_FOR)
            yield conn

    monkeypatch.setattr(readers, "snapshot", held_snapshot)
    result: dict[str, object] = {}

    def listing() -> None:
        response = requests.get(f"{dd.url}/project", params={"project_id": big, "with_replicas": "yes"},
                                timeout=HELD_FOR + 30)
        result["status"] = response.status_code
        result["handles"] = len(response.json()["file_handles"])
        result["released_first"] = release_listing.is_set()

    thread = threading.Thread(target=listing)
    thread.start()
    try:
        assert listing_started.wait(30), "the listing never reached its snapshot"
        session = requests.Session()
        served = []
        for _ in range(WORKER_REQUESTS):
            reply = session.get(f"{dd.url}/next_file", headers=dd.headers("alice"),
                                params={"project_id": small, "worker_id": "w"}, timeout=10)
            assert reply.status_code == 200, reply.text
            served.append(reply.json()["handle"]["name"])
        assert thread.is_alive(), "the listing finished while it was held"
    finally:
        release_listing.set()
        thread.join(HELD_FOR + 30)
    assert len(set(served)) == WORKER_REQUESTS
    assert result == {"status": 200, "handles": 5000, "released_first": True}
