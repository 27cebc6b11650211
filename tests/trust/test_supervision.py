"""The local stack supervises each service as a group, on real processes (the dev registry: its wrapper and
the ``docker-registry serve`` child): a SIGKILL of the wrapper alone takes the child with it, the next start
is this start's registry (not an orphan answering on the port), a stale process of the stack on a stack port is
ended and a foreign one refused by name, and ``down`` leaves nothing of the stack running."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from localstack import supervision
from localstack.stack import LocalStack, StackPorts


def _wait(predicate, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _reap(pid: int) -> None:
    """The test started the wrapper, so it is the one to reap it (the CLI's children go to init)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


@pytest.fixture
def stack(tmp_path: Path):
    stack = LocalStack(tmp_path / "state", StackPorts.free())
    yield stack
    stack.down()


def _service(stack: LocalStack, name: str):
    return next(s for s in stack.services() if s.name == name)


def _registry_listener(stack: LocalStack) -> int:
    holders = supervision.listeners(stack.ports.dev_registry)
    assert len(holders) == 1, holders
    return holders.pop()


def test_sigkill_of_the_registry_wrapper_takes_its_child_and_the_next_start_is_the_new_registry(stack):
    service = _service(stack, "dev-registry")
    stack.start(service)
    wrapper, child = stack.pid("dev-registry"), _registry_listener(stack)
    assert child != wrapper and supervision.process_group(child) == wrapper  # in the wrapper's group
    os.kill(wrapper, signal.SIGKILL)  # the wrapper alone, as a crash would
    _reap(wrapper)
    assert _wait(lambda: not supervision.alive(child)), "the registry outlived its wrapper"
    assert _wait(lambda: not supervision.listeners(stack.ports.dev_registry))
    assert not stack.answers(service)
    stack.start(service)
    new_wrapper, new_child = stack.pid("dev-registry"), _registry_listener(stack)
    assert new_wrapper != wrapper and supervision.process_group(new_child) == new_wrapper
    assert requests.get(f"http://127.0.0.1:{stack.ports.dev_registry}/v2/", timeout=10).status_code == 200
    stack.down()
    assert supervision.stack_processes(stack.state_dir) == []
    assert not supervision.listeners(stack.ports.dev_registry)


def test_an_orphan_of_the_stack_on_a_stack_port_is_ended_and_this_starts_registry_answers(stack):
    service = _service(stack, "dev-registry")
    stack.start(service)
    old_wrapper, old_child = stack.pid("dev-registry"), _registry_listener(stack)
    os.killpg(old_wrapper, signal.SIGKILL)
    _reap(old_wrapper)
    assert _wait(lambda: not supervision.alive(old_child))
    # what an older supervisor left: the registry in a session of its own, its wrapper gone
    orphan = subprocess.Popen(["docker-registry", "serve", str(stack.state_dir / "registries/dev/config.yml")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    assert _wait(lambda: supervision.listeners(stack.ports.dev_registry) == {orphan.pid})
    assert not stack.answers(service)  # the port answers, but not from this stack's registry
    stack.start(service)
    assert orphan.wait(10) is not None  # ended: it was the stack's own (its config is in the state folder)
    assert supervision.process_group(_registry_listener(stack)) == stack.pid("dev-registry")


def test_a_foreign_process_on_a_stack_port_is_refused_by_name_and_left_alone(stack):
    port = stack.ports.prod_registry
    foreign = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait(lambda: supervision.listeners(port) == {foreign.pid})
        with pytest.raises(supervision.PortTaken, match=rf"port {port} is held by pid {foreign.pid} .*http.server"):
            stack.start(_service(stack, "prod-registry"))
        assert foreign.poll() is None and stack.pid("prod-registry") is None
    finally:
        foreign.terminate()
        foreign.wait(10)


def test_down_ends_every_service_group_and_its_log_writer(stack):
    service = _service(stack, "dev-registry")
    stack.start(service)
    running = supervision.stack_processes(stack.state_dir)
    assert len(running) >= 3  # wrapper, registry, the log writers
    stack.down()
    assert supervision.stack_processes(stack.state_dir) == []
    assert not [p for p in running if supervision.alive(p)]


def test_a_pid_file_whose_pid_was_reused_by_another_process_group_is_never_signalled(stack):
    """pids wrap (``pid_max`` 32768 here): after a service died, its pid file may name a stranger that leads its
    own process group (a shell, another stack's service). ``pid`` does not take it for the service, and
    ``stop``/``down`` end nothing of it (before, ``down`` sent its whole group SIGTERM and SIGKILL)."""
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        pid_file = stack.state_dir / "pids" / "dev-registry.pid"
        pid_file.parent.mkdir(parents=True)
        pid_file.write_text(f"{stranger.pid} 1")  # the pid of a service that ended, now reused by the stranger
        assert stack.pid("dev-registry") is None
        pid_file.write_text(str(stranger.pid))  # a pid file of an older stack, without the start time
        assert stack.pid("dev-registry") is None
        stack.stop("dev-registry")
        stack.down()
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait(10)


def test_a_strangers_dev_fd_argument_is_not_taken_for_the_stack_even_when_our_fd_is_a_state_file(tmp_path):
    """``bash /dev/fd/3`` (how some tools run a script) names a descriptor of *its* process; resolved in the
    supervisor it followed the supervisor's own fd 3, a state file there, and ``down`` ended such shells."""
    state = tmp_path / "state"
    (state / "logs").mkdir(parents=True)
    with (state / "logs" / "x.log").open("w") as ours:
        fd = ours.fileno()
        stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", f"/dev/fd/{fd}",
                                     f"/proc/self/fd/{fd}"], pass_fds=())
        own = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", str(state / "logs" / "x.log")])
        try:
            assert _wait(lambda: len(supervision.command_line(stranger.pid)) == 5)
            assert not supervision.belongs_to(stranger.pid, state)
            assert _wait(lambda: supervision.belongs_to(own.pid, state))  # a real state path still counts
            assert supervision.stack_processes(state) == [own.pid]
        finally:
            for proc in (stranger, own):
                proc.kill()
                proc.wait(10)
