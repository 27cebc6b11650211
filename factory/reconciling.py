"""Asking instead of waiting: what the event a run waits for would have said, read from the registry itself.

Event Grid delivers at least once and can be late by hours; a local bridge can die with its registry. When
``ModelRegistered`` or ``ImagePushed`` is late, the run calls these (``reconcile_model``, ``reconcile_image``
activities) on a durable timer and goes on with what they find; its lineage says which events it asked for.
"""

from __future__ import annotations

from contract import Reconciled, ReconcileRequest
from factory.ports import ImageRef, ImageRegistry, ModelRegistry

RUN_TAG = "run_id"  # the model version's tag naming the run that registered it (as ModelRegistered routes)


def find_model_version(registry: ModelRegistry, req: ReconcileRequest) -> Reconciled:
    """The version of ``req.model`` registered by this run (its ``run_id`` tag), the newest if several."""
    mine = [v for v in registry.versions(req.model) if v.tags.get(RUN_TAG) == req.run_id]
    if not mine:
        return Reconciled(False)
    newest = max(mine, key=lambda v: int(v.version) if v.version.isdigit() else 0)
    return Reconciled(True, {"name": newest.name, "version": newest.version, "tags": dict(newest.tags)})


def find_image(registry: ImageRegistry, req: ReconcileRequest) -> Reconciled:
    """The image pushed under the run's tag in the dev registry, by its digest."""
    digest = registry.digest(ImageRef(registry=registry.dev_host(), repository=req.repository, tag=req.run_id))
    if not digest:
        return Reconciled(False)
    return Reconciled(True, {"repository": req.repository, "tag": req.run_id, "digest": digest})
