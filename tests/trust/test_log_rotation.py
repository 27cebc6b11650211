"""Service logs rotate by size: a service's output goes through the rotating writer ``LocalStack.start``
puts in front of it; no file passes the limit, only the configured number of files is kept, all 0600."""

from __future__ import annotations

import stat
import sys
import time
from pathlib import Path

import pytest

from factory.logrotate import LogLimits, tail_lines
from factory.settings import SettingsError
from localstack.stack import LocalStack, Service, StackPorts

LINES = 3000  # ~75 KB of output against 4 KiB files


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_service_writing_past_the_limit_keeps_n_files_of_at_most_m_bytes(tmp_path):
    stack = LocalStack(tmp_path / "state", ports=StackPorts.free(),
                       extra_env={"FACTORY_LOG_MAX_BYTES": "4096", "FACTORY_LOG_FILES": "3"})
    talker = [sys.executable, "-c",
              f"import sys\nfor i in range({LINES}): print(f'line {{i:05d}} ' + 'x' * 14)\nprint('done')"]
    stack.start(Service("talker", talker, lambda: True))
    log = stack.log_path("talker")
    deadline = time.monotonic() + 60
    while not (log.exists() and log.read_bytes().endswith(b"done\n")) and time.monotonic() < deadline:
        time.sleep(0.1)

    files = sorted(p.name for p in log.parent.iterdir() if p.name.startswith("talker"))
    assert files == ["talker.log", "talker.log.1", "talker.log.2"]
    parts = [log.parent / name for name in ("talker.log.2", "talker.log.1", "talker.log")]
    assert all(0 < p.stat().st_size <= 4096 for p in parts), [p.stat().st_size for p in parts]
    assert all(_mode(p) == 0o600 for p in parts) and _mode(log.parent) == 0o700
    everything = "".join(f"line {i:05d} {'x' * 14}\n" for i in range(LINES)) + "done\n"
    kept = b"".join(p.read_bytes() for p in parts).decode()
    assert everything.endswith(kept) and len(kept) > 2 * 4096 - 100  # the newest output, whole lines, in order
    assert kept.startswith("line ")
    # `model-factory logs` shows the current log, reaching into the previous one when it is short
    current = log.read_text().splitlines()
    assert tail_lines(log, len(current)) == current
    assert tail_lines(log, len(current) + 5) == kept.splitlines()[-(len(current) + 5):]


@pytest.mark.parametrize(("env", "named"), [({"FACTORY_LOG_MAX_BYTES": "ten"}, "FACTORY_LOG_MAX_BYTES"),
                                            ({"FACTORY_LOG_FILES": "0"}, "FACTORY_LOG_FILES")])
def test_bad_log_limits_name_the_setting(env, named):
    with pytest.raises(SettingsError, match=named):
        LogLimits.from_env(env)
    assert LogLimits.from_env({}) == LogLimits(10 * 1024 * 1024, 5)
