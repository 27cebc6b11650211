"""The nyc_taxi training pipeline: prep -> transform -> train -> evaluate + score -> register.

``training_pipeline`` is what the factory submits to Azure ML and what the local runner executes. Its
inputs: ``data`` (the uploaded CSV), ``model_name`` and ``run_id`` (the factory run), and the lineage strings
the register stage tags the version with. Each step is named after its stage.
No ``from __future__ import annotations`` here: ``dsl.pipeline`` reads the annotations as types.
"""

from pathlib import Path

from azure.ai.ml import Input, dsl, load_component

COMPONENTS = {stage: load_component(source=Path(__file__).parent / "components" / f"{stage}.yml")
              for stage in ("prep", "transform", "train", "evaluate", "score", "register")}


@dsl.pipeline(name="nyc_taxi_training",
              description="Taxi fare regression: uploaded CSV to registered model version")
def training_pipeline(data: Input, model_name: str, run_id: str, data_uri: str = None,  # noqa: RUF013
                      data_etag: str = None, source_commit: str = None):  # noqa: RUF013
    prep = COMPONENTS["prep"](data=data)
    transform = COMPONENTS["transform"](prepared=prep.outputs.prepared)
    train = COMPONENTS["train"](features=transform.outputs.features, model_name=model_name)
    evaluate = COMPONENTS["evaluate"](model=train.outputs.model, features=transform.outputs.features)
    score = COMPONENTS["score"](model=train.outputs.model, features=transform.outputs.features)
    register = COMPONENTS["register"](model=train.outputs.model, metrics=evaluate.outputs.metrics,
                                      scores=score.outputs.scores, model_name=model_name, run_id=run_id,
                                      data_uri=data_uri, data_etag=data_etag, source_commit=source_commit)
    return {"model": train.outputs.model, "metrics": evaluate.outputs.metrics,
            "registration": register.outputs.registration}
