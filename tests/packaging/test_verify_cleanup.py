"""Crash hygiene: a verification container orphaned by a SIGKILLed build is removed by the next attempt for
the same run and by the stack's start/stop; other stacks' containers are left alone (real podman)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from factory.adapters.local.base_image import ensure_base_image
from factory.adapters.local.containers import engine
from factory.adapters.local.podman import (
    VERIFY_ATTEMPT_LABEL,
    VERIFY_RUN_LABEL,
    VERIFY_STACK_LABEL,
    remove_verification_containers,
    stack_id,
)
from localstack.stack import LocalStack

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

# a build activity in its own process, stuck verifying an image that never answers /ready
VERIFYING = textwrap.dedent("""
    import sys
    from factory import ports
    from factory.adapters.local.podman import PodmanImageBuilder
    check = ports.ScoringCheck(request={"data": []}, expected={"predictions": []})
    builder = PodmanImageBuilder(ready_timeout=600, attempt="attempt-1")
    builder._verify(sys.argv[1], check, "127.0.0.1:1/x:v1", "", sys.argv[2])
""")


def _containers(label: str) -> list[str]:
    return engine().run(["ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}"]).stdout.split()


@pytest.fixture(scope="module")
def hanging_image():
    eng = engine()
    image = "localhost/model-factory-test/never-ready:1"
    base = ensure_base_image(eng)
    eng.run(["build", "-q", "-t", image, "-"], input=(
        f'FROM {base}\nCMD ["python3", "-c", "import time; time.sleep(3600)"]\n').encode())
    yield image
    eng.run(["rmi", "-f", image], check=False)


def _killed_build(state_dir: Path, image: str, run_id: str) -> list[str]:
    """Start a build's verification in a subprocess, SIGKILL it once its container runs; the orphans."""
    env = {**os.environ, "FACTORY_STATE_DIR": str(state_dir), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", VERIFYING, image, run_id], env=env, cwd=REPO)
    label = f"{VERIFY_RUN_LABEL}={run_id}"
    try:
        deadline = time.monotonic() + 120
        while not _containers(label):
            assert proc.poll() is None, "the verifying process ended early"
            assert time.monotonic() < deadline, "no verification container appeared"
            time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    orphans = _containers(label)
    assert orphans, "the SIGKILLed build should have left its container (the scenario under test)"
    return orphans


def test_sigkill_during_verification_leaves_no_orphan(hanging_image, tmp_path):
    stack_a, stack_b = tmp_path / "a", tmp_path / "b"
    run_a, run_b = f"run-a-{os.getpid()}", f"run-b-{os.getpid()}"
    orphan = _killed_build(stack_a, hanging_image, run_a)
    other = _killed_build(stack_b, hanging_image, run_b)
    labels = engine().run(["inspect", "--format", "{{json .Config.Labels}}", orphan[0]]).stdout
    assert f'"{VERIFY_ATTEMPT_LABEL}":"attempt-1"' in labels and stack_id(stack_a) in labels

    # the retried activity (build_verify_push removes the run's earlier attempts before building)
    removed = remove_verification_containers(stack=stack_id(stack_a), run=run_a)
    assert removed == orphan
    assert _containers(f"{VERIFY_RUN_LABEL}={run_a}") == []
    assert _containers(f"{VERIFY_RUN_LABEL}={run_b}") == other, "another stack's container was touched"

    # `model-factory down` (and `up`) of stack b removes what stack b left
    LocalStack(stack_b).down()
    assert _containers(f"{VERIFY_STACK_LABEL}={stack_id(stack_b)}") == []
