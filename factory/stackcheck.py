"""Whether the local stack answers, said in one line a person can act on (the CLI's commands ask first)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class _Service(Protocol):
    name: str

    def ready(self) -> bool: ...


class _Stack(Protocol):
    def services(self) -> Iterable[_Service]: ...

    def pid(self, name: str) -> int | None: ...


STACK_DOWN = 2  # the exit code of a command that needs the stack when it is not running


def not_answering(stack: _Stack) -> list[str]:
    """The stack's services that do not answer: not running (no live process of this stack) or not ready."""
    down = []
    for service in stack.services():
        try:
            answers = stack.pid(service.name) is not None and service.ready()
        except (OSError, ValueError):
            answers = False
        if not answers:
            down.append(service.name)
    return down


def why_not(stack: _Stack, needs: Iterable[str] = ("devhost",)) -> str | None:
    """None when every service in ``needs`` answers; else one line: the stack is not running, or which of its
    services do not answer and what to do."""
    down = not_answering(stack)
    names = [s.name for s in stack.services()]
    if set(down) >= set(names):
        return "the local stack is not running: start it with `model-factory up`"
    missing = [n for n in needs if n in down]
    if not missing:
        return None
    rest = "" if set(down) == set(missing) else f" (nor do {', '.join(n for n in down if n not in missing)})"
    verb = "does" if len(missing) == 1 else "do"
    return (f"the local stack is partly down: {', '.join(missing)} {verb} not answer{rest}; "
            f"`model-factory logs {missing[0]}` says why, `model-factory up` starts it again")


def warn_partial(stack: _Stack) -> str | None:
    """One line naming the services that do not answer while the ones a command needs do (else None)."""
    down = not_answering(stack)
    if not down:
        return None
    verb = "does" if len(down) == 1 else "do"
    return f"note: {', '.join(down)} {verb} not answer; runs that need it wait or fail (`model-factory up`)"
