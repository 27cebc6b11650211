"""Fixtures for devhost tests: an in-process DevHost and a full-replay subprocess on the test app
(tests/devhost/app)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from devhost_testkit import APP_DIR, CONFORMANCE_DIR, Client  # noqa: E402

from devhost.server import DevHost, launch  # noqa: E402


@pytest.fixture(scope="session")
def out_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch_session: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("devhost-out")
    monkeypatch_session.setenv("DEVHOST_TEST_OUT", str(path))
    return path


@pytest.fixture(scope="session")
def monkeypatch_session():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _start_host(tmp: Path) -> DevHost:
    host = DevHost(app_dir=APP_DIR, app_module="dh_test_app", state_dir=tmp / "state", port=0,
                   subscriptions=APP_DIR / "subscriptions.json", workers=4,
                   eventgrid_max_attempts=3, eventgrid_first_retry=0.05)
    return host.start()


@pytest.fixture(scope="module")
def session_host(tmp_path_factory: pytest.TempPathFactory, out_dir: Path):
    host = _start_host(tmp_path_factory.mktemp("devhost-session"))
    yield host
    host.stop()


@pytest.fixture(scope="module")
def full_replay_host(tmp_path_factory: pytest.TempPathFactory, out_dir: Path):
    """A `python -m devhost --full-replay` subprocess (the SDK's HTTP client session is per process and loop)."""
    tmp = tmp_path_factory.mktemp("devhost-full")
    host = launch(app_dir=APP_DIR, app_module="dh_test_app", state_dir=tmp / "state",
                  subscriptions=APP_DIR / "subscriptions.json", workers=4, log_file=tmp / "devhost.log",
                  extra_args=["--full-replay", "--eventgrid-max-attempts", "3", "--eventgrid-first-retry", "0.05"],
                  env={"DEVHOST_TEST_OUT": str(out_dir)})
    yield host
    host.stop()


@pytest.fixture(params=["session", "full_replay"])
def dh(request: pytest.FixtureRequest, out_dir: Path) -> Client:
    """A client on an in-process devhost; runs each test with session replay and with full replay."""
    host = request.getfixturevalue("session_host" if request.param == "session" else "full_replay_host")
    return Client(host.base_url, out_dir)


@pytest.fixture
def dh1(session_host: DevHost, out_dir: Path) -> Client:
    """A client on the session-replay devhost only (tests that need one host)."""
    return Client(session_host.base_url, out_dir)


@pytest.fixture(scope="session")
def conformance(tmp_path_factory: pytest.TempPathFactory):
    """`python -m devhost --app-dir tests/devhost/conformance_app` with every default (module function_app, app
    object `myApp`, keys generated into the state dir), as a new user would start a sample."""
    tmp = tmp_path_factory.mktemp("conformance")
    host = launch(app_dir=CONFORMANCE_DIR, state_dir=tmp / "state", log_file=tmp / "devhost.log")
    yield host
    host.stop()
