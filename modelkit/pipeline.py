"""The standard training pipeline: verify_data -> prep -> transform -> train -> evaluate + score -> register.

``standard_pipeline(folder, name, description)`` returns the ``@dsl.pipeline`` function for a model folder
whose stages follow the standard contract: its own ``mlops/components/{prep,transform,train,evaluate}.yml``,
and the kit's ``verify_data``, ``score`` and ``register`` (or the model's own ``<stage>.yml``; see
``factory.kit``). A model
whose graph differs writes its own ``mlops/pipeline.py`` with a ``training_pipeline`` (it may call
``factory.kit.stage_component`` for the kit's stages).

For ``artifact.format: onnx`` the evaluate step also gets model.yaml's ``fp16_tolerance`` and key metric and
writes ``chosen`` (the fp16 or fp32 artifact it kept): score and register take that one, and it is ``model``.

Pipeline inputs: ``data`` (the validated, pinned data), ``data_sha256`` (its hash: ``verify_data`` refuses
other bytes and hands the checked copy to ``prep``), ``model_name`` and ``run_id`` (the factory run), and the
lineage strings the register stage tags the version with. Outputs: ``model``, ``metrics``, ``registration``.
No ``from __future__ import annotations`` here: ``dsl.pipeline`` reads the annotations as types.
"""

from pathlib import Path

from azure.ai.ml import Input, dsl

from factory.kit import stage_component

STAGES = ("verify_data", "prep", "transform", "train", "evaluate", "score", "register")


def standard_pipeline(folder: Path, name: str, description: str, onnx: bool = False,
                      fp16_tolerance: float = None, key_metric: str = None):  # noqa: RUF013
    """The standard ``training_pipeline`` of the model in ``folder`` (``onnx``: evaluate keeps fp16 or fp32)."""
    components = {stage: stage_component(folder, stage, name) for stage in STAGES}

    @dsl.pipeline(name=f"{name}_training", description=description)
    def training_pipeline(data: Input, model_name: str, run_id: str, data_uri: str = None,  # noqa: RUF013
                          data_etag: str = None, source_commit: str = None,  # noqa: RUF013
                          data_sha256: str = None):  # noqa: RUF013
        verify_data = components["verify_data"](data=data, sha256=data_sha256)
        prep = components["prep"](data=verify_data.outputs.verified)
        transform = components["transform"](prepared=prep.outputs.prepared)
        train = components["train"](features=transform.outputs.features, model_name=model_name)
        if onnx:  # evaluate converts to fp16 and keeps it within the tolerance: the kept one goes on
            evaluate = components["evaluate"](model=train.outputs.model, features=transform.outputs.features,
                                              fp16_tolerance=fp16_tolerance, key_metric=key_metric)
            model = evaluate.outputs.chosen
        else:
            evaluate = components["evaluate"](model=train.outputs.model, features=transform.outputs.features)
            model = train.outputs.model
        score = components["score"](model=model, features=transform.outputs.features)
        register = components["register"](model=model, metrics=evaluate.outputs.metrics,
                                          scores=score.outputs.scores, model_name=model_name, run_id=run_id,
                                          data_uri=data_uri, data_etag=data_etag, source_commit=source_commit)
        return {"model": model, "metrics": evaluate.outputs.metrics, "registration": register.outputs.registration}

    return training_pipeline
