"""Which models a code change touches: a model folder's files, or the kit every model is built from.

``changed_models(repo, ref, models_dir)`` lists the models whose folder (``models/<name>/``) or the kit
(``modelkit/``, which every model's components, pipeline and image use) changed between ``ref`` and the work
tree (committed, staged, unstaged and untracked files). CI calls ``model-factory changed REF`` to check, test
and retrain only those models; ``model-factory run --changed REF`` does the same on the local stack.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

KIT_FOLDER = "modelkit"


class ChangesError(RuntimeError):
    """git could not tell what changed (not a work tree, unknown ref); the message says which."""


def _git(repo: Path, *args: str) -> list[str]:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise ChangesError(f"git is not available: {exc}") from None
    if done.returncode != 0:
        raise ChangesError(f"git {' '.join(args)} in {repo}: {done.stderr.strip() or done.returncode}")
    return [line for line in done.stdout.splitlines() if line]


def changed_files(repo: Path, ref: str) -> list[str]:
    """Paths (relative to the repository root) changed since ``ref``, including uncommitted and untracked."""
    root = Path(_git(repo, "rev-parse", "--show-toplevel")[0])
    _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    files = set(_git(root, "diff", "--name-only", ref, "--"))
    files.update(_git(root, "ls-files", "--others", "--exclude-standard"))
    return sorted(files)


def changed_models(repo: Path, ref: str, models_dir: Path) -> list[str]:
    """The models (folders of ``models_dir`` holding a model.yaml) a change since ``ref`` touches."""
    root = Path(_git(repo, "rev-parse", "--show-toplevel")[0]).resolve()
    models_dir = Path(models_dir).resolve()
    try:
        prefix = models_dir.relative_to(root).as_posix()
    except ValueError:
        raise ChangesError(f"{models_dir} is not inside the git work tree {root}") from None
    present = sorted(p.parent.name for p in models_dir.glob("*/model.yaml"))
    files = changed_files(root, ref)
    if any(f == KIT_FOLDER or f.startswith(f"{KIT_FOLDER}/") for f in files):
        return present
    touched = {f[len(prefix) + 1:].split("/", 1)[0] for f in files if f.startswith(f"{prefix}/")}
    return [name for name in present if name in touched]


def retrain_key(commit: str) -> str:
    """The idempotency key of a retrain of a commit: the same for ``model-factory run --changed`` and
    ``model-factory retrain --commit`` (CI), so retraining one commit both ways starts one run per model."""
    return f"commit-{commit.strip().lower()}"


def head_commit(repo: Path) -> str:
    """The work tree's HEAD commit."""
    return _git(repo, "rev-parse", "HEAD")[0]
