"""The digits training pipeline: verify_data (the kit's) -> prep -> transform -> train (ONNX fp32) -> evaluate
(fp16 or fp32) -> score -> register.

Inputs: ``data`` (the uploaded .zip, ``uri_file``), ``model_name``, ``run_id`` and the lineage strings the
register stage tags the version with. The evaluate step gets the fp16 tolerance and the key metric from
``model.yaml`` and passes on the artifact it kept; score and register take that one.
No ``from __future__ import annotations`` here: ``dsl.pipeline`` reads the annotations as types.
"""

from pathlib import Path

import yaml
from azure.ai.ml import Input, dsl

from factory.kit import stage_component

HERE = Path(__file__).parent
COMPONENTS = {stage: stage_component(HERE.parent, stage, "digits")  # verify_data and register: the kit's
              for stage in ("verify_data", "prep", "transform", "train", "evaluate", "score", "register")}
SPEC = yaml.safe_load((HERE.parent / "model.yaml").read_text(encoding="utf-8"))


@dsl.pipeline(name="digits_training", description="Digit classification: uploaded ImageFolder zip to ONNX model")
def training_pipeline(data: Input, model_name: str, run_id: str, data_uri: str = None,  # noqa: RUF013
                      data_etag: str = None, source_commit: str = None, data_sha256: str = None):  # noqa: RUF013
    verify_data = COMPONENTS["verify_data"](data=data, sha256=data_sha256)
    prep = COMPONENTS["prep"](data=verify_data.outputs.verified)
    transform = COMPONENTS["transform"](prepared=prep.outputs.prepared)
    train = COMPONENTS["train"](features=transform.outputs.features, model_name=model_name)
    evaluate = COMPONENTS["evaluate"](model=train.outputs.model, features=transform.outputs.features,
                                      fp16_tolerance=float(SPEC["artifact"]["fp16_tolerance"]),
                                      key_metric=SPEC["gate"]["metric"])
    score = COMPONENTS["score"](model=evaluate.outputs.chosen, features=transform.outputs.features)
    register = COMPONENTS["register"](model=evaluate.outputs.chosen, metrics=evaluate.outputs.metrics,
                                      scores=score.outputs.scores, model_name=model_name, run_id=run_id,
                                      data_uri=data_uri, data_etag=data_etag, source_commit=source_commit)
    return {"model": evaluate.outputs.chosen, "metrics": evaluate.outputs.metrics,
            "registration": register.outputs.registration}
