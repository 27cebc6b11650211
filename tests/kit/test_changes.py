"""``--changed``: only the models whose folder (or the kit) a change touches are retrained."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cli.main import main
from factory.changes import ChangesError, changed_models


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name in ("alpha", "beta", "gamma"):
        (tmp_path / "models" / name / "src").mkdir(parents=True)
        (tmp_path / "models" / name / "model.yaml").write_text(f"name: {name}\n")
        (tmp_path / "models" / name / "src" / "train.py").write_text("print('train')\n")
    (tmp_path / "modelkit" / "stages").mkdir(parents=True)
    (tmp_path / "modelkit" / "stages" / "register.py").write_text("print('register')\n")
    (tmp_path / "README.md").write_text("repo\n")
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "seed")
    return tmp_path


def _commit(repo: Path, message: str) -> None:
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", message)


def test_only_the_touched_model_folders_are_changed(repo):
    (repo / "models" / "beta" / "src" / "train.py").write_text("print('train better')\n")
    _commit(repo, "beta trains better")
    (repo / "README.md").write_text("docs only\n")
    _commit(repo, "docs")
    assert changed_models(repo, "HEAD~2", repo / "models") == ["beta"]
    assert changed_models(repo, "HEAD~1", repo / "models") == []
    (repo / "models" / "gamma" / "src" / "new_helper.py").write_text("X = 1\n")  # untracked counts
    assert changed_models(repo, "HEAD", repo / "models") == ["gamma"]


def test_a_kit_change_touches_every_model(repo):
    (repo / "modelkit" / "stages" / "register.py").write_text("print('register v2')\n")
    assert changed_models(repo, "HEAD", repo / "models") == ["alpha", "beta", "gamma"]


def test_an_unknown_ref_is_a_clear_error(repo, capsys):
    with pytest.raises(ChangesError, match="no-such-ref"):
        changed_models(repo, "no-such-ref", repo / "models")


def test_the_changed_command_prints_one_model_per_line(repo, capsys, monkeypatch):
    (repo / "models" / "alpha" / "model.yaml").write_text("name: alpha\n# tuned\n")
    monkeypatch.chdir(repo)
    assert main(["changed", "HEAD", "--models-dir", str(repo / "models")]) == 0
    assert capsys.readouterr().out.split() == ["alpha"]


def test_an_untracked_kit_counts_as_a_kit_change(repo):
    """A kit that git does not track yet (e.g. a symlinked ``modelkit``) is a change to every model."""
    _git(repo, "rm", "-rq", "--cached", "modelkit")
    _commit(repo, "the kit is not tracked")
    assert changed_models(repo, "HEAD", repo / "models") == ["alpha", "beta", "gamma"]


def test_run_changed_reports_a_changed_broken_folder_and_starts_nothing_for_it(repo, capsys, monkeypatch):
    (repo / "models" / "alpha" / "model.yaml").write_text("name: alpha\ntask: [unclosed\n")
    monkeypatch.chdir(repo)
    code = main(["run", "--changed", "HEAD", "--models-dir", str(repo / "models"),
                 "--state-dir", str(repo / "state")])
    err = capsys.readouterr().err
    assert code == 1
    assert "alpha: changed, but its folder does not load, so it is not retrained" in err
    assert "alpha/model.yaml: not valid YAML" in err
    assert not (repo / "state").exists()  # nothing was started for it
