"""The serving entry script of every model in the kit's onnx environment: the factory's shared ONNX image scoring
script (``model_server/onnx_score.py`` in the image, ``model_server/onnx_score.py`` in the repository, one
worker: ``ORT_INTRA_OP_THREADS`` defaults to 1 there), as Azure ML's contract wants a ``score.py``."""

try:
    from model_server.onnx_score import RAW_HTTP, BadRequest, init, run  # noqa: F401
except ImportError:  # in the repository (tests, notebooks)
    from model_server.onnx_score import RAW_HTTP, BadRequest, init, run  # noqa: F401
