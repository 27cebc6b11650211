"""Assemble a model image's build context: deterministic, with a content hash.

Layout of a context folder (what the kit's ``modelkit/serving/Dockerfile`` template expects)::

    Dockerfile, score.py                           the model's own model/<file>, else the kit's (factory.kit)
    sample-request.json, expected-response.json    from models/<name>/model/
    requirements.lock                              the model's dependency set (modelkit/environments/<env>/)
    serving-prune.txt                              what that set's server never loads, when it says so
    model_server/                                  the serving package (model_server, stdlib only)
    model/                                         the registered model's artifacts (model.joblib or
                                                   model.onnx, and model.json), and serving.json when
                                                   model.yaml declares serving options (``kit.serving_options``)
    labels.json                                    the image labels (model name, version, run id, commit)
    model.sig, model-signing.pub                   the model folder's OpenSSF model-signing signature and the
                                                   key that checks it (with a signer; the server verifies the
                                                   folder at start: ``model_server/modelsig.py``)
    deps/<arch>/                                   added by the builder (``with_dependencies``): the locked
                                                   wheels installed for that architecture; not hashed (a pure
                                                   function of requirements.lock) and not uploaded to ACR

The hash is SHA-256 over every file's relative path, executable bit and content, in sorted order, so the
same model files, artifacts and labels give the same hash wherever and whenever they are assembled (``model.sig``
is left out: an ECDSA signature differs each time it is made; what it signs, the model folder, is in). Files
are written with a fixed mtime and mode, and ``tar_context`` packs the folder reproducibly (ACR upload).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

from factory import kit, ports
from factory.packaging import deps

SERVING_PACKAGE = Path(__file__).resolve().parents[2] / "model_server"
SERVING_FILES = ("__init__.py", "__main__.py", "server.py", "check.py", "compare.py", "signals.py", "modelsig.py")
ONNX_SERVING_FILES = ("onnx_score.py",)  # the shared scoring script of ONNX models, only in their images
KIT_FILES = ("Dockerfile", "score.py")  # the model's own model/<file> first, else the kit's (factory.kit)
MODEL_FILES = ("sample-request.json", "expected-response.json")
OPTIONAL_MODEL_FILES = (".dockerignore",)
LOCK_FILE = "requirements.lock"
DEPS_DIR = "deps"  # deps/<arch>/ in a context: excluded from the hash and from the ACR upload
ENVIRONMENTS = kit.ENVIRONMENTS
DEFAULT_ENVIRONMENT = kit.DEFAULT_ENVIRONMENT
ARTIFACT_FILES = ("model.json",)
MODEL_ARTIFACTS = ("model.joblib", "model.onnx")  # one of them: artifact.format joblib | onnx
FIXED_MTIME = 315532800  # 1980-01-01, the earliest time a zip or tar tool agrees on

# label name -> Dockerfile build argument that sets it
LABEL_ARGS = {
    "org.opencontainers.image.title": "MODEL_NAME",
    "org.opencontainers.image.version": "MODEL_VERSION",
    "org.opencontainers.image.revision": "SOURCE_COMMIT",
    "io.modelfactory.run-id": "RUN_ID",
}
CONTEXT_LABEL = "io.modelfactory.context-sha256"
MODEL_SIGNATURE = "model.sig"  # factory.supplychain.modelsig.SIGNATURE_FILE
SAFE_VALUE = re.compile(r"^[A-Za-z0-9 ._:/@+=,-]{0,200}$")


class ContextError(ValueError):
    """A model folder or artifact folder cannot be packaged; the message names the file."""


def model_labels(name: str, version: str, run_id: str = "", source_commit: str = "") -> dict[str, str]:
    """The image labels for one model version (OCI annotations plus the factory's own)."""
    labels = {
        "org.opencontainers.image.title": name,
        "org.opencontainers.image.version": str(version),
        "org.opencontainers.image.revision": source_commit or "unknown",
        "org.opencontainers.image.description": f"Model Factory scoring image for {name}",
        "io.modelfactory.model": name,
        "io.modelfactory.model-version": str(version),
        "io.modelfactory.run-id": run_id or "none",
        "io.modelfactory.source-commit": source_commit or "unknown",
    }
    return labels


def _check_labels(labels: dict[str, str]) -> None:
    for key, value in labels.items():
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", key) or not SAFE_VALUE.match(str(value)):
            raise ContextError(f"label {key}={value!r}: keys must be lower-case dotted names and values "
                               "at most 200 characters of letters, digits, spaces and ._:/@+=,-")


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o755 if os.access(src, os.X_OK) else 0o644)


def _files(root: Path) -> list[Path]:
    """Every file of a context, sorted, without the builder's ``deps/`` folder."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != DEPS_DIR)


def lock_file(environment: str = DEFAULT_ENVIRONMENT) -> Path:
    """The lock of a dependency set (``modelkit/environments/<environment>/requirements.lock``)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", environment):
        raise ContextError(f"environment {environment!r}: expected a lower-case name")
    return ENVIRONMENTS / environment / LOCK_FILE


def with_dependencies(context: ports.BuildContext, arch: str, installed: Path) -> None:
    """Put the installed dependency folder for ``arch`` at ``deps/<arch>`` in the context (hard links when
    possible: no copy of ~170 MB per build)."""
    dest = Path(context.path) / DEPS_DIR / arch
    if dest.exists():
        shutil.rmtree(dest)
    try:
        shutil.copytree(installed, dest, copy_function=os.link, symlinks=True)
    except OSError:  # another file system: copy
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(installed, dest, symlinks=True)


def context_hash(root: Path) -> str:
    """SHA-256 over the sorted relative paths, executable bits and contents of every file under ``root``."""
    digest = hashlib.sha256()
    for path in _files(root):
        rel = path.relative_to(root).as_posix()
        if rel == MODEL_SIGNATURE:
            continue
        executable = "x" if os.access(path, os.X_OK) else "-"
        digest.update(f"{rel}\0{executable}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def assemble(model_folder: Path, artifacts_dir: Path, dest: Path, labels: dict[str, str],
             environment: str | None = None, signer: ports.Signer | None = None) -> ports.BuildContext:
    """Write the build context for ``models/<name>`` (``model_folder``) plus registered artifacts into ``dest``.

    ``dest`` must not exist or be empty. ``labels`` (see ``model_labels``) are stored in ``labels.json``
    and so are part of the hash, as is the ``environment``'s lock. Returns the context with its SHA-256 and
    the labels to set (including ``io.modelfactory.context-sha256``). With ``signer``, the finished ``model/``
    folder is signed (OpenSSF model-signing format) into ``model.sig`` beside it.
    """
    model_folder, artifacts_dir, dest = Path(model_folder), Path(artifacts_dir), Path(dest)
    serving = model_folder / "model"
    for name in MODEL_FILES:
        if not (serving / name).is_file():
            raise ContextError(f"{serving / name}: missing; a model's serving folder needs {', '.join(MODEL_FILES)}")
    found_files = {name: kit.serving_file(model_folder, name) for name in KIT_FILES}
    shared = {name: found for name, found in found_files.items() if found is not None}
    for name, found in found_files.items():
        if found is None:
            raise ContextError(f"{serving / name}: missing, and the kit has none for environment "
                               f"{kit.environment_of(model_folder)!r}")
    for name in ARTIFACT_FILES:
        if not (artifacts_dir / name).is_file():
            raise ContextError(f"{artifacts_dir / name}: missing; registered artifacts need "
                               f"{', '.join(ARTIFACT_FILES)}")
    if not any((artifacts_dir / name).is_file() for name in MODEL_ARTIFACTS):
        raise ContextError(f"{artifacts_dir}: no {' or '.join(MODEL_ARTIFACTS)}; registered artifacts need the "
                           "model in its declared format")
    _check_labels(labels)
    lock = lock_file(environment or kit.environment_of(model_folder))  # model.yaml `environment:`
    if not lock.is_file():
        raise ContextError(f"{lock}: missing; every dependency set needs a lock (run `make lock`)")
    if dest.exists() and any(dest.iterdir()):
        raise ContextError(f"{dest}: not empty; a build context is assembled into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    for name, found in shared.items():
        _copy(found, dest / name)
    for name in MODEL_FILES + OPTIONAL_MODEL_FILES:
        if (serving / name).is_file():
            _copy(serving / name, dest / name)
    _copy(lock, dest / LOCK_FILE)
    if lock.with_name(deps.PRUNE_FILE).is_file():
        _copy(lock.with_name(deps.PRUNE_FILE), dest / deps.PRUNE_FILE)
    onnx = (artifacts_dir / "model.onnx").is_file()
    for name in SERVING_FILES + (ONNX_SERVING_FILES if onnx else ()):
        _copy(SERVING_PACKAGE / name, dest / "model_server" / name)
    for path in _files(artifacts_dir):
        if "__pycache__" in path.parts or path.name.startswith("."):
            continue
        _copy(path, dest / "model" / path.relative_to(artifacts_dir))
    options = kit.serving_options(model_folder)
    if options:  # e.g. {"probabilities": true}: what the scoring script answers (only models that declare it)
        (dest / "model" / kit.SERVING_OPTIONS).write_text(json.dumps(options, sort_keys=True) + "\n")
    (dest / "labels.json").write_text(json.dumps(dict(sorted(labels.items())), indent=2) + "\n")
    if signer is not None:
        from factory.supplychain.modelsig import write_signature

        write_signature(dest / "model", dest, signer, model_folder.name)
    for path in [*_files(dest), *sorted(p for p in dest.rglob("*") if p.is_dir()), dest]:
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))
    sha = context_hash(dest)
    return ports.BuildContext(path=str(dest), sha256=sha, labels={**labels, CONTEXT_LABEL: sha})


def build_args(context: ports.BuildContext) -> dict[str, str]:
    """Dockerfile build arguments for the labels the Dockerfile sets itself, plus ``CONTEXT_SHA256``."""
    args = {arg: context.labels[label] for label, arg in LABEL_ARGS.items() if label in context.labels}
    args["CONTEXT_SHA256"] = context.sha256
    if (Path(context.path) / MODEL_SIGNATURE).is_file():  # the server checks the model folder against it at start
        args["MODEL_SIGNATURE"] = f"/app/{MODEL_SIGNATURE}"
    return args


def extra_labels(context: ports.BuildContext) -> dict[str, str]:
    """Labels the builder sets with ``--label`` (those the Dockerfile does not set from a build argument)."""
    covered = set(LABEL_ARGS) | {CONTEXT_LABEL}
    return {k: v for k, v in sorted(context.labels.items()) if k not in covered}


def scoring_check(model_folder: Path) -> ports.ScoringCheck:
    """The model's verification: ``model/sample-request.json`` and ``model/expected-response.json``."""
    from model_server.compare import split_expected

    serving = Path(model_folder) / "model"
    documents: dict[str, Any] = {}
    for name in ("sample-request.json", "expected-response.json"):
        try:
            documents[name] = json.loads((serving / name).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ContextError(f"{serving / name}: {exc}") from None
    try:
        expected, tolerance, rel_tolerance = split_expected(documents["expected-response.json"])
    except ValueError as exc:
        raise ContextError(f"{serving / 'expected-response.json'}: {exc}") from None
    return ports.ScoringCheck(request=documents["sample-request.json"], expected=expected, tolerance=tolerance,
                              rel_tolerance=rel_tolerance)


def tar_context(root: Path) -> bytes:
    """The context folder as a reproducible ``.tar.gz`` (sorted, fixed mtimes, uid/gid 0)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _files(root):
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            info.size = path.stat().st_size
            info.mtime = FIXED_MTIME
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return gzip.compress(raw.getvalue(), mtime=0)
