"""The digits scoring script: the factory's shared ONNX image scoring script (``model_server/onnx_score.py`` in
the image, ``factory/serving/onnx_score.py`` in the repository), as Azure ML's contract wants a ``score.py``."""

try:
    from model_server.onnx_score import RAW_HTTP, BadRequest, init, run  # noqa: F401
except ImportError:  # in the repository (tests, notebooks)
    from factory.serving.onnx_score import RAW_HTTP, BadRequest, init, run  # noqa: F401
