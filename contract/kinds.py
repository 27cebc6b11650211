"""The factory's small vocabularies: a decision, a model's task, its data kind and its artifact format."""

from __future__ import annotations

from enum import StrEnum


class Decision(StrEnum):
    """An approval's outcome: a person's approve or reject, or no decision before the deadline. A signed link
    carries one of ``LINK_DECISIONS``."""

    APPROVE = "approve"
    REJECT = "reject"
    TIMEOUT = "timeout"


LINK_DECISIONS: tuple[Decision, ...] = (Decision.APPROVE, Decision.REJECT)


class Task(StrEnum):
    """What a model does (``model.yaml`` ``task``)."""

    REGRESSION = "regression"
    CLASSIFICATION = "classification"
    ANOMALY = "anomaly"
    OBJECT_DETECTION = "object_detection"


class DataKind(StrEnum):
    """What a model's uploads are (``model.yaml`` ``data.kind``): a CSV table or an archive of images."""

    TABLE = "table"
    IMAGES = "images"


class ArtifactFormat(StrEnum):
    """How a trained model is stored and served (``model.yaml`` ``artifact.format``)."""

    JOBLIB = "joblib"
    ONNX = "onnx"


class Precision(StrEnum):
    """The floating-point precision an ONNX artifact was kept in (fp16 only within the model's tolerance)."""

    FP32 = "fp32"
    FP16 = "fp16"
