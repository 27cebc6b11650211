"""What a command that needs the stack says when the stack, or one of its services, does not answer."""

from dataclasses import dataclass

from factory.stackcheck import warn_partial, why_not


@dataclass
class _Service:
    name: str
    up: bool

    def ready(self) -> bool:
        return self.up


class _Stack:
    def __init__(self, **up: bool) -> None:
        self._services = [_Service(n.replace("_", "-"), u) for n, u in up.items()]

    def services(self):
        return self._services

    def pid(self, name: str):
        return 1 if any(s.name == name and s.up for s in self._services) else None


def test_nothing_answering_says_the_stack_is_not_running_and_how_to_start_it():
    line = why_not(_Stack(azurite=False, devhost=False, dev_registry=False))
    assert line == "the local stack is not running: start it with `model-factory up`"


def test_devhost_alone_down_is_named_with_what_to_do():
    line = why_not(_Stack(azurite=True, devhost=False, dev_registry=True))
    assert line is not None and "devhost does not answer;" in line and "model-factory logs devhost" in line


def test_another_service_down_lets_the_command_run_and_is_named_in_a_note():
    stack = _Stack(azurite=True, devhost=True, dev_registry=False)
    assert why_not(stack) is None
    assert warn_partial(stack) == ("note: dev-registry does not answer; runs that need it wait or fail "
                                   "(`model-factory up`)")


def test_status_and_approve_with_the_stack_down_say_so_in_one_line_and_exit_2(tmp_path, capsys):
    from cli.main import main

    for argv in (["status"], ["status", "some-run"], ["approve", "some-run"], ["approve", "some-run", "--reject"]):
        assert main([*argv, "--state-dir", str(tmp_path / "state")]) == 2, argv
        out, err = capsys.readouterr()
        assert err == "the local stack is not running: start it with `model-factory up`\n" and out == "", argv


def test_a_command_whose_service_stops_answering_gets_one_line_not_a_traceback(capsys, monkeypatch):
    import socket

    from cli.main import main

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("FACTORY_FUNCTION_KEY", "k")
    code = main(["retrain", "wine_cultivar", "--url", f"http://127.0.0.1:{port}", "--commit", "abcdef1"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "did not answer" in err and "model-factory up" in err
