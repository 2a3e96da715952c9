"""A big listing is built off the event loop: workers keep being served while it runs."""

from __future__ import annotations

import threading
import time

import pytest
import requests


@pytest.mark.slow
def test_dispatch_continues_during_a_big_listing(dd):
    big = dd.create([f"big:f{i:06d}" for i in range(60000)])["project_id"]
    small = dd.create([f"small:f{i}" for i in range(50)], project_attributes={"virtual": True})["project_id"]
    finished: dict[str, float] = {}

    def listing() -> None:
        response = requests.get(f"{dd.url}/project", params={"project_id": big, "with_replicas": "yes"},
                                stream=True)
        finished["listing"] = time.monotonic()  # headers arrive once the whole body is built
        assert response.status_code == 200 and len(response.json()["file_handles"]) == 60000

    thread = threading.Thread(target=listing)
    thread.start()
    time.sleep(0.05)
    served = []
    session = requests.Session()
    while thread.is_alive() and len(served) < 50:
        reply = session.get(f"{dd.url}/next_file", headers=dd.headers("alice"),
                            params={"project_id": small, "worker_id": "w"})
        assert reply.status_code == 200
        served.append(time.monotonic())
    thread.join()
    assert served and served[0] < finished["listing"], "next_file waited for the listing"
