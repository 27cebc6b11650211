"""The emulated base-image stage has no fixed time limit: it runs as long as it prints progress, and is stopped
only when it falls silent for the stall limit."""

from __future__ import annotations

import time

import pytest

from factory.adapters.local.base_image import run_with_progress


def test_a_step_that_keeps_printing_runs_past_the_stall_limit():
    seen: list[str] = []
    started = time.monotonic()
    out = run_with_progress(["sh", "-c", "for i in 1 2 3 4 5 6; do echo step $i; sleep 0.25; done"], 0.8,
                            seen.append)
    assert time.monotonic() - started > 0.8 * 1.5  # longer than the stall limit in all
    assert seen == [f"step {i}" for i in range(1, 7)] and out.endswith("step 6")


def test_a_silent_step_is_stopped_after_the_stall_limit_with_its_last_lines():
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"printed nothing for 0.5 s and was stopped:\nconfiguring dpkg"):
        run_with_progress(["sh", "-c", "echo configuring dpkg; sleep 30"], 0.5)
    assert time.monotonic() - started < 10


def test_a_failing_step_says_its_exit_code():
    with pytest.raises(RuntimeError, match=r"failed \(exit 3\):\nbroken"):
        run_with_progress(["sh", "-c", "echo broken; exit 3"], 5)
