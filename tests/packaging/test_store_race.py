"""Several models build at once, and each removes its local images when it has pushed: podman's layer-cache lookup
can then fail on an image removed under it ("layer not known"). The builder builds again (at most three times);
a build's own failure is reported at once. The engine here is a real process standing in for podman's CLI that
answers ``build`` from a script of exit codes and messages, so the test needs no image store."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from factory import ports
from factory.adapters.local.containers import ContainerEngine
from factory.adapters.local.podman import STORE_RACE_ATTEMPTS, BuildFailed, PodmanImageBuilder, store_race

RACE = ("Error: checking if cached image exists from a previous build: getting top layer info: "
        "layer not known")
OWN = "Error: building at STEP \"RUN false\": while running runtime: exit status 1"


def _engine(tmp_path: Path, answers: list[tuple[int, str]]) -> tuple[ContainerEngine, Path]:
    """An engine whose n-th ``build`` exits with ``answers[n]`` (the last one repeats); other commands succeed."""
    calls = tmp_path / "builds"
    script = tmp_path / "bin" / "podman"
    script.parent.mkdir(parents=True)
    cases = "\n".join(f'  {i}) echo "{msg}" >&2; exit {rc};;' for i, (rc, msg) in enumerate(answers, 1))
    last_rc, last_msg = answers[-1]
    script.write_text(f'''#!/bin/sh
[ "$1" = build ] || exit 0
echo x >> "{calls}"
n=$(wc -l < "{calls}")
case $n in
{cases}
  *) echo "{last_msg}" >&2; exit {last_rc};;
esac
''')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return ContainerEngine(binary=str(script), env={"PATH": "/usr/bin:/bin"}), calls


def _build(tmp_path: Path, answers: list[tuple[int, str]]) -> tuple[str, int]:
    eng, calls = _engine(tmp_path, answers)
    builder = PodmanImageBuilder(base_image="localhost/base:test", container_engine=eng)
    context = ports.BuildContext(path=str(tmp_path), sha256="c" * 64)
    try:
        builder._build(context, "localhost/model-factory-build/m:1-amd64", "amd64")  # noqa: SLF001 (the unit)
        outcome = "built"
    except BuildFailed as failed:
        outcome = str(failed)
    return outcome, len(calls.read_text().splitlines())


def test_a_store_race_is_built_again_and_a_builds_own_failure_is_not(tmp_path: Path) -> None:
    outcome, builds = _build(tmp_path / "a", [(125, RACE), (1, OWN)])
    assert builds == 2 and "exit status 1" in outcome  # raced once, then the build's own error, reported
    outcome, builds = _build(tmp_path / "b", [(1, OWN)])
    assert builds == 1 and "exit status 1" in outcome  # its own failure: not built again
    outcome, builds = _build(tmp_path / "c", [(125, RACE)])
    assert builds == STORE_RACE_ATTEMPTS and "layer not known" in outcome  # a store that keeps changing: gives up


@pytest.mark.parametrize(("output", "race"), [
    (f"STEP 1/9: FROM base\n{RACE}\n", True),
    ("Error: checking if cached image exists from a previous build: image not known", True),
    (OWN, False),
    ("Error: layer not known", False),  # not the cache lookup: not known to be a race
])
def test_only_the_cache_lookups_store_errors_count_as_a_race(output: str, race: bool) -> None:
    assert bool(store_race(output)) is race
