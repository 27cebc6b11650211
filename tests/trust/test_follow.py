"""`model-factory run` keeps following across a devhost restart: the Follower rides out the outage."""

from __future__ import annotations

import threading
import time

from cli.client import FactoryClient
from cli.follow import Follower


def test_following_survives_a_devhost_restart_and_says_so(app_stack):
    client = FactoryClient(app_stack.base_url, app_stack.function_key)
    said: list[str] = []
    follow = Follower(said.append, first=0.1, most=0.5)
    assert follow.call(client.runs)[0]
    devhost = next(s for s in app_stack.services() if s.name == "devhost")
    app_stack.kill("devhost")
    time.sleep(0.5)
    failures = 0
    restarter = threading.Timer(1.5, lambda: app_stack.start(devhost))
    restarter.start()
    deadline = time.monotonic() + 120
    while True:
        ok, runs = follow.call(client.runs)
        if ok:
            break
        failures += 1
        assert time.monotonic() < deadline, said
    restarter.join()
    assert failures >= 1 and isinstance(runs, list)
    assert said[0].startswith("devhost is not answering") and "reconnecting with back-off" in said[0]
    assert said[-1].startswith("reconnected to devhost") and len(said) == 2  # said once, not per attempt
