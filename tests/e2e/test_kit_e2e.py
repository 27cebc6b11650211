"""The kit's promises on the real local stack: a broken model folder is skipped while the others run, and
``model-factory run --changed`` retrains only the models a commit touched (slow)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cli import main as cli
from tests.e2e.conftest import BROKEN_MODEL
from tests.e2e.helpers import sample

pytestmark = pytest.mark.slow


def test_a_broken_model_folder_is_reported_and_skipped_while_the_others_run(stack, client, every_model_run,
                                                                            tmp_path):
    """The broken folder sits beside the repository models for the whole session: their one shared run (every
    model at once) is the "others run" half; here, it is refused by name and an upload for it starts nothing."""
    ended = {model: run["result"] for model, (_, run, _) in every_model_run.items()}
    assert ended == dict.fromkeys(every_model_run, "Succeeded")
    status, body = client.start_run(BROKEN_MODEL, "latest")
    assert status == 409 and f"{BROKEN_MODEL}/model.yaml: not valid YAML" in body["error"]
    before = len(client.runs())
    stack.upload(BROKEN_MODEL, sample(stack, "wine_cultivar"))  # an upload for it starts nothing
    bad = tmp_path / "after-the-broken-one.csv"  # listed after it, so its run proves the broken upload was seen
    bad.write_text("alcohol,malic_acid\n1,2\n")
    run = client.wait(stack.upload("wine_beside_broken", bad)[2], timeout=300)
    assert (run["result"], run["ended_at_stage"]) == ("Rejected", "validate"), run["reason"]
    assert len(client.runs()) == before + 1
    assert not [r for r in client.runs() if r["run_id"].startswith(f"{BROKEN_MODEL}-")]


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
                          check=True, capture_output=True, text=True)
    return done.stdout.strip()


def test_run_changed_retrains_only_the_touched_models_with_the_commit(stack, client, wine_copy_triple_run,
                                                                      monkeypatch, capsys):
    """``run --changed`` retrains on each touched model's latest upload: wine_copy's is the good one of
    ``wine_copy_triple_run``, so that run is made first, whatever order the tests run in."""
    models = stack.models_dir
    repo = models.parent
    (repo / ".gitignore").write_text("state/\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "models", "modelkit", ".gitignore")  # the kit is tracked, as in the repository
    _git(repo, "commit", "-qm", "the models as deployed")
    train = models / "wine_copy" / "src" / "train.py"
    train.write_text(train.read_text() + "\n# tuned: a code change to wine_copy only\n")
    _git(repo, "commit", "-qam", "wine_copy: a code change")
    commit = _git(repo, "rev-parse", "HEAD")
    counts = {}
    for run in client.runs():
        model = (run.get("lineage") or {}).get("model", "")
        counts[model] = counts.get(model, 0) + 1
    monkeypatch.chdir(repo)
    code = cli.main(["run", "--changed", "HEAD~1", "--models-dir", str(models), "--state-dir", str(stack.state_dir),
                     "--auto-approve", "--timeout", "900"])
    out = capsys.readouterr().out
    assert code == 0, out
    after = {}
    for run in client.runs():
        model = (run.get("lineage") or {}).get("model", "")
        after[model] = after.get(model, 0) + 1
    started = {m: n - counts.get(m, 0) for m, n in after.items() if n != counts.get(m, 0)}
    assert started == {"wine_copy": 1}, out
    newest = max((r for r in client.runs() if (r.get("lineage") or {}).get("model") == "wine_copy"),
                 key=lambda r: r["created"])
    assert newest["lineage"]["source_commit"] == commit and newest["result"] == "Succeeded"
