"""Following runs across a devhost restart: the runs go on in Durable's history, so the CLI keeps asking."""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Callable
from typing import Any

TRANSIENT = (OSError, urllib.error.URLError, RuntimeError)  # refused, reset, timed out, 5xx while it starts


class Follower:
    """Calls the app and rides out its restarts: a failed call is said once, then retried with back-off
    (``first`` s doubling up to ``most`` s); the first call that works again says so."""

    def __init__(self, say: Callable[[str], None], first: float = 0.5, most: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.say, self.first, self.most, self.sleep = say, first, most, sleep
        self.delay = first
        self.down_since: float | None = None

    def call(self, fn: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        """``(True, result)``, or ``(False, None)`` after a failed call (having waited the back-off)."""
        try:
            result = fn(*args)
        except TRANSIENT as err:
            if self.down_since is None:
                self.down_since = time.monotonic()
                reason = str(getattr(err, "reason", None) or err).split("\n")[0][:120]
                self.say(f"devhost is not answering ({reason}); reconnecting with back-off, the runs go on")
            self.sleep(self.delay)
            self.delay = min(self.delay * 2, self.most)
            return False, None
        if self.down_since is not None:
            self.say(f"reconnected to devhost after {time.monotonic() - self.down_since:.0f} s")
            self.down_since, self.delay = None, self.first
        return True, result
